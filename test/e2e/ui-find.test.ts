/**
 * Issue 15, items 5 and 6: runs are found later (search, filters, sort, chosen columns, all kept in
 * the URL) and compared readably (labels with units, config changes as before → after, named
 * Pareto points that open their run), with no sideways scroll at any window size.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { atEveryViewport, launchBrowser, pageProblems, shot, startWeb, topiary, type WebApp } from './harness';
import { unlabelledControls } from './keyboard';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const ids: Record<string, string> = {};

/** Three short runs that differ in method, sparsity, device and tags. */
const RUNS = [
  { name: 'alpha-magnitude', args: ['--method', 'magnitude', '--sparsity', '0.5', '--profile', 'mcu-cortex-m4'], tags: ['baseline'] },
  { name: 'bravo-taylor', args: ['--method', 'taylor', '--sparsity', '0.8', '--profile', 'web-browser'], tags: ['candidate', 'kiosk'] },
  { name: 'charlie-random', args: ['--method', 'random', '--sparsity', '0.9'], tags: ['candidate'] },
];

beforeAll(async () => {
  app = await startWeb();
  for (const r of RUNS) {
    const out = await topiary(app.home, ['prune', 'demo', '--data', 'demo', '--epochs', '1', '--max-samples', '300', '--eval-limit', '200', '--no-sensitivity', '--name', r.name, ...r.args, '--json']);
    ids[r.name] = (JSON.parse(out) as { id: string }).id;
    await topiary(app.home, ['runs', 'tag', ids[r.name], ...r.tags]);
  }
  browser = await launchBrowser();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const names = async () => page.locator('[data-testid=runs-table] tbody tr td:nth-child(3)').allTextContents();
const hash = () => page.evaluate(() => decodeURIComponent(location.hash));

async function search(text: string) {
  await page.getByTestId('search').fill(text);
  await expect.poll(() => hash()).toContain(text ? `q=${text}` : '#/runs');
}

describe('finding runs later', () => {
  test('search finds runs by name and by tag, and the search is in the URL', async () => {
    await page.goto(`${app.url}#/runs`);
    await expect.poll(names, { timeout: 30_000 }).toHaveLength(3);
    await search('bravo');
    await expect.poll(names).toEqual(['bravo-taylor']);
    await search('kiosk'); // a tag only bravo has
    await expect.poll(names).toEqual(['bravo-taylor']);
    await search('candidate');
    await expect.poll(async () => (await names()).sort()).toEqual(['bravo-taylor', 'charlie-random']);
    expect(await page.getByTestId('runs-count').textContent()).toContain('2 runs match');
  });

  test('a filter that excludes everything says so and offers to clear the filters', async () => {
    await page.getByTestId('add-range').click();
    await page.getByTestId('range-0').getByLabel('value').fill('101'); // accuracy of at least 101 %
    await expect.poll(() => page.getByTestId('no-match').isVisible()).toBe(true);
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('No runs match these filters');
    expect(text).not.toContain('No runs yet');
    expect(await hash()).toContain('where=accuracy>=1.01');
    await shot(page, 'ui-find-history-nomatch-1280x900');
    await page.getByTestId('clear-filters').click();
    await expect.poll(names).toHaveLength(3);
    expect(await page.getByTestId('search').inputValue()).toBe('');
  });

  test('Back and reload restore the filters from the URL', async () => {
    await search('candidate');
    await page.getByTestId('filter-method').selectOption('taylor');
    await expect.poll(names).toEqual(['bravo-taylor']);
    await page.getByRole('link', { name: ids['bravo-taylor'].slice(0, 8) }).click();
    await expect.poll(() => page.locator('h2').first().textContent()).toContain('bravo-taylor');
    await page.goBack();
    await expect.poll(names).toEqual(['bravo-taylor']);
    expect(await page.getByTestId('search').inputValue()).toBe('candidate');
    expect(await page.getByTestId('filter-method').inputValue()).toBe('taylor');
    await page.reload();
    await expect.poll(names, { timeout: 30_000 }).toEqual(['bravo-taylor']);
    expect(await page.getByTestId('filter-method').inputValue()).toBe('taylor');
    await page.goto(`${app.url}#/runs`);
    await expect.poll(names).toHaveLength(3);
  });

  test('clicking a column header sorts by it, again reverses it; columns can be chosen', async () => {
    await page.getByTestId('sort-name').click();
    await expect.poll(names).toEqual(['alpha-magnitude', 'bravo-taylor', 'charlie-random']);
    expect(await hash()).toContain('sort=name');
    await page.getByTestId('sort-name').click();
    await expect.poll(names).toEqual(['charlie-random', 'bravo-taylor', 'alpha-magnitude']);
    await page.getByTestId('sort-sparsity').isVisible().then((v) => expect(v).toBe(false)); // not a default column
    await page.getByText('Columns').click();
    await page.getByTestId('column-picker').getByLabel('Sparsity').check();
    await page.getByTestId('add-range').click();
    expect(await unlabelledControls(page)).toEqual([]); // every filter, range and column control is labelled
    await page.getByLabel('remove this range').click();
    await page.getByText('Columns').click();
    await page.getByTestId('sort-sparsity').click(); // highest first
    const col = (await page.locator('[data-testid=runs-table] thead th').allTextContents()).findIndex((t) => t.includes('Sparsity'));
    await expect.poll(() => page.locator(`[data-testid=runs-table] tbody td:nth-child(${col + 1})`).allTextContents()).toEqual(['90.00 %', '80.00 %', '50.00 %']);
    expect(await hash()).toContain('cols=');
    await page.reload();
    await expect.poll(() => page.getByTestId('sort-sparsity').isVisible(), { timeout: 30_000 }).toBe(true);
  });

  test('History has no sideways scroll at 800x600, 1280x800 and 1920x1080', async () => {
    await page.goto(`${app.url}#/runs?cols=name,method,status,model,data,profile,accuracy,size,latency,sparsity,duration,tags,note,created`);
    await expect.poll(names, { timeout: 30_000 }).toHaveLength(3);
    const scroll = await atEveryViewport(page, 'ui-find-history');
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
  });
});

describe('comparing runs readably', () => {
  test('Compare shows human labels with units and config changes as before → after', async () => {
    await page.goto(`${app.url}#/runs?sort=name&dir=asc`);
    await expect.poll(names, { timeout: 30_000 }).toHaveLength(3);
    for (const r of RUNS) await page.getByLabel(`select run ${ids[r.name].slice(0, 8)}`, { exact: true }).check();
    await page.getByTestId('compare-selected').click();
    await expect.poll(() => page.getByTestId('metrics-compare').isVisible(), { timeout: 30_000 }).toBe(true);
    const metrics = (await page.getByTestId('metrics-compare').textContent()) ?? '';
    for (const label of ['Size (gzip)', 'Latency, batch (ms)', 'Size in memory (float32)', 'Accuracy', 'Sparsity']) expect(metrics).toContain(label);
    expect(metrics).toMatch(/\d+\.\d KiB/);
    const all = (await page.locator('main').textContent()) ?? '';
    for (const raw of ['gzipBytes', 'latencyBatchMs', 'sizeBytes']) expect(all).not.toContain(raw);
    const diff = (await page.getByTestId('config-diff').textContent()) ?? '';
    expect(diff).toContain('0.5 (50 %) → 0.8 (80 %)');
    expect(diff).toMatch(/magnitude → taylor/);
    expect(diff).not.toMatch(/[{}"]/); // no raw JSON
  });

  test('Pareto points are named, formatted and open their run on click', async () => {
    await expect.poll(() => page.getByTestId('pareto-point').count(), { timeout: 30_000 }).toBe(3);
    const chart = (await page.getByTestId('pareto-chart').textContent()) ?? '';
    for (const r of RUNS) expect(chart).toContain(r.name);
    expect(chart).toMatch(/KiB/); // size axis in KiB, not raw bytes
    expect(chart).toMatch(/\d+%/); // accuracy axis in percent
    const point = page.locator(`[data-testid=pareto-point][data-run="${ids['bravo-taylor']}"]`);
    await point.hover();
    await expect.poll(() => page.getByTestId('pareto-tip').textContent()).toMatch(/bravo-taylor: Accuracy \d+\.\d+ %, Size \(shipped file\) \d+\.\d KiB/);
    await shot(page, 'ui-find-compare-pareto-hover');
    await point.locator('circle').click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/runs/${ids['bravo-taylor']}`);
    await expect.poll(() => page.locator('h2').first().textContent()).toContain('bravo-taylor');
    await page.goBack();
    await expect.poll(() => page.getByTestId('metrics-compare').isVisible(), { timeout: 30_000 }).toBe(true);
  });

  test('Compare has no sideways scroll at 800x600, 1280x800 and 1920x1080', async () => {
    const scroll = await atEveryViewport(page, 'ui-find-compare', async () => {
      await expect.poll(() => page.getByTestId('pareto-point').count(), { timeout: 30_000 }).toBe(3);
    });
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    expect(pageProblems(page)).toEqual([]);
  });

  test('dark theme: History and Compare read on a dark background', async () => {
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      await dark.page.goto(`${app.url}#/compare?ids=${RUNS.map((r) => ids[r.name]).join(',')}`);
      await expect.poll(() => dark.page.getByTestId('pareto-point').count(), { timeout: 30_000 }).toBe(3);
      expect(await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(15, 20, 25)');
      await shot(dark.page, 'ui-find-compare-dark-1280x900');
      await dark.page.goto(`${app.url}#/runs?q=candidate`);
      await expect.poll(() => dark.page.locator('[data-testid=runs-table] tbody tr').count(), { timeout: 30_000 }).toBe(2);
      await shot(dark.page, 'ui-find-history-dark-1280x900');
    } finally {
      await dark.close();
    }
  });
});

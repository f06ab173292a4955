/**
 * Issue 15, item 4: curves that last. Two short runs made with the CLI; their training curves in
 * the run detail, in a monitor reloaded after the run ended and during a live run, and overlaid in
 * Compare with one colour per run and the step / epoch / wall-time switch; no sideways scroll at
 * any of the three window sizes; screenshots ui-curves-*.
 */
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { RunDetail } from '../../src-main/common/contract';
import { atEveryViewport, launchBrowser, modelSpec, pageProblems, shot, SHOTS, startWeb, topiary, type WebApp } from './harness';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let model: string;
const runs: { id: string; name: string }[] = [];
let liveId = '';

/** Points a chart draws (Chart.svelte's data-points), by its panel's test id. */
const points = async (testId: string) => Number(await page.getByTestId(testId).locator('[data-points]').getAttribute('data-points'));
const attr = (testId: string, name: string) => page.getByTestId(testId).locator('[data-series]').getAttribute(name);

async function api<T>(name: string, payload: unknown): Promise<T> {
  const url = new URL(app.url);
  const res = await fetch(`${url.origin}/api/${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'x-topiary-token': url.searchParams.get('token') ?? '' },
    body: JSON.stringify(payload),
  });
  const body = (await res.json()) as { result: T; error?: { message: string } };
  if (!res.ok) throw new Error(`${name}: ${body.error?.message}`);
  return body.result;
}

beforeAll(async () => {
  app = await startWeb();
  browser = await launchBrowser();
  page = browser.page;
  model = await modelSpec(app.home);
  // 2 epochs of 640 samples at batch 32: 40 steps, one curve point each.
  for (const [name, sparsity] of [['curves 50%', '0.5'], ['curves 80%', '0.8']]) {
    const out = await topiary(app.home, ['prune', model, '--data', 'demo', '--epochs', '2', '--max-samples', '640', '--batch-size', '32', '--sparsity', sparsity, '--eval-limit', '200', '--no-sensitivity', '--name', name, '--json']);
    runs.push({ id: (JSON.parse(out) as RunDetail).id, name });
  }
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

describe('curves that last', () => {
  test('run detail shows the stored curves, with a summary and the x axis switch', async () => {
    await page.goto(`${app.url}#/runs/${runs[0].id}`);
    await page.getByTestId('run-curves').waitFor({ timeout: 30_000 });
    expect(await points('curve-loss')).toBe(40);
    expect(await points('curve-accuracy')).toBe(40);
    expect(await points('curve-sparsity')).toBe(40);
    const summary = (await page.getByTestId('curve-summary').textContent()) ?? '';
    expect(summary.replace(/\u00a0/g, ' ')).toMatch(/^40 points · steps 1–40 · epoch 2 · \d+\.\d s · loss [\d.]+ → [\d.]+ · accuracy [\d.]+ % → [\d.]+ % · sparsity 50\.0 % → 50\.0 % · learning rate 0\.001 \(constant\)$/);
    expect(await page.getByTestId('curve-loss').getByRole('img').getAttribute('aria-label')).toBe('Loss by epoch');
    await page.getByTestId('run-curves').getByLabel('wall time').check();
    expect(await page.getByTestId('curve-loss').getByRole('img').getAttribute('aria-label')).toBe('Loss by wall time');
    await page.getByTestId('run-curves').getByLabel('epoch').check();
    const scroll = await atEveryViewport(page, 'ui-curves-run-detail');
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
  });

  test('a monitor of a finished run, reloaded, still shows its curves', async () => {
    await page.goto(`${app.url}#/monitor/${runs[1].id}`);
    await page.reload();
    await expect.poll(() => page.getByTestId('run-finished').textContent(), { timeout: 30_000 }).toMatch(/^Done in /);
    await expect.poll(() => points('curve-loss'), { timeout: 30_000 }).toBe(40);
    expect(await page.getByTestId('curve-summary').textContent()).toMatch(/^40 points · steps 1–40/);
    const scroll = await atEveryViewport(page, 'ui-curves-monitor');
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
  });

  test('a live monitor draws points as they arrive and keeps them across a reload', async () => {
    // Long enough that it cannot finish before the cancel below, on any machine: it is cancelled after ~a minute.
    const { runId } = await api<{ runId: string }>('startRun', {
      model, data: 'demo', name: 'curves live', evalLimit: 200, latencyRuns: 3, sensitivity: false, exports: [], receiptBudgetMs: 0,
      prune: { method: 'magnitude', sparsity: 0.5, finetune: { epochs: 100, maxSamplesPerEpoch: 4000, batchSize: 16 } },
    });
    liveId = runId;
    await page.goto(`${app.url}#/monitor/${runId}`);
    await expect.poll(() => points('curve-loss'), { timeout: 120_000 }).toBeGreaterThan(10);
    const seen = await points('curve-loss');
    expect(await page.getByTestId('run-finished').count()).toBe(0);
    await shot(page, 'ui-curves-monitor-live-1280x900');
    await page.reload();
    // The stored points first, then the live ones: none of those seen before the reload is lost.
    await expect.poll(() => points('curve-loss'), { timeout: 30_000 }).toBeGreaterThanOrEqual(seen);
    await expect.poll(() => points('curve-loss'), { timeout: 60_000 }).toBeGreaterThan(seen);
    await api('cancelRun', { runId });
    await expect.poll(() => page.getByTestId('run-finished').textContent(), { timeout: 60_000 }).toMatch(/^Cancelled after /);
    const stored = await api<RunDetail>('getRun', { runId });
    expect(stored.curves.length).toBeGreaterThan(seen);
    await expect.poll(() => points('curve-loss'), { timeout: 10_000 }).toBe(stored.curves.length);
  }, 240_000);

  test('compare overlays both runs, one colour per run in every chart, with the axis switch', async () => {
    await page.goto(`${app.url}#/compare?ids=${runs.map((r) => r.id).join(',')}`);
    await page.getByTestId('compare-curves').waitFor({ timeout: 30_000 });
    const names = runs.map((r) => r.name);
    let colors: string[] | undefined;
    for (const curve of ['loss', 'accuracy', 'sparsity']) {
      expect((await attr(`overlay-${curve}`, 'data-series'))?.split('|')).toEqual(names);
      const c = (await attr(`overlay-${curve}`, 'data-colors'))?.split('|') ?? [];
      expect(c).toHaveLength(2);
      expect(c[0]).not.toBe(c[1]);
      colors ??= c;
      expect(c).toEqual(colors);
      expect(await points(`overlay-${curve}`)).toBe(80);
    }
    const legend = page.getByTestId('compare-curves').getByRole('list', { name: 'Runs' });
    expect(await legend.textContent()).toBe(names.join(''));
    const summaries = await page.getByTestId('compare-curves').getByTestId('curve-summary').allTextContents();
    expect(summaries.map((s) => s.split(':')[0].trim())).toEqual(names);
    expect(summaries[1].replace(/\u00a0/g, ' ')).toContain('sparsity 80.0 % → 80.0 %');
    for (const [label, title] of [['step', 'Loss by step'], ['wall time', 'Loss by wall time'], ['epoch', 'Loss by epoch']]) {
      await page.getByTestId('compare-curves').getByLabel(label, { exact: true }).check();
      expect(await page.getByTestId('overlay-loss').getByRole('img').getAttribute('aria-label')).toBe(title);
      expect(await points('overlay-loss')).toBe(80);
    }
    const scroll = await atEveryViewport(page, 'ui-curves-compare');
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    // Hover values: chart.js draws the tooltip on the canvas (looked at in the screenshot).
    const canvas = page.getByTestId('overlay-loss').locator('canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6);
    await page.waitForTimeout(200);
    await page.getByTestId('compare-curves').screenshot({ path: path.join(SHOTS, 'ui-curves-compare-hover-1280x900.png') });
    // The live monitor above was opened before its run was recorded: its one "not found" is expected (it waits).
    expect(pageProblems(page).filter((p) => !(p.includes('/api/getRun') && p.includes(liveId) && p.includes('NotFoundError')))).toEqual([]);
  });

  test('compare in the dark scheme', async () => {
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      await dark.page.goto(`${app.url}#/compare?ids=${runs.map((r) => r.id).join(',')}`);
      await dark.page.getByTestId('compare-curves').waitFor({ timeout: 30_000 });
      await dark.page.getByTestId('compare-curves').getByLabel('wall time').check();
      await dark.page.waitForTimeout(200);
      await shot(dark.page, 'ui-curves-compare-dark-1280x900');
      expect(pageProblems(dark.page)).toEqual([]);
    } finally {
      await dark.close();
    }
  });
});

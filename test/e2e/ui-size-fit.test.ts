/**
 * Issue 15, items 1-3, in Chromium against web mode: the headline size is the file the run's
 * profile ships (int8 .tflite), the run says whether that file fits the device (bars against the
 * budgets, int8 beside float32, ops, what to change), and a structured run's per-layer table shows
 * widths before -> after instead of 0 % sparsity. Every screen at 800x600, 1280x800 and 1920x1080,
 * with no sideways scroll; screenshots `ui-size-fit-*`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { bytes } from '../../src-main/common/format';
import { atEveryViewport, launchBrowser, modelSpec, pageProblems, startWeb, topiary, type WebApp } from './harness';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let unstructured: { id: string; int8Bytes: number; inMemoryBytes: number };
let structured: { id: string; conv2: { before: number; after: number } };
let tight: string;

const small = ['--epochs', '1', '--max-samples', '500', '--eval-limit', '300', '--no-sensitivity', '--json'];

beforeAll(async () => {
  app = await startWeb();
  const model = await modelSpec(app.home);
  const a = JSON.parse(await topiary(app.home, ['prune', model, '--data', 'demo', '--sparsity', '0.8', '--profile', 'mobile-midrange', '--export', 'tflite:int8', '--name', 'int8 for phones', ...small]));
  const int8 = a.artifacts.find((x: { quant: string }) => x.quant === 'int8');
  unstructured = { id: a.id, int8Bytes: int8.bytes, inMemoryBytes: a.summary.after.sizeBytes };
  const s = JSON.parse(await topiary(app.home, ['prune', model, '--data', 'demo', '--granularity', 'structured', '--scope', 'layer', '--sparsity', '0.5', '--name', 'half the filters', ...small]));
  const w = s.summary.widths.conv2;
  structured = { id: s.id, conv2: { before: w.before, after: w.after } };
  // A user profile with a 100 KiB flash budget, both int8 and float32 exported: one fits, one does not.
  const profile = JSON.parse(await topiary(app.home, ['profiles', 'show', 'mobile-midrange', '--json']));
  const file = path.join(app.home, 'small-phone.json');
  fs.writeFileSync(file, JSON.stringify({ ...profile, id: 'small-phone', name: 'Small phone', builtin: false, storageBytes: 100 * 1024 }));
  await topiary(app.home, ['profiles', 'import', file]);
  tight = JSON.parse(await topiary(app.home, ['prune', model, '--data', 'demo', '--profile', 'small-phone', '--export', 'tflite:int8,tflite:none', '--name', 'small phone', ...small])).id;
  browser = await launchBrowser();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const noSideScroll = (scroll: Record<string, number>) => expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });

describe('decide from the deployed artifact', () => {
  test('run detail: the headline size is the shipped int8 file, in-memory float32 second', async () => {
    await page.goto(`${app.url}#/runs/${unstructured.id}`);
    const headline = page.getByTestId('headline-size');
    await expect.poll(() => headline.textContent(), { timeout: 30_000 }).toContain('int8 .tflite');
    expect(await page.getByTestId('headline-size-value').textContent()).toBe(bytes(unstructured.int8Bytes));
    expect(await headline.textContent()).toContain(`${bytes(unstructured.inMemoryBytes)} in memory (float32)`);
    // The before/after table leads with the shipped file's size too.
    const summary = (await page.getByTestId('run-summary').textContent()) ?? '';
    expect(summary).toContain('Size (int8 .tflite)');
    expect(summary).toContain(bytes(unstructured.int8Bytes));
    expect(summary).toContain('Size in memory (float32)');
    // The zeros pruning made, counted in the shipped file itself (issue 17), shown beside its size.
    const zeros = (await page.getByTestId('artifact-zeros').first().textContent()) ?? '';
    expect(zeros).toMatch(/^\d+\.\d+ % of weights zero in the file/);
    expect(Number(zeros.match(/^(\d+\.\d+)/)?.[1])).toBeGreaterThan(70);
  });

  test('run detail: does it fit? bars against the budgets, int8 beside float32, ops and what to change', async () => {
    const verdict = page.getByTestId('fit-verdict');
    await verdict.scrollIntoViewIfNeeded();
    expect(await verdict.locator('h3').textContent()).toMatch(/Does it fit Mid-range phone .*\?\s*Yes/);
    const files = verdict.getByTestId('fit-file');
    expect(await files.count()).toBe(2);
    const int8 = (await files.nth(0).textContent()) ?? '';
    const f32 = (await files.nth(1).textContent()) ?? '';
    expect(int8).toMatch(/int8 \.tflite\s*· shipped file\s*fits/);
    expect(f32).toMatch(/float32 \.tflite\s*· not exported \(fresh export for this check\)/);
    // Storage bar of the shipped file: its size against the 50 MiB budget.
    const storage = (await files.nth(0).getByTestId('fit-bar-storage').textContent()) ?? '';
    expect(storage).toContain(`${bytes(unstructured.int8Bytes)} of 50.00 MiB`);
    expect(await files.nth(0).getByTestId('fit-bar-ram').textContent()).toMatch(/RAM.*MiB of 256\.00 MiB.*ok/s);
    expect(await files.nth(0).getByTestId('fit-bar-latency').textContent()).toMatch(/Latency.*ms of 30\.00 ms.*ok/s);
    expect(await files.nth(0).getByRole('meter').count()).toBe(3);
    expect(await files.nth(0).getByTestId('fit-ops').textContent()).toContain('all supported');
    expect(await files.nth(0).getByTestId('fit-advice').textContent()).toMatch(/fits: nothing to change; the tightest budget is/);
    noSideScroll(await atEveryViewport(page, 'ui-size-fit-run-int8', () => page.getByTestId('fit-verdict').scrollIntoViewIfNeeded()));
  });

  test('run detail of a structured run: width before -> after, params and MACs per layer, kept chart', async () => {
    await page.goto(`${app.url}#/runs/${structured.id}`);
    const table = page.getByTestId('layer-changes');
    await expect.poll(() => page.getByRole('heading', { level: 2 }).first().textContent(), { timeout: 30_000 }).toContain('half the filters');
    await expect.poll(() => table.textContent(), { timeout: 30_000 }).toContain('conv2');
    const layerRow = (name: string) => table.locator('tr').filter({ has: page.getByRole('cell', { name, exact: true }) });
    const conv2 = layerRow('conv2');
    expect(await conv2.getByTestId('layer-width').textContent()).toBe(`${structured.conv2.before} → ${structured.conv2.after} filters`);
    expect(structured.conv2.after).toBeLessThan(structured.conv2.before);
    expect(await conv2.textContent()).toMatch(/[\d,]+ → [\d,]+.*[\d,]+ → [\d,]+/s);
    expect(await layerRow('fc1').getByTestId('layer-width').textContent()).toMatch(/^120 → \d+ units$/);
    expect(await page.getByRole('img', { name: 'Kept per layer (1 = nothing removed)' }).getAttribute('data-series')).toContain('width kept');
    // No export: the headline says so and shows the in-memory size, labelled.
    expect(await page.getByTestId('headline-size').textContent()).toContain('in-memory float32 (no export)');
    noSideScroll(await atEveryViewport(page, 'ui-size-fit-run-structured', () => table.scrollIntoViewIfNeeded()));
  });

  test('run detail: a float32 file over the flash budget is red, beside the int8 file that fits, with what to change', async () => {
    await page.goto(`${app.url}#/runs/${tight}`);
    const verdict = page.getByTestId('fit-verdict');
    await verdict.waitFor({ timeout: 30_000 });
    // The profile's preference (float16, then int8...) ships the int8 file, which fits.
    expect(await verdict.locator('h3').textContent()).toMatch(/Does it fit Small phone\?\s*Yes/);
    const f32 = verdict.getByTestId('fit-file').filter({ hasText: 'float32 .tflite' });
    expect(await f32.textContent()).toMatch(/· exported\s*does not fit/);
    expect(await f32.getByTestId('fit-bar-storage').textContent()).toMatch(/KiB of 100\.0 KiB \(\d+\.\d+ %\)\s*over/);
    expect(await f32.locator('.bad-bg').count()).toBe(1);
    expect(await f32.getByTestId('fit-advice').textContent()).toMatch(/storage: .* over the 100\.0 KiB budget: export int8/);
    noSideScroll(await atEveryViewport(page, 'ui-size-fit-run-over-budget', () => verdict.scrollIntoViewIfNeeded()));
  });

  test('History: the size column is the shipped size, labelled', async () => {
    await page.goto(`${app.url}#/runs`);
    const row = page.locator('[data-testid=runs-table] tr', { hasText: 'int8 for phones' });
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(1);
    expect(await row.getByTestId('run-size').textContent()).toBe(`${bytes(unstructured.int8Bytes)}int8 .tflite`);
    const other = page.locator('[data-testid=runs-table] tr', { hasText: 'half the filters' });
    expect(await other.getByTestId('run-size').textContent()).toContain('in-memory float32 (no export)');
    noSideScroll(await atEveryViewport(page, 'ui-size-fit-history'));
    expect(pageProblems(page)).toEqual([]);
  });
});

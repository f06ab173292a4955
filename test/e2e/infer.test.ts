/**
 * Run detail says what fine-tuned the run and what evaluated and timed it (summary.training and
 * summary.inference), on its summary line, at every window size.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { atEveryViewport, launchBrowser, modelSpec, startWeb, topiary, type WebApp } from './harness';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let run: { id: string; summary: { inference: Record<'baseline' | 'final', { evaluate: string; latency: string }>; training: { path: string }[] } };

beforeAll(async () => {
  app = await startWeb();
  const model = await modelSpec(app.home);
  run = JSON.parse(await topiary(app.home, ['prune', model, '--data', 'demo', '--sparsity', '0.5', '--epochs', '1', '--max-samples', '300', '--eval-limit', '200', '--json']));
  browser = await launchBrowser();
  page = browser.page;
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

describe('run detail: training and inference paths', () => {
  it('shows what fine-tuned, evaluated and timed the run, without sideways scroll', async () => {
    await page.goto(`${app.url}#/runs/${run.id}`);
    const line = page.getByTestId('run-paths');
    await line.waitFor();
    const text = (await line.textContent()) ?? '';
    const final = run.summary.inference.final;
    expect(text).toMatch(/^fine-tuned by .+ · inference by .+$/);
    expect(text).toContain(final.evaluate === final.latency ? `inference by ${final.evaluate}` : `evaluated by ${final.evaluate}, latency by ${final.latency}`);
    if (run.summary.training[0].path === 'native') expect(text).toContain('native graph step');
    const scroll = await atEveryViewport(page, 'infer-run-detail', () => line.waitFor());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
  }, 120_000);
});

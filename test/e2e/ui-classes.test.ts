/**
 * Item 10 of issue 15 in real Chromium against web mode: the run detail shows per-class accuracy
 * before vs after (table and bar chart, the classes hurt most marked), the confusion matrices as
 * heat-map tables, and the model graph with each layer's kept width and sparsity, original vs pruned
 * side by side, residual branches included; no sideways scroll at any of the three window sizes.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import type * as tfTypes from '@tensorflow/tfjs';
import { mostHurt } from '../../src-main/common/classes';
import type { ClassReport, ModelOutline } from '../../src-main/common/contract';
import { percent } from '../../src-main/common/format';
import { atEveryViewport, launchBrowser, modelSpec, pageProblems, shot, SHOTS, startWeb, topiary, type WebApp } from './harness';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
interface Shown { id: string; name: string; summary: { classes: ClassReport; graph: ModelOutline; before: { accuracy: number }; after: { accuracy: number } } }
let demoRun: Shown;
let residualRun: Shown;
let wideRun: Shown;

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const EVAL = 300;

/** An untrained residual CNN for 28x28x1 inputs: conv a -> conv b -> add(a, b) -> pool -> dense. */
async function residualModel(home: string): Promise<string> {
  const tf = await import('@tensorflow/tfjs');
  const { initBackend } = await import('../../src-main/node/backend');
  const { saveModel } = await import('../../src-main/node/models');
  await initBackend({ force: 'cpu' });
  const input = tf.input({ shape: [28, 28, 1] });
  const a = tf.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfTypes.SymbolicTensor;
  const b = tf.layers.conv2d({ name: 'branch', filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(a) as tfTypes.SymbolicTensor;
  const sum = tf.layers.add({ name: 'residual' }).apply([a, b]) as tfTypes.SymbolicTensor;
  const pool = tf.layers.maxPooling2d({ name: 'pool', poolSize: 4 }).apply(sum) as tfTypes.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(pool) as tfTypes.SymbolicTensor;
  const out = tf.layers.dense({ name: 'classes', units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(flat) as tfTypes.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const dir = path.join(home, 'residual');
  await saveModel(model, dir);
  model.dispose();
  return path.join(dir, 'model.json');
}

/** An untrained 40-class MLP for 28x28x1 inputs: more classes than a readable matrix (and than the demo data has). */
async function wideModel(home: string): Promise<string> {
  const tf = await import('@tensorflow/tfjs');
  const { saveModel } = await import('../../src-main/node/models');
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ name: 'hidden', units: 32, activation: 'relu', kernelInitializer: init(4) }),
      tf.layers.dense({ name: 'classes', units: 40, activation: 'softmax', kernelInitializer: init(5) }),
    ],
  });
  const dir = path.join(home, 'wide');
  await saveModel(model, dir);
  model.dispose();
  return path.join(dir, 'model.json');
}

async function prune(model: string, name: string): Promise<Shown> {
  const out = await topiary(app.home, [
    'prune', model, '--data', 'demo', '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '1',
    '--max-samples', '500', '--eval-limit', String(EVAL), '--no-sensitivity', '--name', name, '--json',
  ]);
  return JSON.parse(out) as Shown;
}

beforeAll(async () => {
  app = await startWeb();
  demoRun = await prune(await modelSpec(app.home), 'classes demo');
  residualRun = await prune(await residualModel(app.home), 'classes residual');
  wideRun = await prune(await wideModel(app.home), 'classes wide');
  browser = await launchBrowser();
  page = browser.page;
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

/** A screenshot of one section at 800x600 (the full-page shots are tall), `ui-classes-<name>-section-800x600.png`. */
async function sectionShot(page: Page, testId: string, name: string): Promise<void> {
  await page.setViewportSize({ width: 800, height: 600 });
  await page.waitForTimeout(150);
  await page.getByTestId(testId).screenshot({ path: path.join(SHOTS, `ui-classes-${name}-section-800x600.png`) });
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** Opens a run's detail and waits until it shows that run (a hash change keeps the previous run on screen a moment). */
async function openRun(p: Page, run: Shown): Promise<void> {
  await p.goto(app.url + `#/runs/${run.id}`);
  await p.locator('h2', { hasText: `Run ${run.name}` }).waitFor({ timeout: 30_000 });
}

const cellSum = (page: Page, testId: string) =>
  page.getByTestId(testId).locator('td[data-count]').evaluateAll((cells) => cells.reduce((a, c) => a + Number(c.getAttribute('data-count')), 0));

describe('per-class accuracy and confusion, before vs after', () => {
  test('the run detail lists every class by name with its before/after accuracy, the worst hurt marked', async () => {
    await openRun(page, demoRun);
    await page.getByTestId('class-accuracy').waitFor({ timeout: 30_000 });
    const c = demoRun.summary.classes;
    expect(c.labels).toEqual(FASHION);
    const rows = page.getByTestId('class-accuracy').locator('tbody tr');
    expect(await rows.count()).toBe(10);
    for (let i = 0; i < 10; i++) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      expect(cells[0]).toContain(FASHION[i]);
      expect(Number(cells[1])).toBe(c.before.support[i]);
      expect(cells[2]).toBe(percent(c.before.accuracy[i], 1));
      expect(cells[3]).toBe(percent(c.after.accuracy[i], 1));
    }
    // The supports add up to the evaluated samples, which the caption names.
    expect(c.before.support.reduce((a, b) => a + b, 0)).toBe(EVAL);
    expect(await page.getByTestId('class-accuracy').locator('caption').textContent()).toContain(`${EVAL} test samples`);
    const hurt = mostHurt(c, 3);
    const marked = await page.getByTestId('class-accuracy').locator('tr.hurt').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-class')));
    expect(marked.sort()).toEqual(hurt.map((h) => h.label).sort());
    if (hurt.length) {
      const worst = page.getByTestId('class-accuracy').locator(`tr[data-class="${hurt[0].label}"]`);
      expect(await worst.textContent()).toContain('hurt most #1');
      expect(await worst.locator('td').nth(4).textContent()).toMatch(/^−\d+\.\d pts$/);
    } else {
      await page.getByTestId('no-class-hurt').waitFor();
    }
    expect(await page.getByTestId('class-accuracy-chart').locator('canvas').count()).toBe(1);
    const scroll = await atEveryViewport(page, 'ui-classes-per-class', () => page.getByTestId('class-results').scrollIntoViewIfNeeded());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    await sectionShot(page, 'class-results', 'per-class');
    expect(pageProblems(page)).toEqual([]);
  });

  test('the confusion matrices hold every evaluated sample, after by default and both on request', async () => {
    await openRun(page, demoRun);
    const after = page.getByTestId('confusion-after');
    await after.waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('confusion-before').count()).toBe(0);
    expect(await cellSum(page, 'confusion-after')).toBe(EVAL);
    expect(await after.locator('tbody tr').count()).toBe(10);
    expect(await after.locator('tbody th').allTextContents()).toEqual(FASHION);
    // Cells show the stored counts: the diagonal of row "Trouser" is the pruned model's right answers.
    const m = demoRun.summary.classes.after.confusion!;
    const trouser = await after.locator('tbody tr').nth(1).locator('td').nth(1).textContent();
    expect(trouser).toBe(m[1][1] === 0 ? '·' : String(m[1][1]));
    await page.getByRole('button', { name: 'Both' }).click();
    await page.getByTestId('confusion-before').waitFor();
    expect(await cellSum(page, 'confusion-before')).toBe(EVAL);
    expect(await cellSum(page, 'confusion-after')).toBe(EVAL);
    const scroll = await atEveryViewport(page, 'ui-classes-confusion', () => page.getByTestId('confusion-after').scrollIntoViewIfNeeded());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    // At 800 px a matrix may scroll inside its own box, never the page.
    await page.setViewportSize({ width: 800, height: 600 });
    const box = await page.getByTestId('confusion-after').evaluate((t) => t.parentElement!.getBoundingClientRect().right);
    expect(box).toBeLessThanOrEqual(800);
    await sectionShot(page, 'class-results', 'confusion-both');
    await page.setViewportSize({ width: 800, height: 600 });
    await page.getByRole('button', { name: 'Before pruning' }).click();
    expect(await page.getByTestId('confusion-after').count()).toBe(0);
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageProblems(page)).toEqual([]);
  });
});

describe('many classes', () => {
  test('40 classes: the 30 that fell most are listed, the top mistakes replace the matrix', async () => {
    await openRun(page, wideRun);
    await page.getByTestId('class-accuracy').waitFor({ timeout: 30_000 });
    const c = wideRun.summary.classes;
    expect(c.labels).toHaveLength(40);
    // The demo data has no names for 40 classes: they are numbered.
    expect(c.labels[39]).toBe('39');
    expect(await page.getByTestId('class-accuracy').locator('tbody tr').count()).toBe(30);
    expect(await page.getByTestId('class-rows-note').textContent()).toContain('30 of 40 classes');
    // The 10 classes the data has come first; 30 of the others have no samples.
    expect(await page.getByTestId('class-rows-note').textContent()).toContain('30 classes have no test samples');
    const shown = await page.getByTestId('class-accuracy').locator('tbody tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-class')));
    expect(shown.slice(0, 10).map(Number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(await page.getByTestId('confusion-after').count()).toBe(0);
    const mistakes = page.getByTestId('mistakes').locator('tbody tr');
    expect(await mistakes.count()).toBe(c.after.mistakes.length);
    const first = c.after.mistakes[0];
    expect(await mistakes.first().locator('td').allTextContents()).toEqual([
      c.labels[first.label], c.labels[first.predicted], String(first.count), String(c.before.confusion![first.label][first.predicted]),
    ]);
    const scroll = await atEveryViewport(page, 'ui-classes-many', () => page.getByTestId('class-results').scrollIntoViewIfNeeded());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    await sectionShot(page, 'class-results', 'many');
    expect(pageProblems(page)).toEqual([]);
  });
});

describe('graph view of the model, original vs pruned', () => {
  test('every layer in graph order with its kind, kept width and sparsity', async () => {
    await openRun(page, demoRun);
    const graph = page.getByTestId('model-graph');
    await graph.waitFor({ timeout: 30_000 });
    const nodes = demoRun.summary.graph.nodes;
    const rows = graph.locator('tbody tr');
    expect(await rows.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-layer')))).toEqual(nodes.map((n) => n.name));
    for (const [i, n] of nodes.entries()) {
      const cells = await rows.nth(i).locator('td').allTextContents();
      expect(cells[1]).toBe(n.className);
      expect(cells[2]).toBe(String(n.widthBefore));
      expect(cells[5]).toBe(String(n.widthAfter));
    }
    // Structured pruning at 0.5 narrowed the hidden convolutions; the 10-class output kept its width.
    const conv2 = nodes.find((n) => n.name === 'conv2')!;
    expect(conv2.widthAfter!).toBeLessThan(conv2.widthBefore!);
    expect(await graph.locator('tr[data-layer="conv2"] td.bar').textContent()).toContain(percent(conv2.widthAfter! / conv2.widthBefore!, 0, ''));
    expect(await graph.locator('tr[data-layer="fc3"] [data-testid=kept-width]').textContent()).toBe('10');
    const scroll = await atEveryViewport(page, 'ui-classes-graph', () => graph.scrollIntoViewIfNeeded());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    await sectionShot(page, 'model-graph', 'graph');
    // At 800 px the whole graph table fits its box: nothing hidden behind a scroll.
    await page.setViewportSize({ width: 800, height: 600 });
    expect(await graph.locator('.scroll').evaluate((d) => d.scrollWidth - d.clientWidth)).toBe(0);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test('a residual model shows its branch indented and the Add naming both inputs', async () => {
    await openRun(page, residualRun);
    const graph = page.getByTestId('model-graph');
    await graph.waitFor({ timeout: 30_000 });
    expect(await graph.locator('tbody tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-layer')))).toEqual(['stem', 'branch', 'residual', 'pool', 'flat', 'classes']);
    const add = graph.locator('tr[data-layer="residual"]');
    expect(await add.textContent()).toContain('joins stem + branch');
    // The branch layer runs beside the skip connection: one lane; the main path has none.
    expect(await graph.locator('tr[data-layer="branch"] .lane').count()).toBe(1);
    expect(await graph.locator('tr[data-layer="stem"] .lane').count()).toBe(0);
    const stem = residualRun.summary.graph.nodes[0];
    expect(await graph.locator('tr[data-layer="stem"] [data-testid=kept-width]').textContent()).toBe(String(stem.widthAfter));
    expect(stem.widthAfter!).toBeLessThan(8);
    const scroll = await atEveryViewport(page, 'ui-classes-graph-residual', () => graph.scrollIntoViewIfNeeded());
    expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
    await sectionShot(page, 'model-graph', 'graph-residual');
    expect(pageProblems(page)).toEqual([]);
  });

  test('dark mode reads the same', async () => {
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      await openRun(dark.page, demoRun);
      await dark.page.getByTestId('confusion-after').waitFor({ timeout: 30_000 });
      await dark.page.getByTestId('class-results').scrollIntoViewIfNeeded();
      expect(await cellSum(dark.page, 'confusion-after')).toBe(EVAL);
      await shot(dark.page, 'ui-classes-dark-1280x900');
      await dark.page.getByTestId('class-results').screenshot({ path: path.join(SHOTS, 'ui-classes-dark-classes-section-1280x900.png') });
      await dark.page.getByTestId('model-graph').screenshot({ path: path.join(SHOTS, 'ui-classes-dark-graph-section-1280x900.png') });
    } finally {
      await dark.close();
    }
  });
});

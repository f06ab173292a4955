/**
 * The CLI on nested models (a Teachable-Machine-shaped Sequential of Sequentials) and on pruning
 * requests that cannot do what they ask: such runs are recorded as failed, never `done`.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src-main/node/models';
import { handFlattened, teachableMachineModel } from '../fixtures/nested-models';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-nested-cli-'));

const topiary = cliIn(home, 120_000);

/** A CSV of `n` rows of `features` values in [-1, 1) and labels 0..classes-1. */
function writeCsv(file: string, features: number, n: number, classes: number): void {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const rows = [[...Array.from({ length: features }, (_, i) => `f${i}`), 'label'].join(',')];
  for (let r = 0; r < n; r++) rows.push([...Array.from({ length: features }, () => rand().toFixed(3)), String(r % classes)].join(','));
  fs.writeFileSync(file, rows.join('\n') + '\n');
}

const run = (id: string) => JSON.parse(topiary(['runs', 'show', id, '--json']).stdout);
const lastRun = () => JSON.parse(topiary(['runs', 'list', '--json']).stdout).items[0];

describe('topiary CLI: nested models', () => {
  beforeAll(async () => {
    const nested = teachableMachineModel();
    await saveModel(nested, path.join(home, 'tm'));
    await saveModel(handFlattened(nested), path.join(home, 'hand'));
    writeCsv(path.join(home, 'images.csv'), 32 * 32 * 3, 30, 3);

    // Nothing structurally prunable: the only Dense feeds the model output.
    await saveModel(tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax', name: 'out' })] }), path.join(home, 'fixed'));
    writeCsv(path.join(home, 'four.csv'), 4, 30, 3);

    // One tiny prunable group beside a large fixed path: halving it cuts params by ~20%, under half of 50%.
    const x = tf.input({ shape: [50], name: 'x' });
    const small = tf.layers.dense({ units: 2, activation: 'relu', name: 'small' }).apply(x) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([x, small]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(cat) as tf.SymbolicTensor;
    await saveModel(tf.model({ inputs: x, outputs: out }), path.join(home, 'short'));
    writeCsv(path.join(home, 'fifty.csv'), 50, 30, 3);
  });

  it('analyze --json lists every nested layer with where it came from, and the peak memory of the flat graph', () => {
    const nested = topiary(['analyze', path.join(home, 'tm'), '--json']);
    const hand = topiary(['analyze', path.join(home, 'hand'), '--json']);
    expect(nested.code, nested.stderr).toBe(0);
    const a = JSON.parse(nested.stdout);
    const h = JSON.parse(hand.stdout);
    expect(a.analysis.layers.length).toBe(h.analysis.layers.length);
    expect(a.analysis.layers.length).toBe(35);
    expect(a.analysis.layers.find((l: { name: string }) => l.name === 'Conv1').source).toBe('sequential_1/mobilenet/Conv1');
    expect(a.nesting.dense_Dense2).toBe('sequential_3/dense_Dense2');
    expect(Math.abs(a.analysis.peakActivationBytes - h.analysis.peakActivationBytes)).toBeLessThanOrEqual(0.1 * h.analysis.peakActivationBytes);
    expect(a.analysis.macs).toBe(h.analysis.macs);
    // Flattening makes a functional model; the report still names the class the file held.
    expect(a.analysis.className).toBe('Sequential');
  });

  it('structured pruning of the nested model removes channels through the residual Adds', () => {
    const r = topiary(['prune', path.join(home, 'tm'), '--data', `csv:${path.join(home, 'images.csv')}`, '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '0', '--no-sensitivity', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.status).toBe('done');
    expect(d.summary.after.params).toBeLessThan(0.6 * d.summary.before.params);
    expect(d.summary.after.macs).toBeLessThan(0.6 * d.summary.before.macs);
    const producers = d.plan.steps[0].groups.map((g: { producers: string[] }) => g.producers.join('+'));
    expect(producers).toContain('Conv1+expanded_conv_project');
    // The run record keeps the model's nesting and its outer class, not the flat copy's `Model`.
    const meta = run(d.id).model.meta;
    expect(meta.className).toBe('Sequential');
    expect(meta.nesting.Conv1).toBe('sequential_1/mobilenet/Conv1');
    expect(meta.nesting.dense_Dense2).toBe('sequential_3/dense_Dense2');
  });

  it('structured pruning of a model with no prunable channel group fails up front (exit 2), recorded as failed', () => {
    const r = topiary(['prune', path.join(home, 'fixed'), '--data', `csv:${path.join(home, 'four.csv')}`, '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/structured pruning found no prunable channel group: every group is fixed — /);
    expect(r.stderr).toMatch(/feeds model output "out"/);
    const rec = run(lastRun().id);
    expect(rec.status).toBe('failed');
    expect(rec.error).toMatch(/NothingToPruneError|no prunable channel group/);
    // Refused before measuring or training: no final metrics were recorded.
    expect(rec.summary?.after ?? null).toBeNull();
  });

  it('structured pruning that reaches under half of its target fails (exit 1) and says why', () => {
    const r = topiary(['prune', path.join(home, 'short'), '--data', `csv:${path.join(home, 'fifty.csv')}`, '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '0', '--no-sensitivity']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/structured pruning fell far short of its target/);
    expect(r.stderr).toMatch(/params 261 -> 207/);
    expect(lastRun().status).toBe('failed');
  });
});

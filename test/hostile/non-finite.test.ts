/**
 * Class 5 of issue 14: non-finite numbers. A model with Inf weights ran to `done` at 15 % accuracy
 * and the CLI then crashed with a TypeError; NaN pixels in training data took accuracy from 91.7 %
 * to 20 % with exit 0. Weights and samples are checked at load (named error, exit 2); a fine-tuning
 * whose loss turns NaN or explodes stops, keeps the best weights and is recorded as failed; and no
 * formatter throws on a NaN/Inf that came back from JSON as null.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatasetFormatError, ModelFormatError } from '../../src-main/common/errors';
import { beforeAfter } from '../../src-main/cli/format';
import { loadDataset } from '../../src-main/node/datasets';
import { loadModel } from '../../src-main/node/models';
import { openStore } from '../../src-main/store/db';
import { npyF32, npyU8, npzBytes } from '../unit/node/datasets/fixtures';
import { seedModelAndDataset } from '../unit/store/helpers';
import { root, tempDir, topiary } from './helpers';

const FAST = ['--no-sensitivity', '--eval-limit', '50', '--sparsity', '0.5'];

function runs(home: string): { status: string; error: string | null }[] {
  const r = topiary(home, ['runs', 'list', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).items;
}

/** A copy of the demo model with `value` written into float `index` of its (only) shard. */
function demoModelWith(value: number, index: number): string {
  const dir = path.join(tempDir('topiary-hostile-nonfinite-'), 'model');
  fs.cpSync(path.join(root, 'resources', 'demo', 'model'), dir, { recursive: true });
  const shard = path.join(dir, 'group1-shard1of1.bin');
  const bytes = fs.readFileSync(shard);
  bytes.writeFloatLE(value, index * 4);
  fs.writeFileSync(shard, bytes);
  return dir;
}

/** 28x28x1 float samples in [0, 1] with a NaN in sample `badSample` of x_train (when given). */
function npzDataset(badSample?: number): string {
  const n = 120;
  const x = new Float32Array(n * 784).map((_, i) => ((i * 7919) % 256) / 255);
  if (badSample !== undefined) x[badSample * 784 + 300] = Number.NaN;
  const y = Array.from({ length: n }, (_, i) => i % 10);
  const file = path.join(tempDir('topiary-hostile-nan-data-'), 'pixels.npz');
  fs.writeFileSync(file, npzBytes({
    x_train: npyF32([n, 28, 28, 1], x), y_train: npyU8([n], y),
    x_test: npyF32([40, 28, 28, 1], x.subarray(0, 40 * 784)), y_test: npyU8([40], y.slice(0, 40)),
  }));
  return file;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('non-finite weights are refused at load', () => {
  it('prune on a model with an Infinity weight: ModelFormatError naming file, weight and layer, exit 2, no run', () => {
    const dir = demoModelWith(Number.POSITIVE_INFINITY, 7);
    const home = tempDir('topiary-hostile-home-');
    const r = topiary(home, ['prune', dir, '--data', 'demo', '--epochs', '0', ...FAST]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/ModelFormatError: .*model\.json: weight conv1\/kernel \(layer conv1\) holds 1 non-finite value\(s\) of 150, the first Infinity at index 7/);
    expect(r.stderr).not.toMatch(/TypeError/);
    expect(runs(home)).toEqual([]);
  });

  it('a NaN anywhere (here a bias of a later layer) is found the same way, in one pass over each tensor', async () => {
    // conv1: 150 + 6 floats, conv2/kernel: 2400 floats; 2556 is conv2/bias[0].
    const dir = demoModelWith(Number.NaN, 2556);
    const before = tf.memory().numTensors;
    const err = await loadModel(dir).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect((err as Error).message).toMatch(/weight conv2\/bias \(layer conv2\) holds 1 non-finite value\(s\) of 16, the first NaN at index 0/);
    // The refused model is freed.
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('non-finite samples are refused at load', () => {
  it('prune with NaN pixels in x_train: DatasetFormatError naming the member and the sample, exit 2, no run', () => {
    const home = tempDir('topiary-hostile-home-');
    const file = npzDataset(17);
    const r = topiary(home, ['prune', 'demo', '--data', `npz:${file}`, '--epochs', '1', ...FAST]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/DatasetFormatError: .*pixels\.npz:x_train\.npy: sample 17 holds NaN \(value 300 of 784\)/);
    expect(runs(home)).toEqual([]);
  });

  it('the same data without the NaN loads', async () => {
    const ds = await loadDataset(`npz:${npzDataset()}`);
    expect(ds.train.size).toBe(120);
    await expect(loadDataset(`npz:${npzDataset(3)}`)).rejects.toThrow(DatasetFormatError);
  });
});

describe('a diverging fine-tuning stops and is recorded as failed', () => {
  it('an exploding loss (--lr 1000) stops training, keeps finite best weights, records the run failed with why', async () => {
    const home = tempDir('topiary-hostile-home-');
    const r = topiary(home, ['prune', 'demo', '--data', 'demo', '--epochs', '1', '--max-samples', '640', '--lr', '1000', ...FAST]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/training diverged at epoch 1, batch \d+ \(step \d+\): the loss exploded: above 5x its starting value/);
    expect(r.stderr).not.toMatch(/TypeError/);
    const list = runs(home);
    expect(list).toHaveLength(1);
    expect(list[0].status).toBe('failed');
    expect(list[0].error).toMatch(/training diverged/);
    // The best weights seen (here: from before fine-tuning, masks applied) are kept in the run folder.
    const id = (list[0] as unknown as { id: string }).id;
    const kept = await loadModel(path.join(home, 'runs', id, 'model'));
    try {
      const kernel = kept.model.getLayer('conv2').getWeights()[0].dataSync();
      expect(kernel.filter((v) => v === 0).length / kernel.length).toBeGreaterThan(0.3);
    } finally {
      kept.model.dispose();
    }
    const show = topiary(home, ['runs', 'show', id]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/status {4}failed: .*training diverged/);
  });
});

describe('formatters take NaN and Infinity (null after JSON) without throwing', () => {
  it('runs show on a run whose summary holds NaN/Infinity prints "-" instead of crashing', () => {
    const home = tempDir('topiary-hostile-home-');
    const store = openStore(path.join(home, 'topiary.db'));
    const { modelId } = seedModelAndDataset(store);
    const id = store.writer.createRun({ config: { model: 'demo' }, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
    store.writer.setSummary(id, { before: { accuracy: 0.9, loss: Number.POSITIVE_INFINITY }, after: { accuracy: Number.NaN, loss: Number.NaN } });
    store.writer.setRunStatus(id, 'failed', 'DivergenceError: the loss became NaN');
    store.close();
    const r = topiary(home, ['runs', 'show', id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/TypeError/);
    expect(r.stdout).toMatch(/loss\s+-\s+NaN/);
  });

  it('the before/after table prints "-" for null, NaN and Infinity', () => {
    const text = beforeAfter({ accuracy: 0.9, loss: null, params: 10 }, { accuracy: Number.NaN, loss: Number.POSITIVE_INFINITY, params: null });
    expect(text).toMatch(/accuracy\s+90\.00 %\s+-\s+-/);
    expect(text).toMatch(/loss\s+-\s+-\s+-/);
    expect(text).toMatch(/parameters\s+10\s+-\s+-/);
  });
});

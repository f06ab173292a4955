import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { sensitivityScan } from '../../../../src-main/engine/analyze/sensitivity';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import { mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('sensitivityScan', () => {
  it('returns one row per layer and sparsity, restores the weights and leaks nothing', async () => {
    const data = syntheticDataset([16], 3, 8, 200);
    const model = mlp();
    // A model does not own an optimizer instance it was compiled with: the test frees it.
    const optimizer = tf.train.adam(0.05);
    model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy' });
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    const start = tf.memory().numTensors;
    const report = await sensitivityScan(model, data.test, { sparsities: [0, 0.5, 0.95] });
    expect(tf.memory().numTensors).toBe(start);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    expect(report.rows.map((r) => `${r.layer}@${r.sparsity}`)).toEqual([
      'fc1@0', 'fc1@0.5', 'fc1@0.95', 'fc2@0', 'fc2@0.5', 'fc2@0.95', 'out@0', 'out@0.5', 'out@0.95',
    ]);
    const base = evaluateModel(model, data.test).accuracy;
    expect(report.baseline.accuracy).toBe(base);
    // Zero sparsity changes nothing; a row's drop is baseline minus its accuracy.
    for (const r of report.rows) {
      if (r.sparsity === 0) expect(r.accuracy).toBe(base);
      expect(r.drop).toBeCloseTo(base - r.accuracy, 12);
    }
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    model.dispose();
    optimizer.dispose();
  });

  it('measures the layer it prunes: pruning 95% of the output layer changes the loss', async () => {
    const data = syntheticDataset([16], 3, 8, 100);
    const model = mlp();
    const report = await sensitivityScan(model, data.test, { sparsities: [0.95], layers: ['out'] });
    expect(report.rows).toHaveLength(1);
    expect(report.rows[0].loss).not.toBe(report.baseline.loss);
    await expect(sensitivityScan(model, data.test, { sparsities: [1] })).rejects.toBeInstanceOf(ConfigError);
    await expect(sensitivityScan(model, data.test, { layers: ['nope'] })).rejects.toThrow(/layer "nope"/);
    model.dispose();
  });

  it('reports its real total before the first evaluation, then one step per evaluation', async () => {
    const data = syntheticDataset([16], 3, 8, 50);
    const model = mlp();
    const calls: [number, number][] = [];
    await sensitivityScan(model, data.test, { sparsities: [0.3, 0.6], onProgress: (done, total) => calls.push([done, total]) });
    expect(calls).toEqual([[0, 6], [1, 6], [2, 6], [3, 6], [4, 6], [5, 6], [6, 6]]);
    model.dispose();
  });
});

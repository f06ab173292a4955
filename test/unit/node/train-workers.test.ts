import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError } from '../../../src-main/common/errors';
import { finetuneMasked, setDefaultGradientShards } from '../../../src-main/engine/finetune/trainer';
import { validatePruneConfig } from '../../../src-main/engine/prune/config';
import type { FinetuneConfig } from '../../../src-main/engine/prune/types';
import { pruneUnstructured } from '../../../src-main/engine/prune/unstructured';
import { initBackend } from '../../../src-main/node/backend';
import { installTrainWorkersFromEnv, workerGradientShards } from '../../../src-main/node/train-workers';
import { convnet, disposeAll, mlp, syntheticDataset } from '../engine/prune/fixtures';

beforeAll(async () => {
  await initBackend({ force: 'cpu' });
});

afterEach(() => setDefaultGradientShards(undefined));

const weightsOf = (m: tf.LayersModel) => m.trainableWeights.map((w) => Array.from(w.read().dataSync()));

function maxDiff(a: number[][], b: number[][]): number {
  let d = 0;
  a.forEach((w, i) => w.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i][j])))));
  return d;
}

describe('data-parallel training on worker threads', () => {
  it('gives the same weights as one thread after several Adam steps on a masked conv net', async () => {
    // 22-sample batches split 8/7/7 over three threads; the last batch of each epoch is smaller (10).
    const data = syntheticDataset([6, 6, 4], 3, 54, 8);
    const cfg: FinetuneConfig = { epochs: 2, batchSize: 22, learningRate: 0.01, optimizer: 'adam' };
    const run = async (threads: number) => {
      const model = convnet();
      const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.5, scope: 'layer' }, model));
      const losses: number[] = [];
      const res = await finetuneMasked(model, data.train, cfg, {
        masks,
        seed: 3,
        gradientShards: workerGradientShards(threads),
        onProgress: (p) => p.phase === 'batch' && losses.push(p.loss),
      });
      const w = weightsOf(model);
      disposeAll(masks);
      model.dispose();
      return { w, losses, res };
    };
    const start = tf.memory().numTensors;
    const alone = await run(1);
    const parallel = await run(3);
    expect(alone.res.parallel.shards).toBe(1);
    expect(parallel.res.parallel).toEqual({ shards: 3 });
    expect(parallel.res.steps).toBe(6);
    // The runs must have moved the weights for the comparison to mean anything.
    const fresh = convnet();
    expect(maxDiff(alone.w, weightsOf(fresh))).toBeGreaterThan(1e-3);
    fresh.dispose();
    expect(maxDiff(parallel.w, alone.w)).toBeLessThan(1e-4);
    parallel.losses.forEach((l, i) => expect(l).toBeCloseTo(alone.losses[i], 4));
    expect(tf.memory().numTensors).toBe(start);
  }, 60_000);

  it('is the default for finetuneMasked once TOPIARY_TRAIN_WORKERS is installed', async () => {
    expect(installTrainWorkersFromEnv({ TOPIARY_TRAIN_WORKERS: '2' })).toBe(2);
    const data = syntheticDataset([16], 3, 32, 8);
    const model = mlp();
    const res = await finetuneMasked(model, data.train, { epochs: 1, batchSize: 16, learningRate: 0.01, optimizer: 'sgd' }, { masks: new Map() });
    expect(res.parallel.shards).toBe(2);
    model.dispose();
  }, 60_000);

  it('cancels between data-parallel steps with CancelledError, leaking no tensors', async () => {
    const data = syntheticDataset([16], 3, 96, 8);
    const model = mlp();
    const start = tf.memory().numTensors;
    const ctrl = new AbortController();
    let batches = 0;
    const run = finetuneMasked(model, data.train, { epochs: 3, batchSize: 16, learningRate: 0.01, optimizer: 'adam' }, {
      masks: new Map(),
      signal: ctrl.signal,
      gradientShards: workerGradientShards(2),
      onProgress: (p) => p.phase === 'batch' && ++batches === 2 && ctrl.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(batches).toBe(2);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  }, 60_000);

  it('trains in one thread, saying why, when the model has BatchNorm statistics', async () => {
    const data = syntheticDataset([16], 3, 32, 8);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 8, inputShape: [16] }), tf.layers.batchNormalization(), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    const res = await finetuneMasked(model, data.train, { epochs: 1, batchSize: 16, learningRate: 0.01, optimizer: 'adam' }, { masks: new Map(), gradientShards: workerGradientShards(2) });
    expect(res.parallel.shards).toBe(1);
    expect(res.parallel.note).toMatch(/non-trainable weights/);
    model.dispose();
  });

  it('rejects a bad TOPIARY_TRAIN_WORKERS with a ConfigError naming the variable', () => {
    expect(() => installTrainWorkersFromEnv({ TOPIARY_TRAIN_WORKERS: 'two' })).toThrow(ConfigError);
    expect(() => installTrainWorkersFromEnv({ TOPIARY_TRAIN_WORKERS: '0' })).toThrow(/TOPIARY_TRAIN_WORKERS must be an integer from 1 to 32, got "0"/);
    expect(installTrainWorkersFromEnv({})).toBe(1);
  });
});

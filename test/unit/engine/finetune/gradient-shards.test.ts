import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { shardRanges, type GradientShards, type GradientShardsFactory, type ShardResult } from '../../../../src-main/engine/finetune/gradient-shards';
import { crossEntropy, logitsOf } from '../../../../src-main/engine/finetune/loss';
import { finetuneMasked } from '../../../../src-main/engine/finetune/trainer';
import type { FinetuneConfig } from '../../../../src-main/engine/prune/types';
import { mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Helpers in this thread: a second copy of the model, loaded with the trainer's weights each step. */
function inProcessShards(helpers: number, log: { scales: number[] }): GradientShardsFactory {
  return async () => {
    const replica = mlp(99);
    const shards: GradientShards = {
      helpers,
      compute: async (weights, parts) =>
        parts.map((s): ShardResult => {
          log.scales.push(s.scale);
          const n = s.y.length;
          if (n === 0) return { grads: [], loss: 0, correct: 0, n };
          tf.tidy(() => replica.trainableWeights.forEach((w, i) => w.write(tf.tensor(weights[i], w.shape as number[]))));
          return tf.tidy(() => {
            const x = tf.tensor2d(s.x, [n, 16]);
            const y = tf.tensor1d(s.y, 'int32');
            const vars = replica.trainableWeights.map((w) => w.read() as tf.Variable);
            const { value, grads } = tf.variableGrads(() => tf.mul(crossEntropy(logitsOf(replica, x, true), y), s.scale) as tf.Scalar, vars);
            return { grads: vars.map((v) => grads[v.name].dataSync() as Float32Array), loss: value.dataSync()[0] / s.scale, correct: 0, n };
          });
        }),
      dispose: async () => {
        replica.dispose();
      },
    };
    return shards;
  };
}

describe('shardRanges', () => {
  it('splits evenly with the larger shards first and covers every sample once', () => {
    expect(shardRanges(10, 3)).toEqual([
      [0, 4],
      [4, 7],
      [7, 10],
    ]);
    expect(shardRanges(2, 4)).toEqual([
      [0, 1],
      [1, 2],
      [2, 2],
      [2, 2],
    ]);
  });
});

describe('finetuneMasked with gradient shards', () => {
  const cfg: FinetuneConfig = { epochs: 2, batchSize: 20, learningRate: 0.02, optimizer: 'adam' };

  it('matches single-threaded training when shards are weighted by their size', async () => {
    const data = syntheticDataset([16], 3, 50, 8);
    const start = tf.memory().numTensors;
    const alone = mlp();
    const a = await finetuneMasked(alone, data.train, cfg, { masks: new Map(), seed: 5 });
    const split = mlp();
    const log = { scales: [] as number[] };
    const b = await finetuneMasked(split, data.train, cfg, { masks: new Map(), seed: 5, gradientShards: inProcessShards(2, log) });
    expect(b.parallel).toEqual({ shards: 3 });
    // Batches of 20, 20, 10: helpers get 7/20, 6/20 and then 3/10, 3/10 of the loss.
    expect(log.scales.slice(0, 6).map((s) => +s.toFixed(4))).toEqual([0.35, 0.3, 0.35, 0.3, 0.3, 0.3]);
    alone.trainableWeights.forEach((w, i) => {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(w.read(), split.trainableWeights[i].read()))).dataSync()[0]);
      expect(diff).toBeLessThan(1e-5);
    });
    a.history.forEach((h, i) => expect(b.history[i].loss).toBeCloseTo(h.loss, 5));
    alone.dispose();
    split.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('trains alone, saying why, when distilling', async () => {
    const data = syntheticDataset([16], 3, 20, 8);
    const teacher = mlp(11);
    const student = mlp();
    const res = await finetuneMasked(student, data.train, { ...cfg, epochs: 1, distill: { temperature: 2, alpha: 0.5 } }, {
      masks: new Map(),
      teacher,
      gradientShards: inProcessShards(1, { scales: [] }),
    });
    expect(res.parallel.shards).toBe(1);
    expect(res.parallel.note).toMatch(/distillation/);
    teacher.dispose();
    student.dispose();
  });
});

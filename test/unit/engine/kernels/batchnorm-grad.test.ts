import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerBatchNormGradient } from '../../../../src-main/engine/kernels/batchnorm-grad';
import { maxAbsDiff, randomValues } from './compare';

beforeAll(async () => {
  await tf.setBackend('cpu');
  registerBatchNormGradient();
});

const t = (shape: number[], seed: number, lo = -1) => tf.tensor(Float32Array.from(randomValues(shape.reduce((a, b) => a * b, 1), seed), (v) => (lo < 0 ? v : Math.abs(v) + lo)), shape);

describe('FusedBatchNorm gradient without tiles', () => {
  for (const [label, xShape, statShape] of [
    ['NHWC with per-channel statistics', [3, 4, 5, 6], [6]],
    ['2-D input', [7, 5], [5]],
    ['statistics of the input rank', [2, 3, 3, 4], [1, 1, 1, 4]],
  ] as [string, number[], number[]][]) {
    it(`equals autodiff of (x - mean) / sqrt(var + eps) * scale + offset: ${label}`, () => {
      const start = tf.memory().numTensors;
      const x = t(xShape, 1);
      const mean = t(statShape, 2);
      const variance = t(statShape, 3, 0.2);
      const scale = t(statShape, 4);
      const offset = t(statShape, 5);
      const dy = t(xShape, 6);
      const eps = 1e-3;
      const viaKernel = tf.grads((a, m, v, s, o) => tf.batchNorm(a, m, v, o, s, eps));
      const viaOps = tf.grads((a, m, v, s, o) => tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, eps))), s), o));
      const ours = viaKernel([x, mean, variance, scale, offset], dy);
      const ref = viaOps([x, mean, variance, scale, offset], dy);
      ours.forEach((g, i) => {
        expect(g.shape).toEqual(ref[i].shape);
        expect(maxAbsDiff(g.dataSync() as Float32Array, ref[i].dataSync() as Float32Array)).toBeLessThan(1e-4);
        expect(Math.max(...Array.from(g.dataSync(), Math.abs))).toBeGreaterThan(0);
      });
      tf.dispose([x, mean, variance, scale, offset, dy, ...ours, ...ref]);
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  it('does not run a Tile kernel', async () => {
    const x = t([4, 6, 6, 8], 1);
    const stats = [t([8], 2), t([8], 3, 0.2), t([8], 4), t([8], 5)];
    const profile = await tf.profile(() => {
      const g = tf.grads((a: tf.Tensor) => tf.batchNorm(a, stats[0], stats[1], stats[3], stats[2], 1e-3))([x]);
      tf.dispose(g);
    });
    expect(profile.kernels.map((k) => k.name)).not.toContain('Tile');
    tf.dispose([x, ...stats]);
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fakeQuantActivation, fakeQuantWeight, kernelChannels } from '../../../../src-main/engine/finetune/fake-quant';
import { affineParams, quantizePerChannel } from '../../../../src-main/engine/export/tflite/quantize';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('fakeQuantWeight', () => {
  it('lands on the same per-channel int8 grid the TF Lite export writes, zeros kept exactly', () => {
    const start = tf.memory().numTensors;
    // A Dense kernel [in 5, out 3] (tfjs layout); the export stores it [out, in] with scales on dim 0.
    const values = Float32Array.from([0.3, -0.02, 0, 1.7, 0.011, -0.5, 0, 0.25, 0, -1.2, 0.4, 0.9, 0.05, 0, 0.33]);
    const w = tf.tensor2d(values, [5, 3]);
    const fq = tf.tidy(() => fakeQuantWeight(w, kernelChannels(w.shape)).dataSync());
    const transposed = tf.tidy(() => tf.transpose(w).dataSync() as Float32Array);
    const { q, scales } = quantizePerChannel({ name: 'k', shape: [3, 5], dtype: 'float32', value: transposed, channelAxis: 0 });
    for (let i = 0; i < 5; i++) {
      for (let c = 0; c < 3; c++) expect(fq[i * 3 + c]).toBeCloseTo(q[c * 5 + i] * scales[c], 6);
    }
    for (let i = 0; i < values.length; i++) if (values[i] === 0) expect(fq[i]).toBe(0);
    // Quantizing again changes nothing (a round trip onto the grid).
    const again = tf.tidy(() => fakeQuantWeight(tf.tensor2d(fq, [5, 3]), 3).dataSync());
    for (let i = 0; i < fq.length; i++) expect(again[i]).toBeCloseTo(fq[i], 6);
    w.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('per tensor uses one scale, max|w| / 127', () => {
    const w = tf.tensor1d([0.5, -1.27, 0.004]);
    const fq = tf.tidy(() => fakeQuantWeight(w, 1).dataSync());
    expect(fq[1]).toBeCloseTo(-1.27, 6);
    expect(fq[0]).toBeCloseTo(Math.round(0.5 / 0.01) * 0.01, 6);
    expect(fq[2]).toBe(0);
    w.dispose();
  });

  it('passes the gradient straight through (STE)', () => {
    const w = tf.tensor2d([[0.3, -0.7], [0.01, 0.2]]);
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(fakeQuantWeight(x, 2), tf.tensor2d([[1, 2], [3, 4]]))))(w).dataSync());
    expect(Array.from(g)).toEqual([1, 2, 3, 4]);
    w.dispose();
  });
});

describe('fakeQuantActivation', () => {
  it('rounds to the affine grid of [min, max] the export derives, clips outside it', () => {
    const p = affineParams(-0.5, 2);
    const x = tf.tensor1d([-3, -0.5, 0, 0.123, 1.999, 5]);
    const y = tf.tidy(() => fakeQuantActivation(x, [-0.5, 2]).dataSync());
    const s = p.scale[0];
    const zp = p.zeroPoint[0];
    const expected = [-3, -0.5, 0, 0.123, 1.999, 5].map((v) => s * (Math.max(-128, Math.min(127, Math.round(v / s) + zp)) - zp));
    for (let i = 0; i < expected.length; i++) expect(y[i]).toBeCloseTo(expected[i], 5);
    expect(y[2]).toBe(0);
    x.dispose();
  });

  it('a range function gets the batch min/max and its answer is used', () => {
    const x = tf.tensor1d([-1, 0.5, 3]);
    let seen: [number, number] | undefined;
    const y = tf.tidy(() => fakeQuantActivation(x, (b) => ((seen = b), [0, 1])).dataSync());
    expect(seen).toEqual([-1, 3]);
    expect(y[0]).toBe(0);
    expect(y[2]).toBeCloseTo(1, 6);
    x.dispose();
  });

  it('gradient is 1 inside the range and 0 where the value was clipped', () => {
    const x = tf.tensor1d([-3, 0.1, 1, 7]);
    const g = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(fakeQuantActivation(v, [-1, 2])))(x).dataSync());
    expect(Array.from(g)).toEqual([0, 1, 1, 0]);
    x.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../../src-main/node/backend';
import { maxAbsDiff, randomValues, runKernelOn } from './compare';

const TOL = 1e-5;

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
});

interface Case {
  shape: [number, number, number, number];
  filterSize: [number, number];
  strides: [number, number];
  pad: 'valid' | 'same';
  ties?: boolean;
}

const CASES: Case[] = [
  { shape: [2, 8, 8, 3], filterSize: [2, 2], strides: [2, 2], pad: 'valid' },
  { shape: [3, 9, 7, 2], filterSize: [2, 2], strides: [2, 2], pad: 'valid' }, // leftover row/column
  { shape: [1, 9, 9, 4], filterSize: [3, 3], strides: [3, 3], pad: 'same' },
  { shape: [2, 6, 8, 1], filterSize: [3, 2], strides: [3, 2], pad: 'valid' },
  { shape: [2, 8, 8, 3], filterSize: [2, 2], strides: [2, 2], pad: 'valid', ties: true }, // relu zeros
  { shape: [2, 7, 7, 2], filterSize: [3, 3], strides: [2, 2], pad: 'same' }, // overlapping: original kernel
  { shape: [1, 7, 7, 2], filterSize: [2, 2], strides: [2, 2], pad: 'same' }, // padded: original kernel
];

describe('MaxPoolGrad on wasm matches cpu', () => {
  for (const [i, c] of CASES.entries()) {
    const label = `${c.shape.join('x')} pool ${c.filterSize.join('x')} stride ${c.strides.join(',')} ${c.pad}${c.ties ? ' with ties' : ''}`;
    it(label, async () => {
      await tf.setBackend('cpu');
      const size = c.shape.reduce((a, b) => a * b, 1);
      let xValues = randomValues(size, 200 + i);
      // Quantized relu output: whole windows of equal values, where the first maximum must win.
      if (c.ties) xValues = xValues.map((v) => Math.max(0, Math.round(v * 2) / 2));
      const y = tf.tidy(() => tf.maxPool(tf.tensor4d(xValues, c.shape), c.filterSize, c.strides, c.pad));
      const output = { shape: y.shape, values: (await y.data()) as Float32Array };
      const dy = { shape: y.shape, values: randomValues(y.size, 300 + i) };
      y.dispose();
      const inputs = { dy, input: { shape: c.shape, values: xValues }, output };
      const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
      const cpu = await runKernelOn('cpu', 'MaxPoolGrad', inputs, attrs);
      const wasm = await runKernelOn('wasm', 'MaxPoolGrad', inputs, attrs);
      expect(wasm.shape).toEqual(cpu.shape);
      expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(TOL);
    });
  }

  it('the tiled path leaks nothing', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(randomValues(2 * 8 * 8 * 3, 1), [2, 8, 8, 3]);
    const y = tf.maxPool(x, 2, 2, 'valid');
    const dy = tf.onesLike(y);
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let k = 0; k < 3; k++) tf.dispose(tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides: 2, pad: 'valid' }));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, y, dy]);
  });
});

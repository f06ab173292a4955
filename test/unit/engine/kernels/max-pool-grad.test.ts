import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxPoolGrad } from '../../../../src-main/engine/kernels/max-pool-grad';
import { initBackend } from '../../../../src-main/node/backend';
import { expectWasmMatchesCpu, maxAbsDiff, randomValues } from './compare';

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
  { shape: [2, 7, 7, 2], filterSize: [3, 3], strides: [2, 2], pad: 'same' }, // overlapping windows
  { shape: [1, 7, 7, 2], filterSize: [2, 2], strides: [2, 2], pad: 'same' }, // padded windows
  { shape: [2, 6, 5, 3], filterSize: [3, 2], strides: [1, 1], pad: 'valid' },
  { shape: [1, 8, 8, 2], filterSize: [2, 2], strides: [1, 2], pad: 'same', ties: true },
];

describe('MaxPoolGrad on wasm matches cpu', () => {
  // Values in [-1, 1): stock tfjs-backend-wasm 4.22 routes every all-negative window's gradient to
  // element 0, so these cases would fail without the replacement kernel.
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
      await expectWasmMatchesCpu('MaxPoolGrad', inputs, attrs, TOL);
    });
  }

  it('an all-negative input gets its gradient at each window maximum', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d([-4, -1, -3, -2, -8, -6, -5, -7], [1, 2, 4, 1]);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x);
    // Rows [-4 -1 -3 -2] and [-8 -6 -5 -7]: the maxima are -1 and -2, both in the first row.
    expect(Array.from(await dx.data())).toEqual([0, 1, 0, 1, 0, 0, 0, 0]);
    tf.dispose([x, dx]);
  });

  for (const [label, pad, strides] of [['tiled', 'valid', 2], ['general', 'same', 1]] as const) {
    it(`the ${label} op formulation (for backends without heap access) equals the heap loop`, async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor4d(randomValues(2 * 9 * 7 * 3, 7), [2, 9, 7, 3]);
      const y = tf.maxPool(x, 2, strides, pad);
      const dy = tf.tensor4d(randomValues(y.size, 8), y.shape);
      const attrs = { filterSize: 2, strides, pad };
      const loop = tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, attrs) as tf.Tensor;
      // Called without a backend, the kernel cannot reach the heap and falls back to tf ops.
      // Its tf-ops result is a Tensor already (the engine takes it as is); wrapping it again would count twice.
      const info = maxPoolGrad({ inputs: { dy, input: x, output: y }, attrs: attrs as unknown as tf.NamedAttrMap });
      const ops = info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
      expect(ops.shape).toEqual(loop.shape);
      expect(maxAbsDiff((await ops.data()) as Float32Array, (await loop.data()) as Float32Array)).toBeLessThan(TOL);
      tf.dispose([x, y, dy, loop, ops]);
    });

    it(`the ${label} path leaks nothing`, async () => {
      await tf.setBackend('wasm');
      const x = tf.tensor4d(randomValues(2 * 8 * 8 * 3, 1), [2, 8, 8, 3]);
      const y = tf.maxPool(x, 2, strides, pad);
      const dy = tf.onesLike(y);
      const tensors = tf.memory().numTensors;
      const buffers = tf.engine().backend.numDataIds();
      for (let k = 0; k < 3; k++) tf.dispose(tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: 2, strides, pad }));
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.engine().backend.numDataIds()).toBe(buffers);
      tf.dispose([x, y, dy]);
    });
  }
});

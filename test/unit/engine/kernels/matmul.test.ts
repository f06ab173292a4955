import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerWasmTrainingKernels, restoreWasmKernels } from '../../../../src-main/engine/kernels/wasm-training';
import { unregisterNativeKernels } from '../../../../src-main/engine/kernels/native-kernels';
import { initBackend } from '../../../../src-main/node/backend';
import { expectWasmMatchesCpu, maxAbsDiff, randomValues, runKernelOn } from './compare';

const TOL = 1e-4;

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
  // These are the wasm kernels' tests: take the native addon's kernels out of the way (this file only).
  unregisterNativeKernels();
});

/** Shapes as the kernel sees them for C = op(A)·op(B) with A m×k, B k×n (tfjs passes rank 3). */
function operands(m: number, k: number, n: number, ta: boolean, tb: boolean, batch: number, seed: number) {
  const aShape = batch === 0 ? (ta ? [k, m] : [m, k]) : ta ? [batch, k, m] : [batch, m, k];
  const bShape = batch === 0 ? (tb ? [n, k] : [k, n]) : tb ? [batch, n, k] : [batch, k, n];
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  return {
    a: { shape: aShape, values: randomValues(size(aShape), seed) },
    b: { shape: bShape, values: randomValues(size(bShape), seed + 1) },
  };
}

describe('wasm matMul with transposed operands matches cpu', () => {
  const shapes: [number, number, number][] = [
    [64, 784, 30],
    [7, 5, 3],
    [1, 16, 9],
  ];
  for (const [m, k, n] of shapes) {
    for (const [ta, tb] of [
      [true, false],
      [false, true],
      [true, true],
      [false, false],
    ] as const) {
      for (const batch of [0, 1, 3]) {
        it(`${m}x${k}x${n} transposeA=${ta} transposeB=${tb} batch=${batch || 'none'}`, async () => {
          const inputs = operands(m, k, n, ta, tb, batch, m + k + n);
          const attrs = { transposeA: ta, transposeB: tb };
          await expectWasmMatchesCpu('BatchMatMul', inputs, attrs, TOL);
        });
      }
    }
  }

  it('fused matMul with bias and relu, transposed', async () => {
    const inputs = { ...operands(12, 20, 6, true, true, 1, 9), bias: { shape: [6], values: randomValues(6, 3) } };
    const attrs = { transposeA: true, transposeB: true, activation: 'relu', leakyreluAlpha: 0.2 };
    const wasm = await expectWasmMatchesCpu('_FusedMatMul', inputs, attrs, TOL);
    expect(Math.min(...wasm.values)).toBe(0);
  });

  it('a fresh large B (a just-updated weight) goes through (Bᵀ·Aᵀ)ᵀ, a reused one directly; both match cpu', async () => {
    for (const batch of [0, 1]) {
      const { a, b } = operands(64, 784, 300, false, false, batch, 5);
      const cpu = await runKernelOn('cpu', 'BatchMatMul', { a, b }, {});
      await tf.setBackend('wasm');
      const [ta, tb] = [tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape)];
      const tensors = tf.memory().numTensors;
      for (let call = 0; call < 2; call++) {
        const out = tf.matMul(ta, tb);
        expect(out.shape).toEqual(cpu.shape);
        expect(maxAbsDiff((await out.data()) as Float32Array, cpu.values)).toBeLessThan(TOL);
        out.dispose();
      }
      expect(tf.memory().numTensors).toBe(tensors);
      tf.dispose([ta, tb]);
    }
  });

  it('leaks neither tensors nor wasm buffers', async () => {
    await tf.setBackend('wasm');
    const a = tf.tensor(randomValues(64 * 50, 1), [64, 50]);
    const b = tf.tensor(randomValues(64 * 20, 2), [64, 20]);
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) tf.matMul(a, b, true, false).dispose();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([a, b]);
  });

  it('restoreWasmKernels puts the stock kernels back and registering again replaces them', () => {
    const fast = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
    expect(restoreWasmKernels().sort()).toEqual(['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', '_FusedMatMul']);
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc).not.toBe(fast);
    expect(registerWasmTrainingKernels().sort()).toEqual(['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', '_FusedMatMul']);
    expect(registerWasmTrainingKernels()).toEqual([]);
  });
});

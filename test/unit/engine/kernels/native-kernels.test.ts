/**
 * Topiary's native addon (native/, loaded by src-main/node/native.ts) behind the wasm backend's
 * matMul, conv2d, conv2d gradients and fused Adam: every kernel against the cpu backend, the
 * fallbacks for cases it does not cover, and the addon's own argument checks.
 * The addon is built by `npm ci`; without it these tests fail unless TOPIARY_NATIVE=0 says that
 * running without it is intended.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FusedAdam } from '../../../../src-main/engine/finetune/adam';
import { NATIVE_KERNELS, type NativeCompute, nativeKernelsActive, registerNativeKernels, setNativeMinimums, unregisterNativeKernels } from '../../../../src-main/engine/kernels/native-kernels';
import { initBackend } from '../../../../src-main/node/backend';
import { loadNativeAddon, switchedOff } from '../../../../src-main/node/native';
import { expectWasmMatchesCpu, maxAbsDiff, randomValues } from './compare';

const TOL = 1e-4;
const disabled = switchedOff('TOPIARY_NATIVE');
const { addon, status } = loadNativeAddon();
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
const input = (shape: number[], seed: number) => ({ shape, values: randomValues(size(shape), seed) });

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const compare = (kernel: string, inputs: Record<string, { shape: number[]; values: Float32Array }>, attrs: Record<string, unknown>) =>
  expectWasmMatchesCpu(kernel, inputs, attrs, TOL);

describe('native addon', () => {
  it('is built and in use (npm ci builds it), or off because TOPIARY_NATIVE=0 says so', () => {
    if (disabled) {
      expect(status.loaded).toBe(false);
      expect(nativeKernelsActive()).toBe(false);
      return;
    }
    expect(status.reason).toBeUndefined();
    expect(status.loaded).toBe(true);
    expect(nativeKernelsActive()).toBe(true);
    expect(status.threads).toBeGreaterThanOrEqual(1);
  });
});

describe.runIf(addon !== undefined)('native kernels match the cpu backend', () => {
  // Every shape here runs natively, small ones included (by default those stay on XNNPACK).
  beforeAll(() => setNativeMinimums({ rows: 0, convPixels: 0 }));
  afterAll(() => setNativeMinimums());

  it('small inference products stay on the wasm kernels by default, larger ones go native', async () => {
    setNativeMinimums();
    let calls = 0;
    const a = addon!;
    const counting: NativeCompute = {
      gemm: (...args) => (calls++, a.gemm(...args)),
      conv2d: (...args) => (calls++, a.conv2d(...args)),
      conv2dBackpropInput: (...args) => a.conv2dBackpropInput(...args),
      conv2dBackpropFilter: (...args) => a.conv2dBackpropFilter(...args),
      adam: (...args) => a.adam(...args),
    };
    unregisterNativeKernels();
    registerNativeKernels(counting);
    try {
      await tf.setBackend('wasm');
      tf.tidy(() => tf.matMul(tf.ones([1, 784]), tf.ones([784, 30])).dataSync());
      tf.tidy(() => tf.conv2d(tf.ones([1, 28, 28, 1]) as tf.Tensor4D, tf.ones([5, 5, 1, 6]) as tf.Tensor4D, 1, 'valid').dataSync());
      expect(calls).toBe(0);
      tf.tidy(() => tf.matMul(tf.ones([64, 784]), tf.ones([784, 30])).dataSync());
      tf.tidy(() => tf.conv2d(tf.ones([8, 28, 28, 1]) as tf.Tensor4D, tf.ones([5, 5, 1, 6]) as tf.Tensor4D, 1, 'valid').dataSync());
      expect(calls).toBe(2);
    } finally {
      unregisterNativeKernels();
      registerNativeKernels(addon!);
      setNativeMinimums({ rows: 0, convPixels: 0 });
    }
  });
  const matmuls: [number, number, number][] = [
    [64, 784, 30],
    [7, 5, 3],
    [1, 16, 9],
    [33, 7, 2],
    [5, 300, 17],
  ];
  for (const [m, k, n] of matmuls) {
    for (const [ta, tb] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      it(`BatchMatMul ${m}x${k}x${n} transposeA=${ta} transposeB=${tb}`, async () => {
        const a = input(ta ? [k, m] : [m, k], m + k);
        const b = input(tb ? [n, k] : [k, n], n + k);
        await compare('BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
      });
    }
  }

  it('BatchMatMul over batches, and one operand shared by every batch', async () => {
    await compare('BatchMatMul', { a: input([3, 4, 6], 1), b: input([3, 6, 5], 2) }, { transposeA: false, transposeB: false });
    await compare('BatchMatMul', { a: input([2, 3, 6, 4], 3), b: input([1, 6, 5], 4) }, { transposeA: true, transposeB: false });
    await compare('BatchMatMul', { a: input([1, 4, 6], 5), b: input([3, 5, 6], 6) }, { transposeA: false, transposeB: true });
  });

  it('BatchMatMul with broadcast batches it does not cover falls back to the wasm kernel', async () => {
    await compare('BatchMatMul', { a: input([2, 1, 4, 6], 7), b: input([1, 3, 6, 5], 8) }, { transposeA: false, transposeB: false });
  });

  for (const activation of ['linear', 'relu', 'elu'] as const) {
    it(`_FusedMatMul with bias and ${activation}${activation === 'elu' ? ' (falls back)' : ''}`, async () => {
      await compare(
        '_FusedMatMul',
        { a: input([1, 40, 30], 9), b: input([1, 30, 20], 10), bias: input([20], 11) },
        { transposeA: false, transposeB: false, activation },
      );
      await compare('_FusedMatMul', { a: input([1, 30, 3], 12), b: input([1, 5, 30], 13), bias: input([5], 14) }, { transposeA: true, transposeB: true, activation });
    });
  }

  type Conv = { n: number; hw: [number, number]; ci: number; k: [number, number]; co: number; s: [number, number]; d: [number, number]; pad: 'same' | 'valid' | number[][] };
  const convs: Conv[] = [
    { n: 2, hw: [28, 28], ci: 1, k: [5, 5], co: 6, s: [1, 1], d: [1, 1], pad: 'valid' },
    { n: 3, hw: [12, 12], ci: 6, k: [5, 5], co: 16, s: [1, 1], d: [1, 1], pad: 'valid' },
    { n: 2, hw: [7, 6], ci: 3, k: [3, 2], co: 20, s: [2, 2], d: [1, 1], pad: 'same' },
    { n: 2, hw: [9, 7], ci: 4, k: [5, 5], co: 2, s: [3, 3], d: [1, 1], pad: 'same' },
    { n: 4, hw: [6, 6], ci: 5, k: [1, 1], co: 33, s: [1, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [8, 7], ci: 2, k: [3, 3], co: 2, s: [2, 2], d: [1, 1], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
    // One input channel (its own im2col): padding on both sides, strides, a wide filter.
    { n: 3, hw: [9, 8], ci: 1, k: [3, 4], co: 5, s: [2, 3], d: [1, 1], pad: 'same' },
    { n: 2, hw: [7, 9], ci: 1, k: [2, 5], co: 17, s: [1, 2], d: [1, 1], pad: [[0, 0], [2, 1], [3, 4], [0, 0]] },
    // Enough images for several chunks, so more than one thread works (and dW sums their parts).
    { n: 21, hw: [28, 28], ci: 1, k: [5, 5], co: 6, s: [1, 1], d: [1, 1], pad: 'valid' },
    { n: 19, hw: [12, 12], ci: 6, k: [5, 5], co: 16, s: [1, 1], d: [1, 1], pad: 'same' },
    // Stride 1 with Ci <= 16: the input gradient runs as a convolution of dy with the flipped
    // filter on the direct kernels (Ci > 16: GEMM + col2im): ResNet's 3x3 layers, odd channel
    // counts, an even filter with 'same' (padding only after), one-sided explicit padding.
    { n: 3, hw: [8, 8], ci: 16, k: [3, 3], co: 16, s: [1, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [7, 5], ci: 17, k: [3, 3], co: 24, s: [1, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [6, 7], ci: 9, k: [2, 2], co: 20, s: [1, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [6, 5], ci: 5, k: [3, 2], co: 7, s: [1, 1], d: [1, 1], pad: [[0, 0], [2, 0], [0, 1], [0, 0]] },
    // 17-64 output channels (AVX-512: the wide direct kernel, 2-4 zmm per pixel; its stride-1
    // input gradient too): ResNet's 64-channel stride-2 'same', 48 channels 'valid' on rows wider
    // than its 6-pixel blocks, 64 -> 32 channels stride 1.
    { n: 2, hw: [9, 9], ci: 32, k: [3, 3], co: 64, s: [2, 2], d: [1, 1], pad: 'same' },
    { n: 1, hw: [5, 13], ci: 7, k: [3, 3], co: 48, s: [1, 1], d: [1, 1], pad: 'valid' },
    { n: 2, hw: [6, 11], ci: 64, k: [3, 3], co: 32, s: [1, 1], d: [1, 1], pad: 'same' },
  ];
  const label = (c: Conv) => `n${c.n} ${c.hw.join('x')}x${c.ci} k${c.k.join('x')}->${c.co} s${c.s.join(',')} d${c.d.join(',')} ${JSON.stringify(c.pad)}`;
  const outShape = (c: Conv): number[] => {
    const info = tf.backend_util.computeConv2DInfo([c.n, ...c.hw, c.ci], [...c.k, c.ci, c.co], c.s, c.d, c.pad as 'same');
    return [c.n, info.outHeight, info.outWidth, c.co];
  };
  const dilated: Conv = { n: 1, hw: [10, 9], ci: 2, k: [3, 3], co: 3, s: [1, 1], d: [2, 2], pad: 'same' };

  for (const [i, c] of [...convs, dilated].entries()) {
    it(`Conv2D ${label(c)}`, async () => {
      const x = input([c.n, ...c.hw, c.ci], 20 + i);
      const filter = input([...c.k, c.ci, c.co], 30 + i);
      await compare('Conv2D', { x, filter }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dilations: c.d });
    });
  }

  for (const [i, c] of convs.entries()) {
    it(`Conv2DBackpropInput and Conv2DBackpropFilter ${label(c)}`, async () => {
      const dy = input(outShape(c), 40 + i);
      const filter = input([...c.k, c.ci, c.co], 50 + i);
      const x = input([c.n, ...c.hw, c.ci], 60 + i);
      await compare('Conv2DBackpropInput', { dy, filter }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, ...c.hw, c.ci] });
      await compare('Conv2DBackpropFilter', { x, dy }, { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.ci, c.co] });
    });
  }

  // Depthwise filter gradients: MobileNetV2's stride-1 'same' and stride-2 'valid' (after
  // ZeroPadding2D), a channel multiplier, explicit padding, and enough images for threads. (tfjs
  // computes no depthwise gradients with dilation > 1; the native kernel leaves those to wasm.)
  type Dw = { n: number; hw: [number, number]; c: number; m: number; k: [number, number]; s: [number, number]; d: [number, number]; pad: 'same' | 'valid' | number[][] };
  const dws: Dw[] = [
    { n: 3, hw: [14, 14], c: 16, m: 1, k: [3, 3], s: [1, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [15, 15], c: 24, m: 1, k: [3, 3], s: [2, 2], d: [1, 1], pad: 'valid' },
    { n: 2, hw: [7, 6], c: 3, m: 2, k: [3, 2], s: [2, 1], d: [1, 1], pad: 'same' },
    { n: 2, hw: [8, 7], c: 4, m: 3, k: [3, 3], s: [1, 1], d: [1, 1], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
    { n: 33, hw: [10, 10], c: 8, m: 1, k: [3, 3], s: [1, 1], d: [1, 1], pad: 'same' },
  ];
  for (const [i, c] of dws.entries()) {
    it(`DepthwiseConv2dNativeBackpropFilter n${c.n} ${c.hw.join('x')}x${c.c} x${c.m} k${c.k.join('x')} s${c.s.join(',')} d${c.d.join(',')} ${JSON.stringify(c.pad)}`, async () => {
      const info = tf.backend_util.computeConv2DInfo([c.n, ...c.hw, c.c], [...c.k, c.c, c.m], c.s, c.d, c.pad as 'same', undefined, true);
      const x = input([c.n, ...c.hw, c.c], 80 + i);
      const dy = input([c.n, info.outHeight, info.outWidth, c.c * c.m], 90 + i);
      await compare('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: c.s, dilations: c.d, pad: c.pad, filterShape: [...c.k, c.c, c.m] });
    });
  }

  it('DepthwiseConv2dNativeBackpropFilter runs in the addon, and falls back when the addon lacks it', async () => {
    let calls = 0;
    const a = addon!;
    const x = tf.randomUniform([2, 6, 6, 4]);
    const dy = tf.randomUniform([2, 6, 6, 4]);
    const attrs = { strides: 1, dilations: 1, pad: 'same', filterShape: [3, 3, 4, 1] };
    const run = () => {
      const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs) as tf.Tensor;
      const values = dw.dataSync() as Float32Array;
      dw.dispose();
      return values;
    };
    const reference = run();
    for (const withIt of [true, false]) {
      unregisterNativeKernels();
      // The addon's functions are not enumerable: list them.
      const counting: NativeCompute = {
        gemm: (...args) => a.gemm(...args),
        conv2d: (...args) => a.conv2d(...args),
        conv2dBackpropInput: (...args) => a.conv2dBackpropInput(...args),
        conv2dBackpropFilter: (...args) => a.conv2dBackpropFilter(...args),
        adam: (...args) => a.adam(...args),
        ...(withIt ? { depthwiseBackpropFilter: (...args: Parameters<NonNullable<NativeCompute['depthwiseBackpropFilter']>>) => (calls++, a.depthwiseBackpropFilter!(...args)) } : {}),
      };
      registerNativeKernels(counting);
      expect(maxAbsDiff(run(), reference)).toBeLessThan(TOL);
    }
    expect(calls).toBe(1);
    unregisterNativeKernels();
    registerNativeKernels(a);
    tf.dispose([x, dy]);
  });

  for (const activation of ['relu', 'linear', 'elu'] as const) {
    it(`FusedConv2D with bias and ${activation}${activation === 'elu' ? ' (falls back)' : ''}`, async () => {
      const c = convs[2];
      await compare(
        'FusedConv2D',
        { x: input([c.n, ...c.hw, c.ci], 70), filter: input([...c.k, c.ci, c.co], 71), bias: input([c.co], 72) },
        { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dilations: [1, 1], activation },
      );
    });
  }

  it('a batch of zero images gives an empty output and a zero filter gradient', async () => {
    await compare('Conv2DBackpropFilter', { x: input([0, 5, 5, 2], 1), dy: input([0, 3, 3, 4], 2) }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: [3, 3, 2, 4] });
    await compare('Conv2D', { x: input([0, 5, 5, 2], 3), filter: input([3, 3, 2, 4], 4) }, { strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1 });
  });

  it('FusedAdam steps with the native kernel equal tf.train.adam, for small and large variables', async () => {
    await tf.setBackend('wasm');
    const shapes = [[7, 5], [300, 300]];
    const start = shapes.map((s, i) => randomValues(size(s), 80 + i));
    const trainWith = (opt: { applyGradients(g: tf.NamedTensorMap): void; dispose(): void }, tag: string) => {
      const vars = shapes.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(start[i], s), true, `${tag}_${i}`)));
      for (let k = 0; k < 4; k++) {
        tf.tidy(() => {
          const grads: tf.NamedTensorMap = {};
          vars.forEach((v, i) => (grads[v.name] = tf.tensor(randomValues(v.size, 90 + 10 * k + i), v.shape)));
          opt.applyGradients(grads);
        });
      }
      opt.dispose();
      const out = vars.map((v) => v.dataSync().slice() as Float32Array);
      vars.forEach((v) => v.dispose());
      return out;
    };
    const ours = trainWith(new FusedAdam(1e-2), 'native_adam');
    const ref = trainWith(tf.train.adam(1e-2) as unknown as { applyGradients(g: tf.NamedTensorMap): void; dispose(): void }, 'ref_adam');
    for (let i = 0; i < shapes.length; i++) {
      expect(maxAbsDiff(ours[i], ref[i])).toBeLessThan(1e-5);
      expect(maxAbsDiff(ours[i], start[i])).toBeGreaterThan(1e-3);
    }
  });

  it('unregistering puts the wasm kernels back and registering again restores the native ones', () => {
    const names = unregisterNativeKernels();
    expect(names.sort()).toEqual(Object.keys(NATIVE_KERNELS).sort());
    expect(nativeKernelsActive()).toBe(false);
    expect(registerNativeKernels(addon!).sort()).toEqual(Object.keys(NATIVE_KERNELS).sort());
    expect(registerNativeKernels(addon!)).toEqual([]);
  });
});

describe.runIf(addon !== undefined)('native addon argument checks', () => {
  const f = (n: number) => new Float32Array(n);
  it('refuses operands smaller than their shapes, with the operand named', () => {
    expect(() => addon!.gemm(0, 0, 10, 10, 10, f(99), 10, f(100), 10, f(100), 10, 0, null, 0)).toThrow(/a \(10 x 10, stride 10\) does not fit its array of 99/);
    expect(() => addon!.gemm(0, 1, 4, 5, 6, f(24), 6, f(29), 6, f(20), 5, 0, null, 0)).toThrow(/b \(5 x 6/);
    expect(() => addon!.gemm(0, 0, 4, 5, 6, f(24), 6, f(30), 5, f(19), 5, 0, null, 0)).toThrow(/c \(4 x 5/);
    expect(() => addon!.gemm(0, 0, 4, 5, 6, f(24), 6, f(30), 5, f(20), 5, 0, f(4), 0)).toThrow(/bias is shorter/);
    expect(() => addon!.conv2d([1, 5, 5, 1, 3, 3, 2, 3, 3, 1, 1, 1, 1, 0, 0], f(24), f(18), null, 0, f(18))).toThrow(/smaller than the conv shape/);
    expect(() => addon!.adam(f(3), f(3), f(3), f(2), f(3), f(3), f(3), 1e-3, 0.9, 0.999, 1e-7, 1)).toThrow(/differ in length/);
  });

  it('refuses wrong types and counts instead of reading memory', () => {
    expect(() => addon!.gemm(0, 0, 2, 2, 2, new Float64Array(4) as unknown as Float32Array, 2, f(4), 2, f(4), 2, 0, null, 0)).toThrow(/a must be a Float32Array/);
    expect(() => addon!.gemm(0, 0, -1, 2, 2, f(4), 2, f(4), 2, f(4), 2, 0, null, 0)).toThrow(/m must be a non-negative integer/);
    expect(() => (addon!.gemm as unknown as (...a: unknown[]) => void)(0, 0, 2)).toThrow(/14 arguments/);
    expect(() => addon!.conv2d([1, 2, 3] as number[], f(1), f(1), null, 0, f(1))).toThrow(/15 integers/);
    expect(() => addon!.conv2d([1, 5, 5, 1, 3, 3, 2, 3, 3, 0, 1, 1, 1, 0, 0], f(25), f(18), null, 0, f(18))).toThrow(/at least 1/);
    const dw = addon!.depthwiseBackpropFilter!;
    expect(() => dw([1, 5, 5, 2, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1, 1], 1, f(50), f(49), f(18))).toThrow(/smaller than the depthwise shape/);
    expect(() => dw([1, 5, 5, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1, 1, 1], 1, f(50), f(50), f(18))).toThrow(/outC = inC \* multiplier/);
    expect(() => dw([1, 5, 5, 2, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1, 1], 1, new Float64Array(50) as unknown as Float32Array, f(50), f(18))).toThrow(/Float32Arrays/);
  });

  it('gemm accumulates into C when asked, and the result does not depend on the thread count', () => {
    const m = 37;
    const n = 45;
    const k = 800; // 1.3M multiply-adds: above the threshold where the addon uses its threads
    const a = randomValues(m * k, 1);
    const b = randomValues(k * n, 2);
    const results: Float32Array[] = [];
    for (const threads of [1, 2, 3]) {
      addon!.setThreads(threads);
      const c = new Float32Array(m * n).fill(1);
      addon!.gemm(0, 0, m, n, k, a, k, b, n, c, n, 1, null, 0);
      results.push(c);
    }
    addon!.setThreads(status.threads ?? 1);
    let expected = 0;
    for (let p = 0; p < k; p++) expected += a[p] * b[p * n];
    expect(results[0][0]).toBeCloseTo(1 + expected, 3);
    expect(maxAbsDiff(results[0], results[1])).toBeLessThan(1e-3);
    expect(maxAbsDiff(results[0], results[2])).toBeLessThan(1e-3);
  });
});

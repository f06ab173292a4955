import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { WASM_FAST_KERNELS } from '../../../../src-main/engine/kernels/wasm-training';
import { unregisterNativeKernels } from '../../../../src-main/engine/kernels/native-kernels';
import { initBackend } from '../../../../src-main/node/backend';
import { depthwiseGradsByDefinition, expectWasmMatchesCpu, maxAbsDiff, randomValues, runKernelOn } from './compare';

type Pad = 'same' | 'valid' | number[][];
interface Case {
  n: number;
  hw: [number, number];
  inC: number;
  k: [number, number];
  out: number; // output channels (conv) or channel multiplier (depthwise)
  strides: [number, number];
  dilations: [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { n: 1, hw: [5, 5], inC: 1, k: [3, 3], out: 2, strides: [1, 1], dilations: [1, 1], pad: 'valid' },
  { n: 2, hw: [7, 6], inC: 3, k: [3, 2], out: 4, strides: [2, 2], dilations: [1, 1], pad: 'same' },
  { n: 3, hw: [8, 8], inC: 2, k: [3, 3], out: 3, strides: [2, 1], dilations: [1, 1], pad: 'valid' },
  { n: 2, hw: [9, 7], inC: 4, k: [5, 5], out: 2, strides: [3, 3], dilations: [1, 1], pad: 'same' },
  { n: 4, hw: [6, 6], inC: 5, k: [1, 1], out: 6, strides: [1, 1], dilations: [1, 1], pad: 'same' },
  { n: 1, hw: [10, 9], inC: 2, k: [3, 3], out: 2, strides: [1, 1], dilations: [2, 2], pad: 'same' },
  { n: 2, hw: [10, 10], inC: 3, k: [2, 3], out: 1, strides: [1, 1], dilations: [3, 2], pad: 'valid' },
  { n: 2, hw: [8, 7], inC: 2, k: [3, 3], out: 2, strides: [2, 2], dilations: [1, 1], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
];
const TOL = 1e-4;

function label(c: Case): string {
  return `n${c.n} ${c.hw.join('x')}x${c.inC} k${c.k.join('x')}->${c.out} s${c.strides.join(',')} d${c.dilations.join(',')} ${JSON.stringify(c.pad)}`;
}

function outSize(c: Case, depthwise: boolean): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    [c.n, ...c.hw, c.inC],
    [...c.k, c.inC, c.out] as [number, number, number, number],
    c.strides,
    c.dilations,
    c.pad as 'same',
    undefined,
    depthwise,
  );
  return [c.n, info.outHeight, info.outWidth, depthwise ? c.inC * c.out : c.out];
}

const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

const compare = (kernel: string, inputs: Record<string, { shape: number[]; values: Float32Array }>, attrs: Record<string, unknown>) =>
  expectWasmMatchesCpu(kernel, inputs, attrs, TOL);

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
  // These are the wasm kernels' tests: take the native addon's kernels out of the way (this file only).
  unregisterNativeKernels();
});

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  // tfjs conv2d gradients support dilation 1 only, and so does this kernel's attribute set.
  for (const [i, c] of UNDILATED.entries()) {
    it(label(c), async () => {
      const xShape = [c.n, ...c.hw, c.inC];
      const dyShape = outSize(c, false);
      await compare(
        'Conv2DBackpropFilter',
        { x: { shape: xShape, values: randomValues(size(xShape), 10 + i) }, dy: { shape: dyShape, values: randomValues(size(dyShape), 20 + i) } },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [...c.k, c.inC, c.out] },
      );
    });
  }
  it('NCHW data format', async () => {
    const c = CASES[1];
    const [n, oh, ow, co] = outSize(c, false);
    const xShape = [c.n, c.inC, ...c.hw];
    const dyShape = [n, co, oh, ow];
    // The cpu kernel only does NHWC, so compare against it on transposed inputs.
    const x = randomValues(size(xShape), 3);
    const dy = randomValues(size(dyShape), 4);
    const nhwc = (v: Float32Array, shape: number[]) =>
      tf.tidy(() => tf.transpose(tf.tensor(v, shape), [0, 2, 3, 1]).dataSync() as Float32Array);
    await tf.setBackend('cpu');
    const xl = nhwc(x, xShape);
    const dyl = nhwc(dy, dyShape);
    const attrs = { strides: c.strides, pad: c.pad, filterShape: [...c.k, c.inC, c.out] };
    const cpu = await runKernelOn('cpu', 'Conv2DBackpropFilter', { x: { shape: [c.n, ...c.hw, c.inC], values: xl }, dy: { shape: [n, oh, ow, co], values: dyl } }, { ...attrs, dataFormat: 'NHWC' });
    const wasm = await runKernelOn('wasm', 'Conv2DBackpropFilter', { x: { shape: xShape, values: x }, dy: { shape: dyShape, values: dy } }, { ...attrs, dataFormat: 'NCHW' });
    expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(TOL);
  });
});

const UNDILATED = CASES.filter((c) => c.dilations[0] === 1 && c.dilations[1] === 1);
const DILATED = CASES.filter((c) => c.dilations[0] > 1 || c.dilations[1] > 1);

describe('DepthwiseConv2dNativeBackpropInput on wasm matches cpu', () => {
  for (const [i, c] of UNDILATED.entries()) {
    it(label(c), async () => {
      const dyShape = outSize(c, true);
      const fShape = [...c.k, c.inC, c.out];
      await compare(
        'DepthwiseConv2dNativeBackpropInput',
        { dy: { shape: dyShape, values: randomValues(size(dyShape), 30 + i) }, filter: { shape: fShape, values: randomValues(size(fShape), 40 + i) } },
        { strides: c.strides, dilations: c.dilations, pad: c.pad, inputShape: [c.n, ...c.hw, c.inC] },
      );
    });
  }
});

describe('DepthwiseConv2dNativeBackpropFilter on wasm matches cpu', () => {
  for (const [i, c] of UNDILATED.entries()) {
    it(label(c), async () => {
      const xShape = [c.n, ...c.hw, c.inC];
      const dyShape = outSize(c, true);
      await compare(
        'DepthwiseConv2dNativeBackpropFilter',
        { x: { shape: xShape, values: randomValues(size(xShape), 50 + i) }, dy: { shape: dyShape, values: randomValues(size(dyShape), 60 + i) } },
        { strides: c.strides, dilations: c.dilations, pad: c.pad, filterShape: [...c.k, c.inC, c.out] },
      );
    });
  }
});

describe('dilated depthwise gradients on wasm match the definition', () => {
  // The cpu kernels ignore dilations, so the reference here is the summation itself.
  for (const [i, c] of DILATED.entries()) {
    it(label(c), async () => {
      const xShape = [c.n, ...c.hw, c.inC];
      const fShape = [...c.k, c.inC, c.out];
      const dyShape = outSize(c, true);
      const x = { shape: xShape, values: randomValues(size(xShape), 70 + i) };
      const filter = { shape: fShape, values: randomValues(size(fShape), 80 + i) };
      const dy = { shape: dyShape, values: randomValues(size(dyShape), 90 + i) };
      const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], fShape as [number, number, number, number], c.strides, c.dilations, c.pad as 'same', undefined, true);
      const ref = depthwiseGradsByDefinition(x, filter, dy, { strides: c.strides, dilations: c.dilations, padTop: info.padInfo.top, padLeft: info.padInfo.left });
      const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad };
      const dx = await runKernelOn('wasm', 'DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape });
      const dw = await runKernelOn('wasm', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape });
      expect(maxAbsDiff(dx.values, ref.dx)).toBeLessThan(TOL);
      expect(maxAbsDiff(dw.values, ref.dw)).toBeLessThan(TOL);
    });
  }
  it('the reference agrees with the cpu kernels when undilated', async () => {
    const c = UNDILATED[1];
    const xShape = [c.n, ...c.hw, c.inC];
    const fShape = [...c.k, c.inC, c.out];
    const dyShape = outSize(c, true);
    const x = { shape: xShape, values: randomValues(size(xShape), 5) };
    const filter = { shape: fShape, values: randomValues(size(fShape), 6) };
    const dy = { shape: dyShape, values: randomValues(size(dyShape), 7) };
    const info = tf.backend_util.computeConv2DInfo(xShape as [number, number, number, number], fShape as [number, number, number, number], c.strides, c.dilations, c.pad as 'same', undefined, true);
    const ref = depthwiseGradsByDefinition(x, filter, dy, { strides: c.strides, dilations: c.dilations, padTop: info.padInfo.top, padLeft: info.padInfo.left });
    const attrs = { strides: c.strides, dilations: c.dilations, pad: c.pad };
    const dx = await runKernelOn('cpu', 'DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...attrs, inputShape: xShape });
    const dw = await runKernelOn('cpu', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: fShape });
    expect(maxAbsDiff(dx.values, ref.dx)).toBeLessThan(TOL);
    expect(maxAbsDiff(dw.values, ref.dw)).toBeLessThan(TOL);
  });
});

describe('added kernels and memory', () => {
  it('keep their inputs alive and leave no tensors or backend buffers behind', async () => {
    await tf.setBackend('wasm');
    const c = CASES[3];
    const xShape = [c.n, ...c.hw, c.inC];
    const x = tf.tensor(randomValues(size(xShape), 1), xShape);
    const dyc = tf.tensor(randomValues(size(outSize(c, false)), 2), outSize(c, false));
    const dyd = tf.tensor(randomValues(size(outSize(c, true)), 3), outSize(c, true));
    const filter = tf.tensor(randomValues(c.k[0] * c.k[1] * c.inC * c.out, 4), [...c.k, c.inC, c.out]);
    const xBefore = x.dataSync().slice();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    const geometry = { strides: c.strides, pad: c.pad };
    for (let i = 0; i < 3; i++) {
      tf.dispose(tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dyc }, { ...geometry, dataFormat: 'NHWC', filterShape: [...c.k, c.inC, c.out] }));
      tf.dispose(tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dyd, filter }, { ...geometry, dilations: 1, inputShape: xShape }));
      tf.dispose(tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: dyd }, { ...geometry, dilations: 1, filterShape: filter.shape }));
    }
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    expect(maxAbsDiff(x.dataSync() as Float32Array, xBefore as Float32Array)).toBe(0);
    tf.dispose([x, dyc, dyd, filter]);
  });
});

describe('Conv2DBackpropInput on wasm (XNNPACK replacement) matches cpu', () => {
  for (const [i, c] of UNDILATED.entries()) {
    it(label(c), async () => {
      const dyShape = outSize(c, false);
      const fShape = [...c.k, c.inC, c.out];
      await compare(
        'Conv2DBackpropInput',
        { dy: { shape: dyShape, values: randomValues(size(dyShape), 100 + i) }, filter: { shape: fShape, values: randomValues(size(fShape), 110 + i) } },
        { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.n, ...c.hw, c.inC] },
      );
    });
  }
  it('is the replacement, not the stock scalar kernel', () => {
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).toBe(WASM_FAST_KERNELS.Conv2DBackpropInput(() => ({}) as tf.TensorInfo));
  });
});

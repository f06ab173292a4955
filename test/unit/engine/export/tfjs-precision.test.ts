/**
 * uint8 tfjs exports quantize per tensor; a kernel whose output channels span very different
 * ranges (MobileNet depthwise kernels after training) is written as uint16 instead, so no channel is
 * left with a handful of levels.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../../src-main/engine/data';
import { exportTfjs, MIN_CHANNEL_LEVELS, needsUint16, verifyTfjsExport } from '../../../../src-main/engine/export/tfjs';

/** Depthwise kernel [3, 3, C, 1] whose channel c has weights in +-spread^(c / (C - 1)). */
function spreadKernel(channels: number, spread: number, seed = 5): Float32Array {
  const rand = seededRandom(seed);
  const v = new Float32Array(9 * channels);
  for (let i = 0; i < v.length; i++) {
    const c = i % channels;
    v[i] = (2 * rand() - 1) * spread ** (c / (channels - 1));
  }
  return v;
}

describe('needsUint16', () => {
  it('flags a kernel with a channel under the minimum number of uint8 levels, on the right axis', () => {
    expect(needsUint16('dw/depthwise_kernel', [3, 3, 8, 1], spreadKernel(8, 100))).toBe(true);
    expect(needsUint16('dw/depthwise_kernel', [3, 3, 8, 1], spreadKernel(8, 2))).toBe(false);
    // Same values read as a Dense kernel [9, 8]: channels are the last axis, again 8 of them.
    expect(needsUint16('fc/kernel', [9, 8], spreadKernel(8, 100))).toBe(true);
    // Biases and vectors are never raised; neither are all-zero (pruned) channels counted.
    expect(needsUint16('fc/bias', [8], spreadKernel(8, 100))).toBe(false);
    const pruned = spreadKernel(8, 1.5);
    for (let i = 0; i < pruned.length; i += 8) pruned[i] = 0; // channel 0 fully pruned
    expect(needsUint16('fc/kernel', [9, 8], pruned)).toBe(false);
    expect(MIN_CHANNEL_LEVELS).toBeGreaterThanOrEqual(16);
  });
});

describe('exportTfjs uint8 with per-channel spread', () => {
  it('writes the spread kernel as uint16, and the export agrees with the float model', async () => {
    const channels = 16;
    const inp = tf.input({ shape: [10, 10, channels] });
    const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw' });
    const gap = tf.layers.globalAveragePooling2d({}).apply(dw.apply(inp) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const head = tf.layers.dense({ units: 6, name: 'head' });
    const m = tf.model({ inputs: inp, outputs: head.apply(gap) as tf.SymbolicTensor });
    const k = tf.tensor(spreadKernel(channels, 200), [3, 3, channels, 1]);
    dw.setWeights([k]);
    const x = tf.randomUniform([64, 10, 10, channels], -1, 1, 'float32', 9);
    const out = await exportTfjs(m, { quant: 'uint8' });
    expect(out.uint16Raised).toEqual(['dw/depthwise_kernel']);
    const entry = out.modelJson.weightsManifest[0].weights.find((w) => w.name === 'dw/depthwise_kernel');
    expect(entry?.quantization?.dtype).toBe('uint16');
    expect(out.modelJson.weightsManifest[0].weights.find((w) => w.name === 'head/kernel')?.quantization?.dtype).toBe('uint8');
    const v = await verifyTfjsExport(m, out, x, { latencySamples: 1 });
    expect(v.passed, v.reason ?? '').toBe(true);
    expect(v.top1Agreement).toBeGreaterThanOrEqual(0.95);
    tf.dispose([k, x]);
    m.dispose();
  });
});

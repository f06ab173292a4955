import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportTflite, readTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { samplesFor, seedWeights } from './helpers';

/** Each test's models, freed when it ends (expectSameInLiteRt registers them). */
const made = new Set<tf.LayersModel>();
afterEach(() => {
  made.forEach((m) => m.dispose());
  made.clear();
});

/** Exports float32, runs in LiteRT on a few samples, expects the tfjs outputs to within 1e-4. */
async function expectSameInLiteRt(model: tf.LayersModel, sampleShape: number[], n = 4): Promise<string[]> {
  made.add(model);
  seedWeights(model);
  const { bytes, ops } = exportTflite(model, { quant: 'none', sparse: 'never' });
  const r = await verifyTflite(bytes, model, samplesFor(sampleShape, n), { latencyRuns: 0 });
  expect(r.reason).toBeUndefined();
  expect(r.passed).toBe(true);
  expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  expect(r.top1Agreement).toBe(1);
  return ops.map((o) => o.op);
}

describe('float32 TFLite export through LiteRT, per layer type', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  it('Dense with relu, relu6, sigmoid, tanh, softmax and linear activations', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu' }),
        tf.layers.dense({ units: 5, activation: 'relu6' }),
        tf.layers.dense({ units: 5, activation: 'sigmoid' }),
        tf.layers.dense({ units: 5, activation: 'tanh' }),
        tf.layers.dense({ units: 5, activation: 'linear' }),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const ops = await expectSameInLiteRt(m, [6]);
    expect(ops).toEqual(['FULLY_CONNECTED', 'FULLY_CONNECTED', 'FULLY_CONNECTED', 'LOGISTIC', 'FULLY_CONNECTED', 'TANH', 'FULLY_CONNECTED', 'FULLY_CONNECTED', 'SOFTMAX']);
  });

  it('Conv2D (same/valid, strides, dilation, no bias) with MaxPooling2D and Flatten', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [9, 9, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.conv2d({ filters: 3, kernelSize: [3, 2], strides: 2, padding: 'valid', useBias: false }),
        tf.layers.conv2d({ filters: 2, kernelSize: 2, dilationRate: 2, padding: 'same' }),
        tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const ops = await expectSameInLiteRt(m, [9, 9, 2]);
    expect(ops).toEqual(['CONV_2D', 'CONV_2D', 'CONV_2D', 'MAX_POOL_2D', 'RESHAPE', 'FULLY_CONNECTED']);
  });

  it('DepthwiseConv2D with a depth multiplier, AveragePooling2D and GlobalAveragePooling2D', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.depthwiseConv2d({ inputShape: [8, 8, 3], kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6' }),
        tf.layers.averagePooling2d({ poolSize: 2 }),
        tf.layers.depthwiseConv2d({ kernelSize: 2, strides: 2 }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    const ops = await expectSameInLiteRt(m, [8, 8, 3]);
    expect(ops).toEqual(['DEPTHWISE_CONV_2D', 'AVERAGE_POOL_2D', 'DEPTHWISE_CONV_2D', 'MEAN', 'FULLY_CONNECTED', 'SOFTMAX']);
  });

  it('ZeroPadding2D, Reshape, Dropout (dropped) and Activation layers', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.zeroPadding2d({ inputShape: [5, 5, 2], padding: [[1, 2], [0, 1]] }),
        tf.layers.conv2d({ filters: 2, kernelSize: 3 }),
        tf.layers.activation({ activation: 'tanh' }),
        tf.layers.dropout({ rate: 0.5 }),
        tf.layers.reshape({ targetShape: [6 * 4, 2] }),
        tf.layers.activation({ activation: 'sigmoid' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
        tf.layers.activation({ activation: 'softmax' }),
      ],
    });
    const ops = await expectSameInLiteRt(m, [5, 5, 2]);
    expect(ops).toEqual(['PAD', 'CONV_2D', 'TANH', 'RESHAPE', 'LOGISTIC', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX']);
  });

  it('a standalone relu Activation after a conv is fused into it', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3 }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.flatten(),
      ],
    });
    const ops = await expectSameInLiteRt(m, [6, 6, 1]);
    expect(ops).toEqual(['CONV_2D', 'RESHAPE']);
  });

  it('BatchNormalization after a linear conv folds into it; after a relu conv it becomes MUL+ADD', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3 }),
        tf.layers.batchNormalization({}),
        tf.layers.conv2d({ filters: 3, kernelSize: 2, activation: 'relu' }),
        tf.layers.batchNormalization({}),
        tf.layers.flatten(),
        tf.layers.dense({ units: 4 }),
        tf.layers.batchNormalization({}),
      ],
    });
    const { notes } = exportTflite(m, { quant: 'none' });
    expect(notes.filter((n) => n.includes('folded'))).toHaveLength(2);
    const ops = await expectSameInLiteRt(m, [6, 6, 2]);
    expect(ops).toEqual(['CONV_2D', 'CONV_2D', 'MUL', 'ADD', 'RESHAPE', 'FULLY_CONNECTED']);
  });

  it('functional model: Add of two branches, Concatenate, and a BN read by two layers stays standalone', async () => {
    const inp = tf.input({ shape: [6, 6, 2] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(inp) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({}).apply(a) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([bn, b, a]) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ axis: -1 }).apply([sum, b]) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(cat) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(pooled) as tf.SymbolicTensor;
    const m = tf.model({ inputs: inp, outputs: out });
    const ops = await expectSameInLiteRt(m, [6, 6, 2]);
    // `a` feeds both BN and Add, so BN cannot be folded into it.
    expect(ops.filter((o) => o === 'MUL')).toHaveLength(1);
    expect(ops.filter((o) => o === 'ADD')).toHaveLength(3);
    expect(ops).toContain('CONCATENATION');
  });

  it('Rescaling (in-model preprocessing) lowers to MUL, and MUL + ADD with an offset, in float32 and int8', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.rescaling({ inputShape: [6, 6, 2], scale: 1 / 255 }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }),
        tf.layers.rescaling({ scale: 2, offset: -1 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    const ops = await expectSameInLiteRt(m, [6, 6, 2]);
    expect(ops).toEqual(['MUL', 'CONV_2D', 'MUL', 'ADD', 'RESHAPE', 'FULLY_CONNECTED', 'SOFTMAX']);
    const samples = samplesFor([6, 6, 2], 16);
    const int8 = exportTflite(m, { quant: 'int8', sparse: 'never', calibration: samples.x });
    const r = await verifyTflite(int8.bytes, m, samples, { latencyRuns: 0 });
    expect(r.passed, r.reason).toBe(true);
  });

  it('Dense on a rank-3 input keeps its leading dimensions (keep_num_dims)', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4, 6], units: 3, activation: 'relu' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    const ops = await expectSameInLiteRt(m, [4, 6]);
    expect(ops).toEqual(['FULLY_CONNECTED', 'RESHAPE', 'FULLY_CONNECTED']);
  });

  it('a two-input functional model runs with a serving_default signature that names its Keras I/O', async () => {
    const a = tf.input({ shape: [3], name: 'a' });
    const b = tf.input({ shape: [5], name: 'b' });
    const cat = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: 'probs' }).apply(cat) as tf.SymbolicTensor;
    const m = tf.model({ inputs: [a, b], outputs: out });
    made.add(m);
    seedWeights(m);
    const { lib } = await loadLiteRtNode();
    const compiled = await lib.loadAndCompile(exportTflite(m, { quant: 'none' }).bytes, { accelerator: 'wasm' });
    expect(Object.keys(compiled.signatures)).toEqual(['serving_default']);
    expect(compiled.getInputDetails().map((d) => d.name)).toEqual(['a', 'b']);
    expect(compiled.getOutputDetails().map((d) => d.name)).toEqual(['probs']);
    const xa = new Float32Array([0.5, -1, 2]);
    const xb = new Float32Array([1, 0, -0.5, 0.25, 3]);
    const inputs = [new lib.Tensor(xa, [1, 3]), new lib.Tensor(xb, [1, 5])];
    const outs = await compiled.run(inputs);
    const got = Array.from(outs[0].toTypedArray() as Float32Array);
    [...inputs, ...outs].forEach((t) => t.delete());
    compiled.delete();
    const ref = tf.tidy(() => Array.from((m.predict([tf.tensor([Array.from(xa)]), tf.tensor([Array.from(xb)])]) as tf.Tensor).dataSync()));
    got.forEach((v, i) => expect(Math.abs(v - ref[i])).toBeLessThan(1e-5));
  });

  it('writes a schema v3 file with the TFL3 identifier, an empty buffer 0 and 16-byte aligned buffers', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 130 }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    made.add(m);
    const { bytes } = exportTflite(m, { quant: 'none', sparse: 'never' });
    const info = readTflite(bytes);
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe('TFL3');
    expect(info.version).toBe(3);
    expect(info.buffers[0].length).toBe(0);
    const data = info.buffers.slice(1).filter((b) => b.length > 0);
    expect(data.length).toBeGreaterThanOrEqual(4);
    for (const b of data) expect(b.offset % 16).toBe(0);
    for (const c of info.operatorCodes) expect(c.deprecatedBuiltinCode).toBe(Math.min(c.builtinCode, 127));
    expect(info.tensors[info.inputs[0]].shape).toEqual([1, 3]);
  });
});

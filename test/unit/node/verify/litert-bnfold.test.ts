/**
 * BatchNormalization folding at TF Lite export, checked in LiteRT: where BN follows a conv /
 * depthwise / dense op alone, its MUL + ADD vanish into that op's weights and bias (and a ReLU6
 * after it still fuses); elsewhere it stays as MUL + ADD. Statistics are deliberately far from the
 * identity (means up to +-3, variances 1e-2..10, gammas of both signs), so a wrong fold shows.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../../src-main/engine/data';
import { exportTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { samplesFor } from './helpers';

/** Each test's models, freed when it ends (seedBnWeights registers them). */
const made: tf.LayersModel[] = [];
afterEach(() => made.splice(0).forEach((m) => m.dispose()));

/** Random weights; BN statistics spread over realistic ranges. */
function seedBnWeights(model: tf.LayersModel, seed = 5): void {
  made.push(model);
  const rand = seededRandom(seed);
  const u = (a: number, b: number) => a + (b - a) * rand();
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const fresh = layer.weights.map((w) => {
      const n = w.shape.reduce<number>((a, d) => a * (d ?? 1), 1);
      const short = w.originalName.split('/').pop();
      const v = Float32Array.from({ length: n }, () => {
        if (short === 'moving_variance') return Math.exp(u(Math.log(1e-2), Math.log(10)));
        if (short === 'moving_mean') return u(-3, 3);
        if (short === 'gamma') return (rand() < 0.2 ? -1 : 1) * u(0.3, 2);
        if (short === 'beta') return u(-1, 1);
        return u(-0.5, 0.5);
      });
      return tf.tensor(v, w.shape as number[]);
    });
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
}

/** Float32 export must match tfjs within 1e-4 (relative to the output scale when outputs exceed 1). */
async function expectFloatMatch(m: tf.LayersModel, shape: number[]): Promise<string[]> {
  const { bytes, ops } = exportTflite(m, { quant: 'none', sparse: 'never' });
  const s = samplesFor(shape, 6, 9);
  const scale = tf.tidy(() => Math.max(1, (m.predict(tf.tensor(s.x, [6, ...shape])) as tf.Tensor).abs().max().dataSync()[0]));
  const r = await verifyTflite(bytes, m, s, { latencyRuns: 0, thresholds: { maxAbsDiff: 1e-4 * scale } });
  if (process.env.TOPIARY_TEST_VERBOSE) console.log(`float32 max |tflite - tfjs| = ${r.maxAbsDiff} (output scale ${scale})`);
  expect(r.reason).toBeUndefined();
  expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4 * scale);
  expect(r.top1Agreement).toBe(1);
  return ops.map((o) => o.op);
}

/** Full-int8 export (float I/O) runs in LiteRT and agrees with the float model. */
async function expectInt8Verifies(m: tf.LayersModel, shape: number[]): Promise<void> {
  const calib = samplesFor(shape, 32, 21).x;
  const { bytes, ops } = exportTflite(m, { quant: 'int8', calibration: calib });
  expect(ops[0].op).toBe('QUANTIZE');
  const r = await verifyTflite(bytes, m, samplesFor(shape, 16, 22), { latencyRuns: 0 });
  expect(r.reason).toBeUndefined();
  expect(r.passed).toBe(true);
  if (process.env.TOPIARY_TEST_VERBOSE) console.log(`int8 top-1 agreement ${r.top1Agreement}, max diff ${r.maxAbsDiff}`);
}

function bn(name: string, extra: Partial<Parameters<typeof tf.layers.batchNormalization>[0]> = {}) {
  return tf.layers.batchNormalization({ name, ...extra });
}

describe('BatchNormalization folding in the TF Lite export', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  it('Conv2D (no bias) -> BN -> ReLU6 becomes one CONV_2D with a bias and fused RELU6', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [7, 7, 3], filters: 5, kernelSize: 3, padding: 'same', useBias: false, name: 'conv' }),
        bn('bn'),
        tf.layers.reLU({ maxValue: 6, name: 'relu6' }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.dense({ units: 4, name: 'head' }),
      ],
    });
    seedBnWeights(m);
    const { notes } = exportTflite(m, { quant: 'none' });
    expect(notes).toContain('layer "bn" folded into "conv"');
    expect(await expectFloatMatch(m, [7, 7, 3])).toEqual(['CONV_2D', 'MEAN', 'FULLY_CONNECTED']);
    await expectInt8Verifies(m, [7, 7, 3]);
  });

  it('DepthwiseConv2D (multiplier 2) -> BN folds along the last filter axis', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.depthwiseConv2d({ inputShape: [6, 6, 3], kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'dw' }),
        bn('bn'),
        tf.layers.reLU({ name: 'relu' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 3, name: 'head' }),
      ],
    });
    seedBnWeights(m, 6);
    expect(await expectFloatMatch(m, [6, 6, 3])).toEqual(['DEPTHWISE_CONV_2D', 'RESHAPE', 'FULLY_CONNECTED']);
    await expectInt8Verifies(m, [6, 6, 3]);
  });

  it('Dense -> BN folds, also with center and scale off (no beta, no gamma) and twice in a row', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [8], units: 6, name: 'd1' }),
        bn('bn1'),
        tf.layers.dense({ units: 5, useBias: false, name: 'd2' }),
        bn('bn2', { center: false, scale: false }),
        tf.layers.dense({ units: 4, name: 'd3' }),
        bn('bn3', { center: false }),
        tf.layers.dense({ units: 3, name: 'd4' }),
        bn('bn4', { scale: false }),
        bn('bn5'), // a second BN in a row folds into the same op
      ],
    });
    seedBnWeights(m, 7);
    expect(m.getLayer('bn2').weights.map((w) => w.originalName.split('/').pop())).toEqual(['moving_mean', 'moving_variance']);
    expect(await expectFloatMatch(m, [8])).toEqual(['FULLY_CONNECTED', 'FULLY_CONNECTED', 'FULLY_CONNECTED', 'FULLY_CONNECTED']);
    await expectInt8Verifies(m, [8]);
  });

  it('BN after an Add, after the model input, after an activated conv, or on a shared conv output stays MUL + ADD', async () => {
    const inp = tf.input({ shape: [6, 6, 3] });
    const bnIn = bn('bn_input').apply(inp) as tf.SymbolicTensor; // reads the input: nothing to fold into
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'a' }).apply(bnIn) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 1, activation: 'relu', name: 'b' }).apply(bnIn) as tf.SymbolicTensor;
    const bnB = bn('bn_relu').apply(b) as tf.SymbolicTensor; // the clamp comes before the BN
    const sum = tf.layers.add({ name: 'sum' }).apply([a, bnB]) as tf.SymbolicTensor;
    const bnSum = bn('bn_add').apply(sum) as tf.SymbolicTensor;
    // `a` also feeds `sum`; a Dropout in between hides that from the Keras graph, not from the IR.
    const drop = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(a) as tf.SymbolicTensor;
    const bnShared = bn('bn_shared').apply(drop) as tf.SymbolicTensor;
    const cat = tf.layers.concatenate({ name: 'cat' }).apply([bnSum, bnShared]) as tf.SymbolicTensor;
    const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(cat) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4, name: 'head' }).apply(gap) as tf.SymbolicTensor;
    const m = tf.model({ inputs: inp, outputs: out });
    seedBnWeights(m, 8);
    const { ops, notes } = exportTflite(m, { quant: 'none' });
    expect(notes.filter((n) => n.includes('folded'))).toEqual([]);
    for (const layer of ['bn_input', 'bn_relu', 'bn_add', 'bn_shared']) expect(ops.filter((o) => o.layer === layer).map((o) => o.op)).toEqual(['MUL', 'ADD']);
    await expectFloatMatch(m, [6, 6, 3]);
    await expectInt8Verifies(m, [6, 6, 3]);
  });

  it('gives the op list TF 2.21\u2019s own converter gives for Conv-BN-ReLU6, DepthwiseConv-BN, GAP, Dense-BN', async () => {
    // tf.lite.TFLiteConverter on the Keras twin of this model: CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED.
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [7, 7, 3], filters: 5, kernelSize: 3, padding: 'same', useBias: false }),
        bn('bn0'),
        tf.layers.reLU({ maxValue: 6 }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }),
        bn('bn1'),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 4 }),
        bn('bn2'),
      ],
    });
    seedBnWeights(m, 10);
    expect(await expectFloatMatch(m, [7, 7, 3])).toEqual(['CONV_2D', 'DEPTHWISE_CONV_2D', 'MEAN', 'FULLY_CONNECTED']);
  });

  it('a MobileNetV2-like stack loses every BN op', () => {
    const inp = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(inp) as tf.SymbolicTensor;
    x = bn('bn0').apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ maxValue: 6 }).apply(x) as tf.SymbolicTensor;
    for (let i = 0; i < 3; i++) {
      let h = tf.layers.conv2d({ filters: 16, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
      h = tf.layers.reLU({ maxValue: 6 }).apply(bn(`bn_e${i}`).apply(h) as tf.SymbolicTensor) as tf.SymbolicTensor;
      h = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }).apply(h) as tf.SymbolicTensor;
      h = tf.layers.reLU({ maxValue: 6 }).apply(bn(`bn_d${i}`).apply(h) as tf.SymbolicTensor) as tf.SymbolicTensor;
      h = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false }).apply(h) as tf.SymbolicTensor;
      h = bn(`bn_p${i}`).apply(h) as tf.SymbolicTensor;
      x = tf.layers.add().apply([x, h]) as tf.SymbolicTensor;
    }
    const m = tf.model({ inputs: inp, outputs: tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor });
    seedBnWeights(m, 9);
    const ops = exportTflite(m, { quant: 'none' }).ops.map((o) => o.op);
    expect(ops.filter((o) => o === 'MUL')).toHaveLength(0);
    expect(ops.filter((o) => o === 'ADD')).toHaveLength(3); // the residual adds only
    expect(ops.filter((o) => o === 'RELU6')).toHaveLength(0); // all fused into the convs
    expect(ops).toHaveLength(1 + 3 * 4 + 1);
  });
});

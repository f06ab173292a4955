import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { exportTflite } from '../../../../../src-main/engine/export/tflite/index';
import { checkSparseEligibility, type SparseRuleId } from '../../../../../src-main/engine/export/tflite/sparse-check';

interface NetOptions {
  samePadding?: boolean;
  flatten?: boolean;
  maxPool?: boolean;
  sideBranch?: boolean;
  sparsity?: number;
}

/** A MobileNet-like trunk built to XNNPACK's sparse rules, with one rule broken per option. */
function net(o: NetOptions = {}): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  let x: tf.SymbolicTensor = input;
  if (o.samePadding) x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  else {
    x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'valid', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  const mid = tf.layers.conv2d({ filters: 32, kernelSize: 1, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = o.maxPool ? (tf.layers.maxPooling2d({ poolSize: 2 }).apply(mid) as tf.SymbolicTensor) : mid;
  x = tf.layers.conv2d({ filters: 32, kernelSize: 1, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
  x = (o.flatten ? tf.layers.flatten() : tf.layers.globalAveragePooling2d({})).apply(x) as tf.SymbolicTensor;
  if (o.sideBranch) {
    const side = tf.layers.flatten().apply(tf.layers.maxPooling2d({ poolSize: 8 }).apply(mid)) as tf.SymbolicTensor;
    x = tf.layers.concatenate().apply([x, side]) as tf.SymbolicTensor;
  }
  const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // Magnitude-prune the 1x1 convolutions to the given sparsity.
  const sparsity = o.sparsity ?? 0.9;
  for (const l of model.layers) {
    if (l.getClassName() !== 'Conv2D' || (l.getWeights()[0].shape[0] as number) !== 1) continue;
    const [k, b] = l.getWeights();
    const v = k.dataSync().slice();
    const sorted = Float32Array.from(v, Math.abs).sort();
    const threshold = sorted[Math.floor(sorted.length * sparsity)];
    for (let i = 0; i < v.length; i++) if (Math.abs(v[i]) < threshold) v[i] = 0;
    const pruned = tf.tensor(v, k.shape);
    l.setWeights([pruned, b]);
    pruned.dispose();
  }
  return model;
}

const models: tf.LayersModel[] = [];
function failed(o: NetOptions, exportOpts: Parameters<typeof exportTflite>[1] = { quant: 'none' }): SparseRuleId[] {
  const m = net(o);
  models.push(m);
  const r = checkSparseEligibility(exportTflite(m, exportOpts).bytes);
  for (const rule of r.rules) if (!rule.passed) expect(rule.fix, rule.id).toBeTruthy();
  return r.rules.filter((x) => !x.passed).map((x) => x.id);
}
// Each test's models are freed when it ends (the global tensor-leak check counts them).
afterEach(() => models.splice(0).forEach((m) => m.dispose()));

describe('checkSparseEligibility', () => {
  it('passes a net built to the rules, exported float32 with sparse 1x1 weights', () => {
    const m = net();
    models.push(m);
    const exported = exportTflite(m, { quant: 'none' });
    expect(exported.ops.filter((o) => o.op === 'DENSIFY').length).toBeGreaterThanOrEqual(2);
    const r = checkSparseEligibility(exported.bytes);
    expect(r.rules.filter((x) => !x.passed)).toEqual([]);
    expect(r.eligible).toBe(true);
    expect(r.zeroFraction).toBeGreaterThan(0.85);
  });

  it('fails each rule on a net built to break it, and only that one', () => {
    expect(failed({}, { quant: 'none', sparse: 'never' })).toEqual(['weights-stored-sparse']);
    expect(failed({ samePadding: true })).toEqual(['starts-with-3x3-stride-2-conv']);
    expect(failed({ maxPool: true })).toEqual(['ops-between']);
    expect(failed({ sideBranch: true })).toEqual(['consumers-inside']);
    expect(failed({ sparsity: 0.5 }, { quant: 'none', sparse: 'always' })).toEqual(['zeros-in-1x1']);
    // No spatial mean: the check stops there (no cluster to judge).
    expect(failed({ flatten: true })).toEqual(['ends-in-spatial-mean']);
  });

  it('fails a full-int8 file on the float rule (and its weights are not stored sparse)', () => {
    const m = net();
    models.push(m);
    const calibration = Float32Array.from({ length: 8 * 16 * 16 * 3 }, (_, i) => (i % 97) / 97);
    const r = checkSparseEligibility(exportTflite(m, { quant: 'int8', calibration }).bytes);
    expect(r.rules.filter((x) => !x.passed).map((x) => x.id)).toEqual(['float', 'weights-stored-sparse']);
    expect(r.rules[0].fix).toMatch(/float32 or float16/);
  });

  it('names a SAME-padded depthwise convolution as the op that breaks the cluster', () => {
    const input = tf.input({ shape: [16, 16, 3] });
    let x = tf.layers.zeroPadding2d({ padding: 1 }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ filters: 16, kernelSize: 1 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: x });
    models.push(m);
    const r = checkSparseEligibility(exportTflite(m, { quant: 'none', sparse: 'always' }).bytes);
    const between = r.rules.find((x) => x.id === 'ops-between')!;
    expect(between.passed).toBe(false);
    expect(between.detail).toMatch(/DEPTHWISE_CONV_2D: TF SAME padding/);
  });
});

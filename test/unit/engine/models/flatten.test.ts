import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { exportTflite } from '../../../../src-main/engine/export/tflite/index';
import { buildDependencyGraph } from '../../../../src-main/engine/graph/depgraph';
import { flattenModel, hasNestedModels } from '../../../../src-main/engine/models/flatten';
import { handFlattened, leafLayers, teachableMachineModel } from '../../../fixtures/nested-models';
import { keepTensors } from '../../../support/tensor-leaks';

/** Disposing a nested tfjs model leaves its inner model's weights allocated (a tfjs quirk the flat model avoids). */
const NESTED_DISPOSE_LEAK = 'disposing a nested tfjs model leaves its inner weights allocated';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const isModel = (l: tf.layers.Layer) => l instanceof tf.LayersModel;

describe('flattenModel', () => {
  it('turns the Teachable-Machine-shaped nesting into one flat graph with identical predictions', () => {
    keepTensors(NESTED_DISPOSE_LEAK);
    const nested = teachableMachineModel();
    const hand = handFlattened(nested);
    const before = tf.memory().numTensors;
    const { model: flat, flattened, sources } = flattenModel(nested);
    expect(flattened).toBe(true);
    expect(flat.layers.some(isModel)).toBe(false);
    expect(flat.layers.every((l) => l.inboundNodes.length === 1)).toBe(true);
    expect(flat.layers.map((l) => l.name).sort()).toEqual(hand.layers.map((l) => l.name).sort());
    expect(flat.countParams()).toBe(nested.countParams());
    expect(sources.get('Conv1')).toBe('sequential_1/mobilenet/Conv1');
    expect(sources.get('global_average_pooling2d')).toBe('sequential_1/global_average_pooling2d');
    expect(sources.get('dense_Dense2')).toBe('sequential_3/dense_Dense2');
    // BatchNorm moving statistics (non-trainable) came across.
    const bn = flat.getLayer('block_2_project_BN').getWeights();
    const want = leafLayers(nested).get('block_2_project_BN')!.getWeights();
    expect(bn.length).toBe(4);
    bn.forEach((w, i) => expect(maxDiff(w, want[i])).toBe(0));
    const x = tf.randomUniform([4, 32, 32, 3], -1, 1, 'float32', 5);
    const [yn, yf, yh] = [nested, flat, hand].map((m) => m.predict(x) as tf.Tensor);
    expect(maxDiff(yn, yf)).toBeLessThan(1e-6);
    expect(maxDiff(yh, yf)).toBeLessThan(1e-6);
    tf.dispose([yf, yh]);
    // The flat model owns its weights: disposing it frees exactly what flattening made, and the
    // original still predicts. (Disposing a nested tfjs Sequential itself leaks its head's weights,
    // a tfjs quirk the flat model avoids, so the count is taken around the flattening only.)
    flat.dispose();
    expect(tf.memory().numTensors).toBe(before + 2); // x and yn, kept for the check below
    const again = nested.predict(x) as tf.Tensor;
    expect(maxDiff(again, yn)).toBe(0);
    tf.dispose([x, yn, again]);
    [hand, nested].forEach((m) => m.dispose());
  });

  it('the flat model lowers to TF Lite with the same ops as the hand-flattened copy, and its graph has prunable groups', () => {
    keepTensors(NESTED_DISPOSE_LEAK);
    const nested = teachableMachineModel();
    const hand = handFlattened(nested);
    const flat = flattenModel(nested).model;
    const opsOf = (m: tf.LayersModel) => exportTflite(m, { quant: 'none' }).ops.map((o) => `${o.layer}:${o.op}`);
    expect(opsOf(flat)).toEqual(opsOf(hand));
    // A nested model built in memory (not through loadModel) is lowered flat too, leaking nothing.
    const before = tf.memory().numTensors;
    expect(opsOf(nested)).toEqual(opsOf(hand));
    expect(tf.memory().numTensors).toBe(before);
    expect(opsOf(flat)).toEqual(expect.arrayContaining(['expanded_conv_add:ADD', 'block_1_depthwise:DEPTHWISE_CONV_2D']));
    const g = buildDependencyGraph(flat);
    const gh = buildDependencyGraph(hand);
    expect(g.groups.filter((gr) => !gr.fixed).length).toBeGreaterThan(0);
    expect(g.groups.map((gr) => gr.fixed)).toEqual(gh.groups.map((gr) => gr.fixed));
    [flat, hand, nested].forEach((m) => m.dispose());
  });

  it('a nested functional model whose input has another name, behind an explicit InputLayer, clashing names prefixed', () => {
    keepTensors(NESTED_DISPOSE_LEAK);
    const innerIn = tf.input({ shape: [6], name: 'inner_input' });
    const innerDense = tf.layers.dense({ units: 4, activation: 'relu', name: 'dense' }).apply(innerIn) as tf.SymbolicTensor;
    const innerOut = tf.layers.dense({ units: 4, name: 'proj' }).apply(innerDense) as tf.SymbolicTensor;
    const block = tf.model({ inputs: innerIn, outputs: tf.layers.add({ name: 'skip' }).apply([innerDense, innerOut]) as tf.SymbolicTensor, name: 'block' });
    // Input-only wrapper: a Sequential that is nothing but an InputLayer in front of the block.
    const wrapper = tf.sequential({ name: 'wrapper', layers: [tf.layers.inputLayer({ inputShape: [6], name: 'wrapper_input' }), block] });
    const x = tf.input({ shape: [6], name: 'features' });
    const h = wrapper.apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2, name: 'dense' }).apply(h) as tf.SymbolicTensor;
    const outer = tf.model({ inputs: x, outputs: out, name: 'outer' });
    expect(hasNestedModels(outer)).toBe(true);
    const { model: flat, sources } = flattenModel(outer);
    expect(flat.layers.map((l) => l.name)).toEqual(['features', 'block_dense', 'proj', 'skip', 'dense_1']);
    expect(flat.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Dense', 'Dense', 'Add', 'Dense']);
    expect(sources.get('block_dense')).toBe('wrapper/block/dense');
    expect(sources.get('dense_1')).toBe('dense');
    const v = tf.randomNormal([3, 6], 0, 1, 'float32', 2);
    const [a, b] = [outer, flat].map((m) => m.predict(v) as tf.Tensor);
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([v, a, b]);
    flat.dispose();
    outer.dispose();
  });

  it('keeps a frozen nested model frozen and expands three levels deep', () => {
    const l3 = tf.sequential({ name: 'level3', layers: [tf.layers.dense({ inputShape: [4], units: 3, name: 'deep' })] });
    const l2 = tf.sequential({ name: 'level2', layers: [l3, tf.layers.dense({ units: 3, name: 'mid' })] });
    l2.trainable = false;
    const l1 = tf.sequential({ name: 'level1', layers: [l2, tf.layers.dense({ units: 2, name: 'top' })] });
    const { model: flat, sources } = flattenModel(l1);
    expect(sources.get('deep')).toBe('level2/level3/deep');
    expect(flat.getLayer('deep').trainable).toBe(false);
    expect(flat.getLayer('mid').trainable).toBe(false);
    expect(flat.getLayer('top').trainable).toBe(true);
    expect(flat.trainableWeights.length).toBe(l1.trainableWeights.length);
    flat.dispose();
    l1.dispose();
  });

  it('a nested model applied twice stays shared, so export refuses it naming the shared layer', () => {
    keepTensors(NESTED_DISPOSE_LEAK);
    const encIn = tf.input({ shape: [5], name: 'enc_in' });
    const encoder = tf.model({ inputs: encIn, outputs: tf.layers.dense({ units: 3, name: 'embed' }).apply(encIn) as tf.SymbolicTensor, name: 'encoder' });
    const a = tf.input({ shape: [5], name: 'a' });
    const b = tf.input({ shape: [5], name: 'b' });
    const sum = tf.layers.add({ name: 'sum' }).apply([encoder.apply(a) as tf.SymbolicTensor, encoder.apply(b) as tf.SymbolicTensor]) as tf.SymbolicTensor;
    const siamese = tf.model({ inputs: [a, b], outputs: sum });
    const { model: flat } = flattenModel(siamese);
    expect(flat.getLayer('embed').inboundNodes.length).toBe(2);
    const va = tf.ones([2, 5]);
    const vb = tf.fill([2, 5], 2);
    const [p, q] = [siamese, flat].map((m) => m.predict([va, vb]) as tf.Tensor);
    expect(maxDiff(p, q)).toBeLessThan(1e-6);
    expect(() => exportTflite(flat, { quant: 'none' })).toThrow(/layer "embed" \(Dense\) is called 2 times/);
    tf.dispose([va, vb, p, q]);
    flat.dispose();
    siamese.dispose();
  });

  it('a model with nothing nested comes back as the same object', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 1 })] });
    const r = flattenModel(m);
    expect(r.flattened).toBe(false);
    expect(r.model).toBe(m);
    expect(r.sources.size).toBe(0);
    m.dispose();
  });
});

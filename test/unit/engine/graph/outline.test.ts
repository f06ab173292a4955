import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { analyzeModel } from '../../../../src-main/engine/analyze';
import { modelOutline } from '../../../../src-main/engine/graph/outline';

/** input -> conv a -> conv b -> add(a, b) -> flatten -> dense out: one residual branch. */
function residual(filters: number) {
  const input = tf.input({ shape: [6, 6, 2] });
  const a = tf.layers.conv2d({ name: 'a', filters, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ name: 'b', filters, kernelSize: 3, padding: 'same' }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'sum' }).apply([a, b]) as tf.SymbolicTensor;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(sum) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'out', units: 3, activation: 'softmax' }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('modelOutline', () => {
  it('lists layers in graph order with their inputs, the merge naming both branches', () => {
    const m = residual(4);
    const o = modelOutline(analyzeModel(m), analyzeModel(m));
    m.dispose();
    expect(o.nodes.map((n) => n.name)).toEqual(['a', 'b', 'sum', 'flat', 'out']);
    expect(o.nodes.find((n) => n.name === 'sum')!.inputs).toEqual(['a', 'b']);
    // The model input is not a layer of the outline.
    expect(o.nodes[0].inputs).toEqual([]);
    expect(o.nodes.map((n) => n.widthBefore)).toEqual([4, 4, 4, 144, 3]);
  });

  it('joins original and pruned by name: widths, params and sparsity side by side', () => {
    const big = residual(4);
    const small = residual(2);
    // Zero half of the pruned model's dense kernel.
    const out = small.getLayer('out');
    const [k, bias] = out.getWeights();
    const kv = k.dataSync().slice();
    for (let i = 0; i < kv.length / 2; i++) kv[i] = 0;
    const k2 = tf.tensor(kv, k.shape);
    out.setWeights([k2, bias]);
    k2.dispose();
    const o = modelOutline(analyzeModel(big), analyzeModel(small));
    const a = o.nodes.find((n) => n.name === 'a')!;
    expect([a.widthBefore, a.widthAfter]).toEqual([4, 2]);
    expect(a.paramsBefore).toBe(3 * 3 * 2 * 4 + 4);
    expect(a.paramsAfter).toBe(3 * 3 * 2 * 2 + 2);
    const d = o.nodes.find((n) => n.name === 'out')!;
    // Only the zero-initialised biases are zeros in the original.
    expect(d.sparsityBefore).toBeLessThan(0.05);
    expect(d.sparsityAfter!).toBeGreaterThan(0.4);
    big.dispose();
    small.dispose();
  });

  it('a layer missing from the pruned model has null "after" fields', () => {
    const m = residual(2);
    const a = analyzeModel(m);
    const o = modelOutline(a, { ...a, layers: a.layers.filter((l) => l.name !== 'flat') });
    m.dispose();
    expect(o.nodes.find((n) => n.name === 'flat')).toMatchObject({ widthAfter: null, paramsAfter: null, sparsityAfter: null });
  });
});

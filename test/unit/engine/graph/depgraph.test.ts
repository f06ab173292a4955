import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDependencyGraph, keptIndices } from '../../../../src-main/engine/graph/depgraph';
import type { DependencyGraph } from '../../../../src-main/engine/graph/types';
import { lenet5 } from '../../../../src-main/engine/models/lenet';
import { keepTensors } from '../../../support/tensor-leaks';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Sym = tf.SymbolicTensor;

function groupOf(graph: DependencyGraph, producer: string) {
  const g = graph.groups.find((gr) => gr.producers.includes(producer));
  if (!g) throw new Error(`no group for ${producer}`);
  return g;
}

/** conv a -> BN -> depthwise, added to conv b (residual), concatenated with conv c, flattened into a Dense. */
function residualNet(): tf.LayersModel {
  const x = tf.input({ shape: [4, 4, 2], name: 'x' });
  const a = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'a' }).apply(x) as Sym;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(a) as Sym;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 1, name: 'dw' }).apply(bn) as Sym;
  const b = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'b' }).apply(x) as Sym;
  const add = tf.layers.add({ name: 'add' }).apply([dw, b]) as Sym;
  const c = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'c' }).apply(x) as Sym;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([add, c]) as Sym;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(cat) as Sym;
  const out = tf.layers.dense({ units: 2, name: 'out' }).apply(flat) as Sym;
  return tf.model({ inputs: x, outputs: out });
}

describe('buildDependencyGraph', () => {
  it('couples the producers of a residual Add into one group with its followers and consumers', () => {
    const model = residualNet();
    const graph = buildDependencyGraph(model);
    const ab = groupOf(graph, 'a');
    expect(ab.producers).toEqual(['a', 'b']);
    expect(ab.followers).toEqual(['bn', 'dw']);
    expect(ab.consumers).toEqual(['out']);
    expect(ab.fixed).toBeUndefined();
    expect(ab.refusals).toEqual([]);
    expect(groupOf(graph, 'c').producers).toEqual(['c']);
    expect(groupOf(graph, 'out').fixed).toMatch(/model output "out"/);
    expect(graph.groups.find((g) => g.fixed?.includes('model input'))?.consumers).toEqual(['a', 'b', 'c']);
    model.dispose();
  });

  it('maps concatenated channels through Flatten to Dense rows p*C + offset + c', () => {
    const model = residualNet();
    const graph = buildDependencyGraph(model);
    const flat = graph.node('out').inputLayouts[0];
    expect(flat.positions).toBe(16);
    // Keep channel 2 of the a+b group (3 channels) and channel 0 of c (2 channels): C = 5.
    const kept = keptIndices(graph, flat, new Map([[groupOf(graph, 'a').id, Int32Array.from([2])], [groupOf(graph, 'c').id, Int32Array.from([0])]]));
    const expected: number[] = [];
    for (let p = 0; p < 16; p++) expected.push(p * 5 + 2, p * 5 + 3);
    expect(Array.from(kept!)).toEqual(expected);
    expect(keptIndices(graph, flat, new Map())).toBeNull();
    model.dispose();
  });

  it('expands depthwise multiplier channels: input channel c owns outputs c*m .. c*m+m-1', () => {
    const x = tf.input({ shape: [4, 4, 1] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 1, name: 'a' }).apply(x) as Sym;
    const dw = tf.layers.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 2, name: 'dw' }).apply(a) as Sym;
    const gap = tf.layers.globalAveragePooling2d({}).apply(dw) as Sym;
    const model = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2, name: 'out' }).apply(gap) as Sym });
    const graph = buildDependencyGraph(model);
    const kept = keptIndices(graph, graph.node('out').inputLayouts[0], new Map([[groupOf(graph, 'a').id, Int32Array.from([0, 2])]]));
    expect(Array.from(kept!)).toEqual([0, 1, 4, 5]);
    model.dispose();
  });

  it('Sequential LeNet-5: one group per hidden layer, the input and output fixed', () => {
    const model = lenet5({ seed: 1 });
    const graph = buildDependencyGraph(model);
    const free = graph.groups.filter((g) => !g.fixed);
    expect(free.map((g) => [g.producers, g.consumers, g.size])).toEqual([
      [['conv1'], ['conv2'], 6],
      [['conv2'], ['fc1'], 16],
      [['fc1'], ['fc2'], 120],
      [['fc2'], ['fc3'], 84],
    ]);
    expect(graph.node('fc1').inputLayouts[0].positions).toBe(25);
    model.dispose();
  });

  it('refuses, by layer name, groups read by layers it cannot rewrite', () => {
    keepTensors('model.dispose() leaves a layer applied twice in one model allocated (observed with tfjs 4.22)');
    const x = tf.input({ shape: [6] });
    const shared = tf.layers.dense({ units: 4, name: 'shared' });
    const h = tf.layers.dense({ units: 4, name: 'h' }).apply(x) as Sym;
    const twice = shared.apply(shared.apply(h)) as Sym;
    const s = tf.layers.dense({ units: 5, name: 's' }).apply(twice) as Sym;
    const soft = tf.layers.softmax({ name: 'soft_mid' }).apply(s) as Sym;
    const t = tf.layers.dense({ units: 5, name: 't' }).apply(soft) as Sym;
    const act = tf.layers.activation({ activation: 'softmax', name: 'act_mid' }).apply(t) as Sym;
    const model = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2, name: 'out' }).apply(act) as Sym });
    const graph = buildDependencyGraph(model);
    expect(groupOf(graph, 'h').refusals.join()).toMatch(/layer "shared" \(Dense\): is called 2 times/);
    expect(groupOf(graph, 's').refusals.join()).toMatch(/layer "soft_mid" \(Softmax\): softmax normalizes across channels/);
    expect(groupOf(graph, 't').refusals.join()).toMatch(/layer "act_mid" \(Activation\)/);
    expect(groupOf(graph, 'out').refusals).toEqual([]);
    model.dispose();
  });

  it('refuses an Add whose inputs are split differently (a concatenation added to one conv)', () => {
    const x = tf.input({ shape: [4, 4, 2] });
    const a = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'a' }).apply(x) as Sym;
    const b = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'b' }).apply(x) as Sym;
    const cat = tf.layers.concatenate({}).apply([a, b]) as Sym;
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'c' }).apply(x) as Sym;
    const add = tf.layers.add({ name: 'mixed_add' }).apply([cat, c]) as Sym;
    const gap = tf.layers.globalAveragePooling2d({}).apply(add) as Sym;
    const model = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2 }).apply(gap) as Sym });
    const graph = buildDependencyGraph(model);
    for (const p of ['a', 'b', 'c']) expect(groupOf(graph, p).refusals.join()).toMatch(/"mixed_add" \(Add\)/);
    model.dispose();
  });
});

describe('an unprunable layer at the model output', () => {
  it('a Softmax layer after the logits Dense fixes the logits channels instead of refusing them', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [5], units: 6, activation: 'relu', name: 'hidden' }),
        tf.layers.dense({ units: 3, name: 'logits' }),
        tf.layers.softmax({ name: 'probs' }),
      ],
    });
    const g = buildDependencyGraph(m);
    expect(groupOf(g, 'logits').fixed).toMatch(/feeds model output "probs" \(Softmax\)/);
    expect(groupOf(g, 'hidden').fixed).toBeUndefined();
    expect(groupOf(g, 'hidden').refusals).toEqual([]);
    m.dispose();
  });

  it('a Softmax in the middle still refuses the channels it reads', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [5], units: 6, name: 'scores' }),
        tf.layers.softmax({ name: 'attend' }),
        tf.layers.dense({ units: 2, name: 'out' }),
      ],
    });
    const g = buildDependencyGraph(m);
    expect(groupOf(g, 'scores').fixed).toBeUndefined();
    expect(groupOf(g, 'scores').refusals.join(' ')).toMatch(/softmax normalizes across channels/);
    m.dispose();
  });
});

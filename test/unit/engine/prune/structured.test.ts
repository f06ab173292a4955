import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedLayerError } from '../../../../src-main/common/errors';
import { seededRandom, type DataSplit } from '../../../../src-main/engine/data';
import { modelMacs } from '../../../../src-main/engine/graph/cost';
import { smallFunctionalNet } from '../../../../src-main/engine/models/functional';
import { lenet300100, lenet5 } from '../../../../src-main/engine/models/lenet';
import { applyStructuredPlan, applyStructuredSteps, pruneStructured } from '../../../../src-main/engine/prune/structured';
import type { StructuredStep } from '../../../../src-main/engine/prune/types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

type Sym = tf.SymbolicTensor;

/**
 * Functional net with every coupling the graph handles: conv -> BN -> ReLU -> depthwise (x2) -> BN
 * -> 1x1 conv -> BN, a residual Add joining c1 and c2, a Concatenate with a second branch, then
 * GlobalAveragePooling -> Dense and MaxPool -> Flatten -> Dense, and a final concat -> Dense.
 */
function richNet(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 3], name: 'x' });
  const c1 = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c1' }).apply(x) as Sym;
  const bn1 = tf.layers.batchNormalization({ name: 'bn1' }).apply(c1) as Sym;
  const a = tf.layers.reLU({ name: 'relu1' }).apply(bn1) as Sym;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'dw' }).apply(a) as Sym;
  const bn2 = tf.layers.batchNormalization({ name: 'bn2' }).apply(dw) as Sym;
  const c2 = tf.layers.conv2d({ filters: 8, kernelSize: 1, name: 'c2' }).apply(bn2) as Sym;
  const bn3 = tf.layers.batchNormalization({ name: 'bn3' }).apply(c2) as Sym;
  const res = tf.layers.add({ name: 'res' }).apply([a, bn3]) as Sym;
  const c3 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c3' }).apply(x) as Sym;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([res, c3]) as Sym;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(cat) as Sym;
  const d1 = tf.layers.dense({ units: 10, activation: 'relu', name: 'd1' }).apply(gap) as Sym;
  const pool = tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(cat) as Sym;
  const flat = tf.layers.flatten({ name: 'flat' }).apply(pool) as Sym;
  const d2 = tf.layers.dense({ units: 5, activation: 'relu', name: 'd2' }).apply(flat) as Sym;
  const drop = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(d2) as Sym;
  const cat2 = tf.layers.concatenate({ name: 'cat2' }).apply([d1, drop]) as Sym;
  const out = tf.layers.dense({ units: 3, name: 'out' }).apply(cat2) as Sym;
  return tf.model({ inputs: x, outputs: out, name: 'rich' });
}

/** Rewrites a layer's weights in place: `edit(values, shapes)` mutates the flat arrays. */
function editWeights(model: tf.LayersModel, name: string, edit: (values: Float32Array[], shapes: number[][]) => void): void {
  const layer = model.getLayer(name);
  const ws = layer.getWeights();
  const values = ws.map((w) => Float32Array.from(w.dataSync()));
  const shapes = ws.map((w) => w.shape);
  edit(values, shapes);
  const next = values.map((v, i) => tf.tensor(v, shapes[i]));
  layer.setWeights(next);
  next.forEach((t) => t.dispose());
}

/** Zeroes every entry whose index along the last axis is in `channels`. */
function zeroLast(v: Float32Array, shape: number[], channels: number[]): void {
  const n = shape[shape.length - 1];
  for (let i = 0; i < v.length; i++) if (channels.includes(i % n)) v[i] = 0;
}

const DEAD = { c1c2: [1, 5], c3: [2], d1: [3, 7], d2: [4] };

/** richNet with random biases and BN statistics, and the DEAD channels made exactly zero everywhere. */
function richNetWithDeadChannels(): tf.LayersModel {
  const model = richNet();
  const rand = seededRandom(42);
  const fill = (v: Float32Array, lo: number, hi: number): void => {
    for (let i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * rand();
  };
  for (const bn of ['bn1', 'bn2', 'bn3']) {
    editWeights(model, bn, ([gamma, beta, mean, variance]) => {
      fill(gamma, 0.5, 1.5);
      fill(beta, -0.5, 0.5);
      fill(mean, -0.5, 0.5);
      fill(variance, 0.5, 1.5);
    });
  }
  // Seeded kernels too: tfjs initializers differ per process, and a draw where some Dense layer's
  // ReLUs never fire on the test data would make gradient-based scores all zero (a flaky test).
  for (const layer of ['c1', 'dw', 'c2', 'c3', 'd1', 'd2', 'out']) editWeights(model, layer, ([kernel]) => fill(kernel, -0.4, 0.4));
  for (const layer of ['c1', 'dw', 'c2', 'c3', 'd1', 'd2', 'out']) editWeights(model, layer, ([, bias]) => fill(bias, -0.3, 0.3));
  const dwChannels = DEAD.c1c2.flatMap((c) => [2 * c, 2 * c + 1]);
  for (const layer of ['c1', 'c2']) editWeights(model, layer, (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], DEAD.c1c2)));
  for (const bn of ['bn1', 'bn3']) editWeights(model, bn, ([g, b], shapes) => [g, b].forEach((v) => zeroLast(v, shapes[0], DEAD.c1c2)));
  // Depthwise kernel [3,3,8,2]: input channel c feeds outputs 2c, 2c+1.
  editWeights(model, 'dw', ([kernel, bias], shapes) => {
    const [, , cin, m] = shapes[0];
    for (let i = 0; i < kernel.length; i++) if (DEAD.c1c2.includes(Math.floor(i / m) % cin)) kernel[i] = 0;
    zeroLast(bias, shapes[1], dwChannels);
  });
  editWeights(model, 'bn2', ([g, b], shapes) => [g, b].forEach((v) => zeroLast(v, shapes[0], dwChannels)));
  editWeights(model, 'c3', (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], DEAD.c3)));
  editWeights(model, 'd1', (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], DEAD.d1)));
  editWeights(model, 'd2', (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], DEAD.d2)));
  return model;
}

function maxAbsDiff(a: tf.LayersModel, b: tf.LayersModel, input: tf.Tensor): number {
  return tf.tidy(() => {
    const ya = a.predict(input) as tf.Tensor;
    const yb = b.predict(input) as tf.Tensor;
    expect(yb.shape).toEqual(ya.shape);
    return tf.max(tf.abs(tf.sub(ya, yb))).dataSync()[0];
  });
}

function sameWeights(a: tf.LayersModel, b: tf.LayersModel): void {
  const wa = a.getWeights();
  const wb = b.getWeights();
  expect(wb.length).toBe(wa.length);
  wa.forEach((w, i) => {
    expect(wb[i].shape).toEqual(w.shape);
    expect(Array.from(wb[i].dataSync())).toEqual(Array.from(w.dataSync()));
  });
}

describe('pruneStructured', () => {
  it('structured pruning of dead channels keeps outputs identical on a functional net with BN, depthwise, Add and Concatenate', async () => {
    const model = richNetWithDeadChannels();
    const input = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 7);
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.25 });

    const removed = Object.fromEntries(plan.groups.map((g) => [g.producers.join('+'), g.removed]));
    expect(removed).toEqual({ 'c1+c2': DEAD.c1c2, c3: DEAD.c3, d1: DEAD.d1, d2: DEAD.d2 });
    expect(maxAbsDiff(model, pruned, input)).toBeLessThanOrEqual(1e-5);
    expect((pruned.getLayer('dw').getWeights()[0]).shape).toEqual([3, 3, 6, 2]);
    expect((pruned.getLayer('d2').getWeights()[0]).shape).toEqual([4 * 4 * 11, 4]);
    // Control: removing live channels instead does change the outputs.
    const { model: wrong } = await pruneStructured(model, { sparsity: 0.25, criterion: 'random', seed: 3 });
    expect(maxAbsDiff(model, wrong, input)).toBeGreaterThan(1e-3);
    wrong.dispose();
    input.dispose();
    pruned.dispose();
    model.dispose();
  });

  it('separable convolutions: dead input channels and dead filters are removed with outputs identical', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv' }),
        tf.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 2, activation: 'relu', name: 'sep' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 3, name: 'head' }),
      ],
    });
    editWeights(model, 'conv', (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], [0, 3])));
    editWeights(model, 'sep', ([, pointwise, bias], shapes) => {
      zeroLast(pointwise, shapes[1], [1, 2, 4]);
      zeroLast(bias, shapes[2], [1, 2, 4]);
    });
    const input = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 1);
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.5 });
    expect(plan.groups.map((g) => g.removed)).toEqual([[0, 3], [1, 2, 4]]);
    expect(pruned.getLayer('sep').getWeights().map((w) => w.shape)).toEqual([[3, 3, 2, 2], [1, 1, 4, 3], [3]]);
    expect(maxAbsDiff(model, pruned, input)).toBeLessThanOrEqual(1e-5);
    input.dispose();
    pruned.dispose();
    model.dispose();
  });

  it('Reshape into Dense (flattening or keeping the channel axis) is rewritten and keeps outputs identical', async () => {
    const x = tf.input({ shape: [4, 4, 2] });
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv' }).apply(x) as Sym;
    const flat = tf.layers.reshape({ targetShape: [64], name: 'to_flat' }).apply(c) as Sym;
    const rows = tf.layers.reshape({ targetShape: [16, 4], name: 'to_rows' }).apply(c) as Sym;
    const pooled = tf.layers.globalAveragePooling1d({}).apply(rows) as Sym;
    const both = tf.layers.concatenate({}).apply([tf.layers.dense({ units: 3, name: 'a' }).apply(flat) as Sym, tf.layers.dense({ units: 3, name: 'b' }).apply(pooled) as Sym]) as Sym;
    const model = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2, name: 'head' }).apply(both) as Sym });
    editWeights(model, 'conv', (vs, shapes) => vs.forEach((v, i) => zeroLast(v, shapes[i], [1, 2])));
    const input = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 3);
    const { model: pruned } = await pruneStructured(model, { sparsity: 0.5, perLayer: { a: 0, b: 0 } });
    expect(pruned.getLayer('a').getWeights()[0].shape).toEqual([32, 3]);
    expect(pruned.getLayer('to_rows').outputShape).toEqual([null, 16, 2]);
    expect(maxAbsDiff(model, pruned, input)).toBeLessThanOrEqual(1e-5);
    input.dispose();
    pruned.dispose();
    model.dispose();
  });

  it('parameter count and MACs drop as computed by hand', async () => {
    const model = richNetWithDeadChannels();
    const { model: pruned, report } = await pruneStructured(model, { sparsity: 0.25 });
    // Layer by layer: c1, bn1, dw (x2), bn2, c2, bn3, c3, d1 (gap of cat), d2 (flatten 4x4xcat), out.
    const paramsBefore = (27 * 8 + 8) + 4 * 8 + (9 * 8 * 2 + 16) + 4 * 16 + (16 * 8 + 8) + 4 * 8 + (27 * 6 + 6) + (14 * 10 + 10) + (16 * 14 * 5 + 5) + (15 * 3 + 3);
    const paramsAfter = (27 * 6 + 6) + 4 * 6 + (9 * 6 * 2 + 12) + 4 * 12 + (12 * 6 + 6) + 4 * 6 + (27 * 5 + 5) + (11 * 8 + 8) + (16 * 11 * 4 + 4) + (12 * 3 + 3);
    const macsBefore = 64 * (27 * 8 + 9 * 8 * 2 + 16 * 8 + 27 * 6) + 14 * 10 + 16 * 14 * 5 + 15 * 3;
    const macsAfter = 64 * (27 * 6 + 9 * 6 * 2 + 12 * 6 + 27 * 5) + 11 * 8 + 16 * 11 * 4 + 12 * 3;
    expect(report).toEqual({
      unitsRemovedFraction: (2 + 1 + 2 + 1) / (8 + 6 + 10 + 5),
      paramsBefore,
      paramsAfter,
      macsBefore,
      macsAfter,
    });
    expect(pruned.countParams()).toBe(paramsAfter);
    pruned.dispose();
    model.dispose();
  });

  it('never removes the output layer units', async () => {
    const model = lenet300100({ seed: 3 });
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.9, scope: 'global' });
    expect(plan.groups.some((g) => g.producers.includes('fc3'))).toBe(false);
    expect(pruned.getLayer('fc3').getWeights()[1].shape).toEqual([10]);
    expect(pruned.outputs[0].shape).toEqual([null, 10]);
    await expect(pruneStructured(model, { sparsity: 0.5, perLayer: { fc3: 0.5 } })).rejects.toThrow(/fc3.*model output/);
    pruned.dispose();
    model.dispose();
  });

  it('LeNet-5 at 50% of filters/units: MACs drop to 0.32x, as computed by hand', async () => {
    const model = lenet5({ seed: 1 });
    const { model: pruned, report } = await pruneStructured(model, { sparsity: 0.5 });
    expect(report.macsBefore).toBe(416_520);
    const after = 28 * 28 * 25 * 3 + 10 * 10 * 25 * 3 * 8 + 5 * 5 * 8 * 60 + 60 * 42 + 42 * 10;
    expect(report.macsAfter).toBe(after);
    expect(report.macsAfter / report.macsBefore).toBeLessThanOrEqual(0.5);
    expect(report.unitsRemovedFraction).toBe(0.5);
    expect(modelMacs(pruned)).toBe(after);
    const y = tf.tidy(() => (pruned.predict(tf.ones([2, 28, 28, 1])) as tf.Tensor).shape);
    expect(y).toEqual([2, 10]);
    pruned.dispose();
    model.dispose();
  });

  it('LeNet-300-100 at 50% of units: MACs at most 0.5x', async () => {
    const model = lenet300100({ seed: 1 });
    const { model: pruned, report } = await pruneStructured(model, { sparsity: 0.5, criterion: 'magnitude', norm: 'l1' });
    expect(report.macsBefore).toBe(266_200);
    expect(report.macsAfter).toBe(784 * 150 + 150 * 50 + 50 * 10);
    expect(report.macsAfter / report.macsBefore).toBeLessThanOrEqual(0.5);
    expect(report.paramsAfter).toBe(784 * 150 + 150 + 150 * 50 + 50 + 50 * 10 + 10);
    pruned.dispose();
    model.dispose();
  });

  it('the pruned model is an ordinary tfjs model: it saves and loads back with the same outputs', async () => {
    const model = richNetWithDeadChannels();
    const { model: pruned } = await pruneStructured(model, { sparsity: 0.5 });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await pruned.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const input = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 11);
    expect(maxAbsDiff(pruned, loaded, input)).toBe(0);
    input.dispose();
    loaded.dispose();
    pruned.dispose();
    model.dispose();
  });

  it('roundTo keeps every channel count a multiple of N', async () => {
    const model = lenet5({ seed: 2 });
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.5, roundTo: 4 });
    const kept = Object.fromEntries(plan.groups.map((g) => [g.producers[0], g.kept.length]));
    // 6 -> 3 -> 4, 16 -> 8, 120 -> 60, 84 -> 42 -> 44
    expect(kept).toEqual({ conv1: 4, conv2: 8, fc1: 60, fc2: 44 });
    expect(pruned.getLayer('fc2').getWeights()[0].shape).toEqual([60, 44]);
    pruned.dispose();
    model.dispose();
  });

  it('roundTo never keeps 0 channels nor more than the layer had', async () => {
    const model = lenet5({ seed: 2 });
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.9, scope: 'layer', roundTo: 8 });
    const kept = Object.fromEntries(plan.groups.map((g) => [g.producers[0], g.kept.length]));
    // 6 -> 1 -> 8 capped at 6 (the original), 16 -> 2 -> 8, 120 -> 12 -> 16, 84 -> 9 -> 16
    expect(kept).toEqual({ conv1: 6, conv2: 8, fc1: 16, fc2: 16 });
    expect(plan.roundTo).toBe(8);
    expect(pruned.getLayer('conv2').getWeights()[0].shape).toEqual([5, 5, 6, 8]);
    pruned.dispose();
    model.dispose();
  });

  it('replaying a stored plan on the original model reproduces the pruned weights exactly', async () => {
    const model = richNetWithDeadChannels();
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.4, criterion: 'random', seed: 5 });
    const stored = JSON.parse(JSON.stringify(plan));
    const replayed = applyStructuredPlan(model, stored);
    sameWeights(pruned, replayed);
    // Two rounds (the second computed on the first's output) replay in order.
    const second = await pruneStructured(pruned, { sparsity: 0.3, criterion: 'magnitude' });
    const twice = applyStructuredSteps(model, [stored, JSON.parse(JSON.stringify(second.plan))]);
    sameWeights(second.model, twice);
    twice.dispose();
    second.model.dispose();
    const tampered = { ...stored, groups: [{ ...stored.groups[0], channels: 99 }] };
    expect(() => applyStructuredPlan(model, tampered)).toThrow(ConfigError);
    replayed.dispose();
    pruned.dispose();
    model.dispose();
  });

  it('a layer it cannot handle is refused by name, and ignoring its producer lets the rest be pruned', async () => {
    const x = tf.input({ shape: [8, 8, 1] });
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'feeds_up' }).apply(x) as Sym;
    const norm = tf.layers.layerNormalization({ name: 'norm' }).apply(c) as Sym;
    const f = tf.layers.flatten().apply(norm) as Sym;
    const h = tf.layers.dense({ units: 6, name: 'hidden' }).apply(f) as Sym;
    const out = tf.layers.dense({ units: 2, name: 'head' }).apply(h) as Sym;
    const model = tf.model({ inputs: x, outputs: out });
    const err = await pruneStructured(model, { sparsity: 0.5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedLayerError);
    expect(String((err as Error).message)).toMatch(/"feeds_up".*"norm" \(LayerNormalization\): normalizes across the channel axis/);
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.5, ignore: ['feeds_up'] });
    expect(plan.groups.map((g) => g.producers)).toEqual([['hidden']]);
    expect(pruned.getLayer('hidden').getWeights()[0].shape[1]).toBe(3);
    pruned.dispose();
    model.dispose();
  });

  it('Conv2DTranspose is pruned on both axes of its [h, w, out, in] kernel', async () => {
    const x = tf.input({ shape: [6, 6, 1] });
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'down' }).apply(x) as Sym;
    const up = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 3, name: 'up' }).apply(c) as Sym;
    const f = tf.layers.flatten().apply(up) as Sym;
    const out = tf.layers.dense({ units: 2, name: 'head' }).apply(f) as Sym;
    const model = tf.model({ inputs: x, outputs: out });
    const { model: pruned } = await pruneStructured(model, { sparsity: 0.5 });
    expect(pruned.getLayer('down').getWeights()[0].shape).toEqual([3, 3, 1, 2]);
    expect(pruned.getLayer('up').getWeights()[0].shape).toEqual([3, 3, 2, 2]);
    expect(pruned.getLayer('head').getWeights()[0].shape).toEqual([6 * 6 * 2, 2]);
    const ones = tf.ones([1, 6, 6, 1]);
    const y = pruned.predict(ones) as tf.Tensor;
    expect(y.shape).toEqual([1, 2]);
    tf.dispose([ones, y]);
    pruned.dispose();
    model.dispose();
  });

  it('global scope removes floor(sparsity x total) channels across groups', async () => {
    const model = lenet5({ seed: 4 });
    const { plan, model: pruned } = await pruneStructured(model, { sparsity: 0.3, scope: 'global' });
    const total = plan.groups.reduce((a, g) => a + g.channels, 0);
    const removed = plan.groups.reduce((a, g) => a + g.removed.length, 0);
    expect(total).toBe(6 + 16 + 120 + 84);
    expect(removed).toBe(Math.floor(0.3 * total));
    // Not a per-layer split: at least one group departs from floor(0.3 * n).
    expect(plan.groups.some((g) => g.removed.length !== Math.floor(0.3 * g.channels))).toBe(true);
    pruned.dispose();
    model.dispose();
  });

  it('bn-scale removes the channels with the smallest BatchNorm gamma, and given scores override the criterion', async () => {
    const x = tf.input({ shape: [6, 6, 2] });
    const c = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv' }).apply(x) as Sym;
    const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(c) as Sym;
    const g = tf.layers.globalAveragePooling2d({}).apply(bn) as Sym;
    const model = tf.model({ inputs: x, outputs: tf.layers.dense({ units: 2, name: 'head' }).apply(g) as Sym });
    editWeights(model, 'bn', ([gamma]) => gamma.set([0.9, 0.05, 1.2, 0.01]));
    const byBn = await pruneStructured(model, { sparsity: 0.5, criterion: 'bn-scale' });
    expect(byBn.plan.groups[0].removed).toEqual([1, 3]);
    const given = await pruneStructured(model, { sparsity: 0.5, scores: new Map([['conv', Float32Array.from([0, 5, 4, 1])]]) });
    expect(given.plan.groups[0].removed).toEqual([0, 3]);
    byBn.model.dispose();
    given.model.dispose();
    model.dispose();
  });

  it('taylor (|w * dL/dw| over data batches) ranks dead channels lowest', async () => {
    const model = richNetWithDeadChannels();
    const rand = seededRandom(9);
    const data: DataSplit = {
      size: 32,
      take(idx) {
        const x = new Float32Array(idx.length * 8 * 8 * 3).map(() => rand() * 2 - 1);
        return { x, y: Int32Array.from(idx, (i) => i % 3) };
      },
    };
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.25, criterion: 'taylor', importance: { data, batches: 2, batchSize: 8 } });
    const removed = Object.fromEntries(plan.groups.map((g) => [g.producers.join('+'), g.removed]));
    expect(removed['c1+c2']).toEqual(DEAD.c1c2);
    expect(removed.c3).toEqual(DEAD.c3);
    // Dense units behind a ReLU that never fires on this data also score exactly 0 and may tie with
    // the dead ones; what must hold is that only zero-importance units went.
    expect(plan.groups.map((g) => g.scores.threshold)).toEqual([0, 0, 0, 0]);
    expect(plan.groups.map((g) => g.scores.max > 0)).toEqual([true, true, true, true]);
    const step: StructuredStep = plan; // the plan is a member of the shared PruningPlan step union
    expect(step.kind).toBe('structured');
    await expect(pruneStructured(model, { sparsity: 0.25, criterion: 'taylor' })).rejects.toThrow(/taylor importance needs training data/);
    pruned.dispose();
    model.dispose();
  });

  it('prunes the shared small functional net (residual Add, depthwise, a concat of one group twice, BN) by bn-scale', async () => {
    const model = smallFunctionalNet({ seed: 2 });
    // gamma of the BN after cat([add, dw]): both halves read the stem+branch group.
    editWeights(model, 'bn', ([gamma]) => gamma.set([1, 0.1, 1, 1, 0.1, 1, 1, 1, 1, 0.1, 1, 1, 0.1, 1, 1, 1]));
    const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.25, criterion: 'bn-scale' });
    expect(plan.groups.map((g) => [g.producers, g.removed])).toEqual([[['stem', 'branch'], [1, 4]]]);
    expect(pruned.getLayer('bn').getWeights()[0].shape).toEqual([12]);
    const y = tf.tidy(() => (pruned.predict(tf.ones([2, 8, 8, 3])) as tf.Tensor).shape);
    expect(y).toEqual([2, 4]);
    pruned.dispose();
    model.dispose();
  });

  it('bad configs get named errors', async () => {
    const model = lenet300100({ seed: 1 });
    await expect(pruneStructured(model, { sparsity: 1.2 })).rejects.toThrow(/sparsity must be in \[0, 1\), got 1.2/);
    await expect(pruneStructured(model, { sparsity: 0.5, ignore: ['nope'] })).rejects.toThrow(ConfigError);
    await expect(pruneStructured(model, { sparsity: 0.5, perLayer: { fc1: -0.1 } })).rejects.toThrow(/perLayer.fc1/);
    await expect(pruneStructured(model, { sparsity: 0.5, roundTo: 0 })).rejects.toThrow(/roundTo/);
    await expect(pruneStructured(model, { sparsity: 0.5, scores: new Map([['fc1', new Float32Array(3)]]) })).rejects.toThrow(/300/);
    model.dispose();
  });

  it('zero sparsity is a no-op copy', async () => {
    const model = lenet300100({ seed: 6 });
    const { model: copy, plan, report } = await pruneStructured(model, { sparsity: 0 });
    expect(plan.groups).toEqual([]);
    expect(report.paramsAfter).toBe(report.paramsBefore);
    sameWeights(model, copy);
    copy.dispose();
    model.dispose();
  });

  it('leaks no tensors', async () => {
    const model = richNetWithDeadChannels();
    const start = tf.memory().numTensors;
    for (const criterion of ['magnitude', 'bn-scale', 'random'] as const) {
      const { model: pruned, plan } = await pruneStructured(model, { sparsity: 0.5, criterion, ...(criterion === 'bn-scale' ? { ignore: ['c3', 'd1', 'd2'] } : {}) });
      const again = applyStructuredPlan(model, plan);
      pruned.dispose();
      again.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });
});

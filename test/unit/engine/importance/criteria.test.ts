import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, UnsupportedLayerError } from '../../../../src-main/common/errors';
import { importanceFor } from '../../../../src-main/engine/importance';
import { channelNorms } from '../../../../src-main/engine/importance/common';
import { lampScores } from '../../../../src-main/engine/importance/lamp';
import type { ChannelGroup, ImportanceContext } from '../../../../src-main/engine/prune/types';
import { prunableWeights } from '../../../../src-main/engine/prune/weights';
import { arraySplit } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Dense(no bias) with a given kernel and softmax output. */
function dense(kernel: number[][], name = 'd'): tf.Sequential {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: kernel[0].length, inputShape: [kernel.length], useBias: false, activation: 'softmax', name })] });
  const value = tf.tensor2d(kernel);
  (m.getLayer(name) as unknown as { kernel: tf.LayerVariable }).kernel.write(value);
  value.dispose();
  return m;
}

const order = (s: Float32Array): number[] => Array.from(s.keys()).sort((a, b) => s[b] - s[a] || a - b);

describe('importance criteria', () => {
  it('magnitude ranks by |w| and reduces groups with L1 or L2, summed across members', async () => {
    const m = dense([[0.5, -3], [-2, 0.1]]);
    const [w] = prunableWeights(m);
    const s = (await importanceFor('magnitude').scores([w], { model: m })).get(w.weightName)!;
    expect(Array.from(s)).toEqual([0.5, 3, 2, 0.1].map(Math.fround));
    const a = tf.tensor2d([[1, -2], [3, 4]]);
    const b = tf.tensor1d([10, 0]);
    const group: ChannelGroup = { channels: 2, members: [{ layer: 'a', weightName: 'a/kernel', value: a, axis: 1 }, { layer: 'b', weightName: 'b/bias', value: b, axis: 0 }] };
    expect(Array.from(await importanceFor('magnitude').groupScores(group, { model: m, norm: 'l1' }))).toEqual([14, 6]);
    const l2 = await importanceFor('magnitude').groupScores(group, { model: m, norm: 'l2' });
    expect(l2[0]).toBeCloseTo(Math.sqrt(10) + 10, 5);
    expect(l2[1]).toBeCloseTo(Math.sqrt(20), 5);
    expect(Array.from(channelNorms(a, 0, 'l1'))).toEqual([3, 7]);
    tf.dispose([a, b]);
    m.dispose();
  });

  it('lamp scores are w^2 over the sum of squares of weights at least as large', () => {
    const s = lampScores([3, -1, 2]);
    expect(s[1]).toBeCloseTo(1 / 14, 6);
    expect(s[2]).toBeCloseTo(4 / 13, 6);
    expect(s[0]).toBe(1);
    // The largest weight of every layer scores 1, however small the layer's weights are.
    expect(Math.max(...lampScores([1e-4, 2e-4]))).toBe(1);
  });

  it('taylor ranks a large weight with no gradient below a small weight that matters', async () => {
    // Input feature 1 is always zero, so w[1][*] never affects the loss whatever its size.
    const m = dense([[0.2, -0.2], [5, -5]]);
    const x = new Float32Array(16);
    const y = new Int32Array(8);
    for (let i = 0; i < 8; i++) {
      x[i * 2] = i % 2 ? 1 : -1;
      y[i] = i % 2 ? 1 : 0;
    }
    const ctx: ImportanceContext = { model: m, data: arraySplit(x, y, 2), batches: 2, batchSize: 4, seed: 1 };
    const [w] = prunableWeights(m);
    const start = tf.memory().numTensors;
    const s = (await importanceFor('taylor').scores([w], ctx)).get(w.weightName)!;
    expect(tf.memory().numTensors).toBe(start);
    expect(s[2]).toBe(0);
    expect(s[3]).toBe(0);
    expect(s[0]).toBeGreaterThan(0);
    expect(order(s).slice(0, 2).sort()).toEqual([0, 1]);
    const mag = (await importanceFor('magnitude').scores([w], ctx)).get(w.weightName)!;
    expect(order(mag).slice(0, 2).sort()).toEqual([2, 3]);
    await expect(importanceFor('taylor').scores([w], { model: m })).rejects.toBeInstanceOf(ConfigError);
    m.dispose();
  });

  it('movement favours weights moving away from zero, and uses accumulated scores when given', async () => {
    // One input fixed at 1, label 0: gradient descent grows w[0][0] (away from 0) and shrinks w[0][1].
    const m = dense([[0.5, 0.5]]);
    const ctx: ImportanceContext = { model: m, data: arraySplit(new Float32Array([1, 1]), new Int32Array([0, 0]), 1), batches: 1, batchSize: 2 };
    const [w] = prunableWeights(m);
    const s = (await importanceFor('movement').scores([w], ctx)).get(w.weightName)!;
    expect(s[0]).toBeGreaterThan(0);
    expect(s[1]).toBeLessThan(0);
    const given = new Map([[w.weightName, new Float32Array([-1, 2])]]);
    expect(Array.from((await importanceFor('movement').scores([w], { ...ctx, movement: given })).get(w.weightName)!)).toEqual([-1, 2]);
    m.dispose();
  });

  it('bn-scale ranks channels by |gamma| and refuses groups without a BatchNorm', async () => {
    const k = tf.ones([3, 3]);
    const gamma = tf.tensor1d([0.1, -2, 0.5]);
    const ctx = { model: dense([[1]]) };
    const group: ChannelGroup = { channels: 3, members: [{ layer: 'c', weightName: 'c/kernel', value: k, axis: 1 }, { layer: 'bn', weightName: 'bn/gamma', value: gamma, axis: 0, role: 'bn-gamma' }] };
    const s = await importanceFor('bn-scale').groupScores(group, ctx);
    expect(Array.from(s).map((v) => Math.round(v * 10) / 10)).toEqual([0.1, 2, 0.5]);
    await expect(importanceFor('bn-scale').groupScores({ channels: 3, members: [group.members[0]] }, ctx)).rejects.toBeInstanceOf(UnsupportedLayerError);
    await expect(importanceFor('bn-scale').scores([], ctx)).rejects.toBeInstanceOf(ConfigError);
    tf.dispose([k, gamma]);
    ctx.model.dispose();
  });

  it('random is reproducible from its seed and differs between seeds', async () => {
    const m = dense([[1, 2, 3], [4, 5, 6]]);
    const [w] = prunableWeights(m);
    const a = (await importanceFor('random').scores([w], { model: m, seed: 5 })).get(w.weightName)!;
    const b = (await importanceFor('random').scores([w], { model: m, seed: 5 })).get(w.weightName)!;
    const c = (await importanceFor('random').scores([w], { model: m, seed: 6 })).get(w.weightName)!;
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(Array.from(a).every((v) => v >= 0 && v < 1)).toBe(true);
    m.dispose();
  });

  it('taylor and lamp group scores reduce onto the channel axis', async () => {
    const m = dense([[1, -2], [0.5, 0.1]]);
    const [w] = prunableWeights(m);
    const group: ChannelGroup = { channels: 2, members: [{ layer: 'd', weightName: w.weightName, value: w.variable.read(), axis: 1 }] };
    const lamp = await importanceFor('lamp').groupScores(group, { model: m, norm: 'l1' });
    expect(lamp[0]).toBeCloseTo(1.5 ** 2 / (1.5 ** 2 + 2.1 ** 2), 5);
    expect(lamp[1]).toBe(1);
    const x = new Float32Array([1, 1, 1, 0]);
    const ctx: ImportanceContext = { model: m, data: arraySplit(x, new Int32Array([0, 1]), 2), batches: 1, batchSize: 2, norm: 'l1' };
    const t = await importanceFor('taylor').groupScores(group, ctx);
    const el = (await importanceFor('taylor').scores([w], ctx)).get(w.weightName)!;
    expect(t[0]).toBeCloseTo(el[0] + el[2], 6);
    expect(t[1]).toBeCloseTo(el[1] + el[3], 6);
    m.dispose();
  });
});

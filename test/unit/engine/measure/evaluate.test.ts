import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError } from '../../../../src-main/common/errors';
import type { DataSplit } from '../../../../src-main/engine/data';
import { evaluate } from '../../../../src-main/engine/measure';

/** n samples of `dim` values; sample i is one-hot at i % dim scaled by 3, label = i % dim. */
function oneHotSplit(n: number, dim: number): DataSplit {
  return {
    size: n,
    take(indices) {
      const x = new Float32Array(indices.length * dim);
      const y = new Int32Array(indices.length);
      for (let k = 0; k < indices.length; k++) {
        const c = indices[k] % dim;
        x[k * dim + c] = 3;
        y[k] = c;
      }
      return { x, y };
    },
  };
}

/** Dense(units) with the given kernel and bias, so its outputs are known exactly. */
function denseModel(inputDim: number, kernel: number[][], bias: number[], activation: 'softmax' | 'linear' | 'sigmoid') {
  const model = tf.sequential();
  model.add(tf.layers.dense({ inputShape: [inputDim], units: bias.length, activation }));
  const k = tf.tensor2d(kernel);
  const b = tf.tensor1d(bias);
  model.setWeights([k, b]);
  tf.dispose([k, b]);
  return model;
}

const identity = (n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));

describe('evaluate', () => {
  let before: number;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    // Every test disposes its model; nothing evaluate created may remain.
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a model that is correct by construction scores accuracy 1 with a diagonal confusion matrix', async () => {
    const model = denseModel(4, identity(4), [0, 0, 0, 0], 'softmax');
    const r = await evaluate(model, oneHotSplit(10, 4), { batchSize: 3 });
    expect(r.accuracy).toBe(1);
    expect(r.samples).toBe(10);
    // Samples 0..9 have labels 0,1,2,3,0,1,2,3,0,1.
    expect(r.confusion).toEqual([
      [3, 0, 0, 0],
      [0, 3, 0, 0],
      [0, 0, 2, 0],
      [0, 0, 0, 2],
    ]);
    // Each sample: softmax([3, 0, 0, 0])[0] = e^3 / (e^3 + 3) -> loss = ln(1 + 3 e^-3).
    expect(r.loss).toBeCloseTo(Math.log(1 + 3 * Math.exp(-3)), 6);
    model.dispose();
  });

  it('loss is the mean of -log p[label], computed by hand', async () => {
    // Zero kernel and bias = log([0.5, 0.25, 0.25]): every sample gets p = [0.5, 0.25, 0.25].
    const model = denseModel(3, [[0, 0, 0], [0, 0, 0], [0, 0, 0]], [Math.log(0.5), Math.log(0.25), Math.log(0.25)], 'softmax');
    // Labels 0,1,2,0: loss = (ln 2 + ln 4 + ln 4 + ln 2) / 4 = 1.5 ln 2 = 1.0397...
    const r = await evaluate(model, oneHotSplit(4, 3), { batchSize: 2 });
    expect(r.loss).toBeCloseTo(1.5 * Math.LN2, 6);
    // Always predicts class 0: right for samples 0 and 3.
    expect(r.accuracy).toBe(0.5);
    model.dispose();
  });

  it('applies softmax itself when the model outputs logits', async () => {
    const logits = denseModel(3, [[0, 0, 0], [0, 0, 0], [0, 0, 0]], [Math.log(0.5), Math.log(0.25), Math.log(0.25)], 'linear');
    const r = await evaluate(logits, oneHotSplit(4, 3));
    expect(r.loss).toBeCloseTo(1.5 * Math.LN2, 6);
    logits.dispose();
  });

  it('treats a single sigmoid unit as a binary classifier', async () => {
    // p1 = sigmoid(2 x0 - 1). Sample 0 (x=[3,0], label 0): p1 = sigmoid(5) -> predicts 1, wrong.
    // Sample 1 (x=[0,3], label 1): p1 = sigmoid(-1) -> predicts 0, wrong.
    const model = denseModel(2, [[2], [0]], [-1], 'sigmoid');
    const r = await evaluate(model, oneHotSplit(2, 2));
    const s = (z: number) => 1 / (1 + Math.exp(-z));
    expect(r.accuracy).toBe(0);
    expect(r.loss).toBeCloseTo((-Math.log(1 - s(5)) - Math.log(s(-1))) / 2, 5);
    model.dispose();
  });

  it('reshapes flat samples to the model input and honours limit and progress', async () => {
    const model = tf.sequential();
    model.add(tf.layers.reshape({ inputShape: [2, 2], targetShape: [4] }));
    model.add(tf.layers.dense({ units: 4, activation: 'softmax', useBias: false, kernelInitializer: 'identity' }));
    const progress: [number, number][] = [];
    const r = await evaluate(model, oneHotSplit(100, 4), { batchSize: 4, limit: 10, onProgress: (d, t) => progress.push([d, t]) });
    expect(r.samples).toBe(10);
    expect(r.accuracy).toBe(1);
    expect(progress).toEqual([
      [4, 10],
      [8, 10],
      [10, 10],
    ]);
    model.dispose();
  });

  it('stops with CancelledError when the signal is aborted between batches', async () => {
    const model = denseModel(4, identity(4), [0, 0, 0, 0], 'softmax');
    const controller = new AbortController();
    let batches = 0;
    const run = evaluate(model, oneHotSplit(40, 4), {
      batchSize: 4,
      signal: controller.signal,
      onProgress: () => {
        batches++;
        if (batches === 2) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(batches).toBe(2);
    model.dispose();
  });

  it('rejects labels outside the model classes and mismatched sample sizes', async () => {
    const model = denseModel(4, identity(4), [0, 0, 0, 0], 'softmax');
    const badLabel: DataSplit = { size: 1, take: (i) => ({ x: new Float32Array(i.length * 4), y: Int32Array.from(i, () => 7) }) };
    await expect(evaluate(model, badLabel)).rejects.toThrow(ConfigError);
    await expect(evaluate(model, badLabel)).rejects.toThrow(/label 7 of sample 0 is outside the model's 4 classes/);
    const bad: DataSplit = { size: 2, take: (i) => ({ x: new Float32Array(i.length * 3), y: new Int32Array(i.length) }) };
    await expect(evaluate(model, bad)).rejects.toThrow(/3 values but the model input \[4\] needs 4/);
    await expect(evaluate(model, oneHotSplit(4, 4), { batchSize: 0 })).rejects.toThrow(/batchSize/);
    model.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../../../src-main/common/errors';
import { crossEntropy, distillationLoss } from '../../../../src-main/engine/finetune/loss';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import { finetuneMasked } from '../../../../src-main/engine/finetune/trainer';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import type { FinetuneConfig, PruneProgress } from '../../../../src-main/engine/prune/types';
import { pruneUnstructured } from '../../../../src-main/engine/prune/unstructured';
import { arraySplit, convnet, disposeAll, kernelOf, mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ft = (over: Partial<FinetuneConfig> = {}): FinetuneConfig => ({ epochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', ...over });

describe('finetuneMasked', () => {
  it('keeps pruned weights exactly zero after every Adam step and learns', async () => {
    const data = syntheticDataset([16], 3, 256, 128);
    const model = mlp();
    const start = tf.memory().numTensors;
    const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.8 }, model));
    const pruned = new Map([...masks].map(([k, m]) => [k, Array.from(m.dataSync()).flatMap((v, i) => (v === 0 ? [i] : []))]));
    const before = evaluateModel(model, data.test).accuracy;
    let checks = 0;
    const res = await finetuneMasked(model, data.train, ft({ epochs: 4 }), {
      masks,
      seed: 1,
      onProgress: (p) => {
        if (p.phase !== 'batch') return;
        // After each optimizer step every pruned weight is still exactly zero.
        for (const w of model.trainableWeights) {
          const idx = pruned.get(w.name);
          if (!idx) continue;
          const v = w.read().dataSync();
          for (const i of idx) expect(Math.abs(v[i])).toBe(0);
          checks++;
        }
      },
    });
    expect(checks).toBe(3 * 4 * 16);
    expect(res.history).toHaveLength(4);
    expect(res.steps).toBe(64);
    expect(evaluateModel(model, data.test).accuracy).toBeGreaterThan(before);
    disposeAll(masks);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('keeps masks on conv and depthwise kernels with SGD', async () => {
    const data = syntheticDataset([6, 6, 4], 3, 64, 16);
    const model = convnet();
    const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.6, scope: 'layer' }, model));
    const zerosBefore = ['conv1', 'dw', 'conv2', 'out'].map((l) => Array.from(kernelOf(model, l)).map((v) => v === 0));
    await finetuneMasked(model, data.train, ft({ epochs: 1, optimizer: 'sgd', learningRate: 0.1 }), { masks });
    ['conv1', 'dw', 'conv2', 'out'].forEach((l, j) => {
      const k = kernelOf(model, l);
      zerosBefore[j].forEach((z, i) => z && expect(Math.abs(k[i])).toBe(0));
    });
    disposeAll(masks);
    model.dispose();
  });

  it('reports progress per batch and per epoch with the current sparsity', async () => {
    const data = syntheticDataset([16], 3, 40, 8);
    const model = mlp();
    const events: PruneProgress[] = [];
    await finetuneMasked(model, data.train, ft({ epochs: 2, batchSize: 16, earlyStopping: { patience: 5, validationFraction: 0.2 } }), {
      masks: new Map(),
      sparsity: () => 0.25,
      onProgress: (p) => events.push(p),
    });
    // 40 samples, 8 held out for validation: 32 train -> 2 batches per epoch.
    expect(events.map((e) => `${e.phase}:${e.epoch}:${e.batch}/${e.batches}`)).toEqual([
      'batch:0:0/2', 'batch:0:1/2', 'epoch:0:1/2', 'batch:1:0/2', 'batch:1:1/2', 'epoch:1:1/2',
    ]);
    const epoch = events.find((e) => e.phase === 'epoch')!;
    expect(epoch.valLoss).toBeGreaterThan(0);
    // Accuracy over the 8 held-out samples: a fraction in [0, 1] with denominator 8.
    expect(epoch.valAccuracy).toBeLessThanOrEqual(1);
    expect(epoch.valAccuracy! * 8).toBeCloseTo(Math.round(epoch.valAccuracy! * 8), 5);
    expect(events.every((e) => e.sparsity === 0.25 && Number.isFinite(e.loss))).toBe(true);
    model.dispose();
  });

  it('early stopping stops once validation loss stops improving', async () => {
    const data = syntheticDataset([16], 3, 64, 8);
    const model = mlp();
    // A learning rate this small cannot move the validation loss by the improvement margin.
    const res = await finetuneMasked(model, data.train, ft({ epochs: 10, learningRate: 1e-12, earlyStopping: { patience: 2, validationFraction: 0.25 } }), {
      masks: new Map(),
    });
    expect(res.stoppedEarly).toBe(true);
    expect(res.history).toHaveLength(3);
    model.dispose();
  });

  it('cancels with CancelledError when the signal aborts, leaking nothing', async () => {
    const data = syntheticDataset([16], 3, 128, 8);
    const model = mlp();
    const start = tf.memory().numTensors;
    const ctrl = new AbortController();
    let batches = 0;
    const run = finetuneMasked(model, data.train, ft({ epochs: 5 }), {
      masks: new Map(),
      signal: ctrl.signal,
      onProgress: (p) => {
        if (p.phase === 'batch' && ++batches === 3) ctrl.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(batches).toBe(3);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('distills from a teacher without leaking tensors', async () => {
    const data = syntheticDataset([16], 3, 64, 8);
    const teacher = mlp(1);
    const model = mlp(2);
    const start = tf.memory().numTensors;
    const res = await finetuneMasked(model, data.train, ft({ epochs: 1, distill: { temperature: 3, alpha: 0.7 } }), { masks: new Map(), teacher });
    expect(Number.isFinite(res.history[0].loss)).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
    teacher.dispose();
  });
});

describe('movement scores during fine-tuning', () => {
  it('accumulate S -= lr * dL/dw * w: weights growing away from zero gain, shrinking ones lose', async () => {
    // One input fixed at 1, label 0, kernel [[0.5, 0.5]]: SGD grows w[0] and shrinks w[1].
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [1], useBias: false, activation: 'softmax', name: 'd' })] });
    const kernel = (model.getLayer('d') as unknown as { kernel: tf.LayerVariable }).kernel;
    tf.tidy(() => {
      kernel.write(tf.tensor2d([[0.5, 0.5]]));
    });
    const movement = new Map([[kernel.name, tf.zeros([1, 2])]]);
    const split = arraySplit(new Float32Array([1, 1]), new Int32Array([0, 0]), 1);
    await finetuneMasked(model, split, ft({ epochs: 1, batchSize: 2, optimizer: 'sgd', learningRate: 0.1 }), { masks: new Map(), movement });
    const s = movement.get(kernel.name)!.dataSync();
    // p = softmax([0.5, 0.5]) = [0.5, 0.5]; dL/dw = [p0 - 1, p1] = [-0.5, 0.5]; S = -0.1 * g * 0.5.
    expect(s[0]).toBeCloseTo(0.025, 6);
    expect(s[1]).toBeCloseTo(-0.025, 6);
    movement.get(kernel.name)!.dispose();
    model.dispose();
  });
});

describe('losses', () => {
  const student = tf.tensor2d([[2, 1, 0.1], [0.3, 0.2, 3]]);
  const teacher = tf.tensor2d([[1, 2, 0.5], [0.1, 0.1, 1]]);
  const labels = tf.tensor1d([0, 2], 'int32');
  /** The loss as a number, freeing the scalar. */
  const value = (loss: () => tf.Tensor): number => tf.tidy(() => loss().dataSync()[0]);

  it('cross-entropy matches -log softmax of the label', () => {
    const p = (z: number[], k: number): number => Math.exp(z[k]) / z.reduce((a, b) => a + Math.exp(b), 0);
    const expected = -(Math.log(p([2, 1, 0.1], 0)) + Math.log(p([0.3, 0.2, 3], 2))) / 2;
    expect(value(() => crossEntropy(student, labels))).toBeCloseTo(expected, 5);
  });

  it('the distillation loss equals cross-entropy when alpha is 0', () => {
    const kd = value(() => distillationLoss(student, teacher, labels, { temperature: 4, alpha: 0 }));
    expect(kd).toBe(value(() => crossEntropy(student, labels)));
  });

  it('the distillation term is T^2 KL(teacher || student) and zero for identical logits', () => {
    const T = 2;
    const soft = (z: number[]): number[] => {
      const e = z.map((v) => Math.exp(v / T));
      const s = e.reduce((a, b) => a + b);
      return e.map((v) => v / s);
    };
    const kl = (t: number[], s: number[]): number => soft(t).reduce((a, pt, i) => a + pt * Math.log(pt / soft(s)[i]), 0);
    const expected = (T * T * (kl([1, 2, 0.5], [2, 1, 0.1]) + kl([0.1, 0.1, 1], [0.3, 0.2, 3]))) / 2;
    expect(value(() => distillationLoss(student, teacher, labels, { temperature: T, alpha: 1 }))).toBeCloseTo(expected, 5);
    expect(value(() => distillationLoss(student, student, labels, { temperature: T, alpha: 1 }))).toBeCloseTo(0, 6);
  });
});

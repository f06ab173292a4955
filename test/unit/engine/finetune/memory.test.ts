import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TopiaryError } from '../../../../src-main/common/errors';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import {
  activationBytesPerSample,
  estimateStepMemory,
  FILL,
  fitInferenceBatch,
  freeTapeOnError,
  GradientAccumulator,
  isOutOfMemory,
  memoryCeiling,
  microRanges,
  planTrainingBatches,
  setMemoryCeiling,
  TRAIN_FACTOR,
} from '../../../../src-main/engine/finetune/memory';
import { finetuneMasked } from '../../../../src-main/engine/finetune/trainer';
import { crossEntropy, logitsOf } from '../../../../src-main/engine/finetune/loss';
import type { FinetuneConfig, PruneProgress } from '../../../../src-main/engine/prune/types';
import { convnet, mlp, syntheticDataset } from '../prune/fixtures';
import { keepTensors } from '../../../support/tensor-leaks';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterEach(() => setMemoryCeiling(undefined));

const ft = (over: Partial<FinetuneConfig> = {}): FinetuneConfig => ({ epochs: 1, batchSize: 16, learningRate: 0.01, optimizer: 'adam', ...over });

/** A ceiling under which exactly `micro` samples per pass fit for `model` (given what is allocated now). */
function ceilingFor(model: tf.LayersModel, micro: number): number {
  const est = estimateStepMemory(model);
  return tf.memory().numBytes + (est.fixed + (micro + 0.5) * est.trainPerSample) / FILL;
}

/** Conv2D -> BatchNormalization -> ReLU -> Flatten -> Dense softmax on 6x6x2. */
function bnNet(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      tf.layers.batchNormalization({}),
      tf.layers.reLU({}),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
}

/** Identity layer that throws the wasm heap's trap whenever a pass has more than `limit` samples. */
class HeapTrap extends tf.layers.Layer {
  static className = 'HeapTrap';
  constructor(private readonly limit: number) {
    super({});
  }
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x.shape[0] > this.limit) throw new RuntimeErrorLike('RuntimeError: memory access out of bounds');
    return tf.clone(x);
  }
}
class RuntimeErrorLike extends Error {}

function trapNet(limit: number): tf.LayersModel {
  const m = mlp();
  const out = tf.sequential();
  out.add(tf.layers.dense({ units: 12, inputShape: [16], activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }));
  out.add(new HeapTrap(limit));
  out.add(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) }));
  m.dispose();
  return out;
}

describe('step memory estimate', () => {
  it('sums the input and every layer output per sample, as float32', () => {
    const model = mlp(); // 16 -> 12 -> 8 -> 3
    expect(activationBytesPerSample(model)).toBe(4 * (16 + 12 + 8 + 3));
    const est = estimateStepMemory(model);
    expect(est.trainPerSample).toBe(TRAIN_FACTOR * 4 * 39);
    // Gradients plus Adam's m and v for every trainable weight.
    expect(est.fixed).toBe(3 * 4 * model.countParams());
    model.dispose();
  });

  it('plans one pass per batch without a ceiling or when the batch fits, micro-batches otherwise', () => {
    const model = convnet();
    expect(planTrainingBatches(model, 64, undefined)).toMatchObject({ batchSize: 64, microBatch: 64 });
    expect(planTrainingBatches(model, 64, 1e12).microBatch).toBe(64);
    expect(planTrainingBatches(model, 64, 1e12).note).toBeUndefined();
    const plan = planTrainingBatches(model, 64, ceilingFor(model, 10));
    expect(plan.microBatch).toBe(10);
    expect(plan.note).toMatch(/batch 64 split into micro-batches of 10/);
    expect(plan.note).toMatch(/equals one full-batch step/);
    // Less than one sample's worth still runs one sample per pass (a real OOM is caught later).
    expect(planTrainingBatches(model, 64, tf.memory().numBytes + 1).microBatch).toBe(1);
    model.dispose();
  });

  it('uses the installed ceiling, which may be a function of the moment', () => {
    const model = convnet();
    setMemoryCeiling(() => ceilingFor(model, 5));
    expect(memoryCeiling()).toBeGreaterThan(0);
    expect(planTrainingBatches(model, 32).microBatch).toBe(5);
    setMemoryCeiling(undefined);
    expect(planTrainingBatches(model, 32).microBatch).toBe(32);
    model.dispose();
  });

  it('caps inference batches to the ceiling', () => {
    const model = convnet();
    const per = estimateStepMemory(model).inferPerSample;
    expect(fitInferenceBatch(model, 256, undefined)).toBe(256);
    expect(fitInferenceBatch(model, 256, tf.memory().numBytes + (7.5 * per) / FILL)).toBe(7);
    model.dispose();
  });

  it('recognizes out-of-memory errors and nothing else', () => {
    expect(isOutOfMemory(new Error('RuntimeError: memory access out of bounds'))).toBe(true);
    expect(isOutOfMemory(new RangeError('Array buffer allocation failed'))).toBe(true);
    expect(isOutOfMemory(new Error('Aborted(Cannot enlarge memory arrays to size 5000 bytes)'))).toBe(true);
    expect(isOutOfMemory(new Error('Error when checking input: expected shape [16]'))).toBe(false);
  });
});

describe('micro-batches', () => {
  it('cover the batch in near-equal contiguous ranges', () => {
    expect(microRanges(10, 4)).toEqual([[0, 3], [3, 6], [6, 10]]);
    expect(microRanges(8, 8)).toEqual([[0, 8]]);
    expect(microRanges(3, 1)).toEqual([[0, 1], [1, 2], [2, 3]]);
  });

  it('accumulate (n_k/n)-scaled gradients equal to the full-batch gradient within 1e-5', () => {
    const model = mlp();
    const data = syntheticDataset([16], 3, 20, 1);
    const { x: xa, y: ya } = data.train.take(Int32Array.from({ length: 20 }, (_, i) => i));
    const x = tf.tensor2d(xa, [20, 16]);
    const y = tf.tensor1d(ya, 'int32');
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const start = tf.memory().numTensors;
    const lossOf = (xs: tf.Tensor, ys: tf.Tensor1D) => () => crossEntropy(logitsOf(model, xs, true), ys);
    const full = tf.variableGrads(lossOf(x, y), vars);
    const acc = new GradientAccumulator();
    for (const [s, e] of microRanges(20, 6)) {
      acc.scale = (e - s) / 20;
      tf.tidy(() => acc.applyGradients(tf.variableGrads(lossOf(tf.slice(x, s, e - s), tf.slice(y, s, e - s)), vars).grads));
    }
    for (const v of vars) {
      const a = full.grads[v.name].dataSync();
      const b = acc.sums[v.name].dataSync();
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      expect(worst).toBeLessThan(1e-5);
      expect(Math.max(...Array.from(a, Math.abs))).toBeGreaterThan(0);
    }
    acc.dispose();
    tf.dispose([full.value, ...Object.values(full.grads)]);
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('make finetuneMasked under a small ceiling train a no-BN model exactly like full batches', async () => {
    const data = syntheticDataset([6, 6, 4], 3, 48, 8);
    const run = async (ceiling?: number) => {
      const model = convnet();
      const notes: string[] = [];
      const start = tf.memory().numTensors;
      const r = await finetuneMasked(model, data.train, ft({ epochs: 2 }), {
        masks: new Map(),
        seed: 3,
        memoryCeiling: ceiling ?? 1e15,
        onProgress: (p: PruneProgress) => p.note && notes.push(p.note),
      });
      const weights = model.getWeights().map((w) => w.dataSync().slice());
      expect(tf.memory().numTensors).toBe(start);
      const micro = ceiling === undefined ? undefined : planTrainingBatches(model, 16, ceiling).microBatch;
      model.dispose();
      return { r, weights, notes, micro };
    };
    const probe = convnet();
    const ceiling = ceilingFor(probe, 5);
    probe.dispose();
    const whole = await run();
    const split = await run(ceiling);
    expect(whole.r.memory).toEqual({ microBatch: 16 });
    expect(split.r.memory.microBatch).toBe(5);
    expect(split.r.memory.note).toMatch(/batch 16 split into micro-batches of 5 .*equals one full-batch step/);
    // The note reaches the progress stream once, on the first batch.
    expect(split.notes).toEqual([split.r.memory.note]);
    expect(whole.notes).toEqual([]);
    whole.weights.forEach((w, i) => {
      let worst = 0;
      for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs(w[j] - split.weights[i][j]));
      expect(worst).toBeLessThan(1e-5);
    });
    expect(whole.r.history[0].loss).toBeCloseTo(split.r.history[0].loss, 5);
    expect(whole.r.history[1].accuracy).toBeCloseTo(split.r.history[1].accuracy, 6);
  });

  it('keep masked weights zero when split', async () => {
    const data = syntheticDataset([16], 3, 32, 4);
    const model = mlp();
    const fc1 = model.getLayer('fc1').getWeights()[0];
    const mask = tf.tidy(() => tf.cast(tf.greater(tf.abs(fc1), 0.2), 'float32'));
    const masks = new Map([[model.getLayer('fc1').trainableWeights[0].name, mask]]);
    const r = await finetuneMasked(model, data.train, ft(), { masks, memoryCeiling: ceilingFor(model, 3) });
    expect(r.memory.microBatch).toBe(3);
    const w = model.getLayer('fc1').getWeights()[0].dataSync();
    const m = mask.dataSync();
    for (let i = 0; i < w.length; i++) if (m[i] === 0) expect(Math.abs(w[i])).toBe(0);
    tf.dispose([mask]);
    model.dispose();
  });

  it('train a BatchNorm model under a forced small ceiling and say that BN sees micro-batches', async () => {
    const data = syntheticDataset([6, 6, 2], 3, 40, 8);
    const model = bnNet();
    const r = await finetuneMasked(model, data.train, ft({ epochs: 2, batchSize: 20 }), { masks: new Map(), memoryCeiling: ceilingFor(model, 4) });
    expect(r.memory.microBatch).toBe(4);
    expect(r.memory.note).toMatch(/BatchNormalization uses each micro-batch's statistics/);
    expect(r.steps).toBe(4);
    expect(Number.isFinite(r.history[1].loss)).toBe(true);
    // Moving statistics moved away from their initial 0 / 1.
    const movingMean = model.layers[1].getWeights()[2].dataSync();
    expect(Math.max(...Array.from(movingMean, Math.abs))).toBeGreaterThan(0);
    model.dispose();
  });

  it('retry a step that runs out of memory once at half the micro-batch, and record it', async () => {
    const data = syntheticDataset([16], 3, 32, 4);
    const model = trapNet(8);
    const notes: string[] = [];
    const start = tf.memory().numTensors;
    const r = await finetuneMasked(model, data.train, ft({ batchSize: 16 }), { masks: new Map(), memoryCeiling: 1e15, onProgress: (p) => p.note && notes.push(p.note) });
    expect(r.steps).toBe(2);
    expect(r.memory.microBatch).toBe(8);
    expect(r.memory.note).toMatch(/micro-batches of 8 .*ran out of memory at 16 samples per pass/);
    expect(notes).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('fail with a clear error when the halved micro-batch still runs out of memory', async () => {
    const data = syntheticDataset([16], 3, 32, 4);
    const model = trapNet(2);
    const start = tf.memory().numTensors;
    const err = await finetuneMasked(model, data.train, ft({ batchSize: 16 }), { masks: new Map(), memoryCeiling: 1e15 }).catch((e: unknown) => e);
    // The failed passes' saved activations were freed too (tfjs leaves them; freeTapeOnError).
    expect(tf.memory().numTensors).toBe(start);
    expect(err).toBeInstanceOf(TopiaryError);
    expect(String(err)).toMatch(/ran out of backend memory at 8 samples per pass \(batch 16.*lower finetune.batchSize/);
    model.dispose();
  });
});

describe('freeTapeOnError', () => {
  it('frees what tfjs saved for backprop when a step throws, and nothing when it succeeds', () => {
    keepTensors('reproduces the tfjs 4.22 tape leak on a throwing step, which freeTapeOnError exists to avoid');
    const v = tf.variable(tf.ones([3]));
    const x = tf.ones([3]);
    const start = tf.memory().numTensors;
    const throwing = () =>
      tf.tidy(() =>
        tf.variableGrads(() => {
          tf.relu(tf.mul(x, v));
          throw new Error('memory access out of bounds');
        }, [v]),
      );
    // Without the wrapper tfjs 4.22 leaks the tape's saved tensors (this checks the bug is real).
    expect(throwing).toThrow();
    const leaked = tf.memory().numTensors - start;
    expect(leaked).toBeGreaterThan(0);
    const afterLeak = tf.memory().numTensors;
    expect(() => freeTapeOnError(throwing)).toThrow(/memory access/);
    expect(tf.memory().numTensors).toBe(afterLeak);
    const ok = freeTapeOnError(() => tf.tidy(() => tf.variableGrads(() => tf.sum(tf.mul(x, v)) as tf.Scalar, [v])));
    expect(ok.grads[v.name].dataSync()).toEqual(new Float32Array([1, 1, 1]));
    tf.dispose([ok.value, ...Object.values(ok.grads), x, v]);
  });
});

describe('evaluateModel under a ceiling', () => {
  it('gives the same loss and accuracy with batches capped to fit', () => {
    const data = syntheticDataset([6, 6, 4], 3, 8, 50);
    const model = convnet();
    const a = evaluateModel(model, data.test, { batchSize: 256 });
    const per = estimateStepMemory(model).inferPerSample;
    expect(fitInferenceBatch(model, 256, tf.memory().numBytes + (3.5 * per) / FILL)).toBe(3);
    const b = evaluateModel(model, data.test, { batchSize: 256, memoryCeiling: tf.memory().numBytes + (3.5 * per) / FILL });
    expect(b.samples).toBe(50);
    expect(b.loss).toBeCloseTo(a.loss, 5);
    expect(b.accuracy).toBe(a.accuracy);
    model.dispose();
  });
});

/**
 * The fused training step (engine/finetune/fused-step.ts + the native addon's trainer): which
 * models it takes, and that fine-tuning through it ends with the same weights, losses and masks as
 * the tfjs step it replaces.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { arraySplit, seededRandom, type DataSplit } from '../../../../src-main/engine/data';
import { fusedSpecOf } from '../../../../src-main/engine/finetune/fused-step';
import { finetuneMasked, type FinetuneOptions } from '../../../../src-main/engine/finetune/trainer';
import type { FinetuneConfig } from '../../../../src-main/engine/prune/types';
import { initBackend } from '../../../../src-main/node/backend';
import { loadNativeAddon } from '../../../../src-main/node/native';
import { nativeFusedTrainer } from '../../../../src-main/node/native-trainer';

const { addon } = loadNativeAddon();

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

const glorot = (seed: number) => tf.initializers.glorotUniform({ seed });

/** Conv (same, stride 2) -> pool (same) -> conv (valid) -> pool -> flatten -> dense relu -> dense softmax. */
function convNet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [11, 10, 2], filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: glorot(1), biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 11 }) }),
      tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
      tf.layers.conv2d({ filters: 7, kernelSize: [2, 3], activation: 'relu', kernelInitializer: glorot(2), useBias: false }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 9, activation: 'relu', kernelInitializer: glorot(3) }),
      tf.layers.dropout({ rate: 0 }),
      tf.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: glorot(4) }),
    ],
  });
}

/** Flatten -> dense relu -> dense with linear logits (the loss on logits, not log-probabilities). */
function mlpLogits(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [4, 5] }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: glorot(5), biasInitializer: tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: 11 }) }),
      tf.layers.dense({ units: 3, kernelInitializer: glorot(6) }),
    ],
  });
}

function data(n: number, per: number, classes: number, seed: number): DataSplit {
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * per }, () => rand() * 2 - 1);
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + Math.floor(rand() * 3)) % classes);
  return arraySplit(x, y, per);
}

/** Keep-masks zeroing every third weight of each kernel. */
function thirdMasks(model: tf.LayersModel): Map<string, tf.Tensor> {
  const masks = new Map<string, tf.Tensor>();
  for (const w of model.trainableWeights) {
    if (w.shape.length < 2) continue;
    const shape = w.shape as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    masks.set(w.name, tf.tensor(Float32Array.from({ length: size }, (_, i) => (i % 3 === 0 ? 0 : 1)), shape));
  }
  return masks;
}

const cfg: FinetuneConfig = { epochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam' };

/** Fine-tunes a fresh copy of `make()` (same seeds) with the fused step or the tfjs step. */
async function train(make: () => tf.LayersModel, split: DataSplit, fused: boolean, extra: Partial<FinetuneOptions> = {}) {
  const model = make();
  const masks = thirdMasks(model);
  for (const [name, mask] of masks) {
    const lv = model.trainableWeights.find((w) => w.name === name)!;
    lv.write(tf.mul(lv.read(), mask));
  }
  const result = await finetuneMasked(model, split, cfg, { masks, seed: 3, fusedTrainer: fused ? nativeFusedTrainer(addon!) : false, ...extra });
  const weights = model.trainableWeights.map((w) => w.read().dataSync().slice() as Float32Array);
  const maskValues = model.trainableWeights.map((w) => masks.get(w.name)?.dataSync().slice());
  masks.forEach((m) => m.dispose());
  model.dispose();
  return { result, weights, maskValues };
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((w, i) => w.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

describe('fusedSpecOf', () => {
  it('describes plain chains and says why it cannot describe others', () => {
    const spec = fusedSpecOf(convNet());
    expect(typeof spec).toBe('object');
    if (typeof spec === 'string') return;
    expect(spec.layers.map((l) => l.kind)).toEqual(['conv', 'pool', 'conv', 'pool', 'flatten', 'dense', 'flatten', 'dense']);
    expect(spec.probs).toBe(true);
    expect(spec.classes).toBe(4);
    expect(spec.layers[0].geometry).toEqual([11, 10, 2, 3, 3, 5, 6, 5, 2, 2, 1, 1, 1, 0]);
    expect((fusedSpecOf(mlpLogits()) as { probs: boolean }).probs).toBe(false);

    const bn = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.batchNormalization(), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(fusedSpecOf(bn)).toMatch(/non-trainable weights/);
    const dropout = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 2 })] });
    expect(fusedSpecOf(dropout)).toMatch(/dropout is random/);
    const tanh = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'tanh' }), tf.layers.dense({ units: 2 })] });
    expect(fusedSpecOf(tanh)).toMatch(/activation tanh/);
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 4 }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([a, input]) as tf.SymbolicTensor;
    const branchy = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(sum) as tf.SymbolicTensor });
    expect(fusedSpecOf(branchy)).toMatch(/simple chain/);
    const convEnd = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 4 })] });
    expect(fusedSpecOf(convEnd)).toMatch(/does not end in a Dense layer/);
  });
});

describe.runIf(addon !== undefined)('fine-tuning through the native fused step', () => {
  it('ends with the weights and losses of the tfjs step (conv net, softmax output, masks)', async () => {
    const split = data(70, 11 * 10 * 2, 4, 1);
    const fused = await train(convNet, split, true);
    const plain = await train(convNet, split, false);
    expect(fused.result.fused).toEqual({ used: true });
    expect(plain.result.fused.used).toBe(false);
    expect(maxDiff(fused.weights, plain.weights)).toBeLessThan(1e-4);
    fused.result.history.forEach((h, i) => {
      expect(h.loss).toBeCloseTo(plain.result.history[i].loss, 4);
      expect(h.accuracy).toBeCloseTo(plain.result.history[i].accuracy, 6);
    });
    // Pruned weights are exactly zero, and training moved the others.
    fused.weights.forEach((w, i) => fused.maskValues[i]?.forEach((m, j) => m === 0 && expect(Math.abs(w[j])).toBe(0)));
    expect(fused.result.history[1].loss).toBeLessThan(fused.result.history[0].loss);
  });

  it('ends with the weights of the tfjs step for a model with linear logits', async () => {
    const split = data(50, 20, 3, 2);
    const fused = await train(mlpLogits, split, true);
    const plain = await train(mlpLogits, split, false);
    expect(fused.result.fused.used).toBe(true);
    expect(maxDiff(fused.weights, plain.weights)).toBeLessThan(1e-4);
    fused.result.history.forEach((h, i) => expect(h.loss).toBeCloseTo(plain.result.history[i].loss, 4));
  });

  it('a hook that re-prunes mid-training sees the trained weights, and its new masks hold', async () => {
    const split = data(64, 20, 3, 3);
    const seen: number[][] = [];
    const hook = (model: () => tf.LayersModel | undefined, masks: () => Map<string, tf.Tensor>) => async (step: number) => {
      if (step !== 3) return;
      const m = model() as tf.LayersModel;
      const kernel = m.trainableWeights[0];
      seen.push(Array.from(kernel.read().dataSync().slice(0, 5)));
      // Prune one more weight in every four of the first kernel.
      const shape = kernel.shape as number[];
      const next = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (i % 3 === 0 || i % 4 === 1 ? 0 : 1)), shape);
      masks().get(kernel.name)?.dispose();
      masks().set(kernel.name, next);
      kernel.write(tf.mul(kernel.read(), next));
    };
    const run = async (fusedOn: boolean) => {
      let model: tf.LayersModel | undefined;
      let masks = new Map<string, tf.Tensor>();
      const make = () => {
        model = mlpLogits();
        return model;
      };
      const captured = await (async () => {
        const m = make();
        masks = thirdMasks(m);
        for (const [name, mask] of masks) {
          const lv = m.trainableWeights.find((w) => w.name === name)!;
          lv.write(tf.mul(lv.read(), mask));
        }
        await finetuneMasked(m, split, cfg, {
          masks,
          seed: 3,
          fusedTrainer: fusedOn ? nativeFusedTrainer(addon!) : false,
          beforeStep: hook(() => model, () => masks),
          prunesAt: (step) => step === 3,
        });
        return m.trainableWeights.map((w) => w.read().dataSync().slice() as Float32Array);
      })();
      masks.forEach((m) => m.dispose());
      model?.dispose();
      return captured;
    };
    const fused = await run(true);
    const plain = await run(false);
    expect(seen).toHaveLength(2);
    expect(Math.max(...seen[0].map((v, i) => Math.abs(v - seen[1][i])))).toBeLessThan(1e-5);
    expect(maxDiff(fused, plain)).toBeLessThan(1e-4);
    fused[0].forEach((v, i) => (i % 3 === 0 || i % 4 === 1) && expect(Math.abs(v)).toBe(0));
  });

  it('labels the model has no output for are a ConfigError naming the label', async () => {
    const x = new Float32Array(4 * 20);
    const split = arraySplit(x, Int32Array.from([0, 1, 5, 2]), 20);
    const model = mlpLogits();
    await expect(finetuneMasked(model, split, { ...cfg, batchSize: 4 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) })).rejects.toThrow(ConfigError);
    await expect(finetuneMasked(model, split, { ...cfg, batchSize: 4 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) })).rejects.toThrow(/label 5 of sample \d is outside 0\.\.2/);
    model.dispose();
  });

  it('steps aside, saying why, for SGD, the cpu backend, and unsupported models', async () => {
    const split = data(32, 20, 3, 4);
    const model = mlpLogits();
    const sgd = await finetuneMasked(model, split, { ...cfg, epochs: 1, optimizer: 'sgd' }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) });
    expect(sgd.fused).toEqual({ used: false, note: 'the sgd optimizer runs in tfjs' });
    await tf.setBackend('cpu');
    const cpu = await finetuneMasked(model, split, { ...cfg, epochs: 1 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) });
    expect(cpu.fused.note).toMatch(/wasm backend only/);
    await tf.setBackend('wasm');
    const tanh = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 5] }), tf.layers.dense({ units: 3, activation: 'tanh' }), tf.layers.dense({ units: 3 })] });
    const res = await finetuneMasked(tanh, split, { ...cfg, epochs: 1 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) });
    expect(res.fused.note).toMatch(/activation tanh/);
    model.dispose();
    tanh.dispose();
  });
});

/**
 * The fused training step (engine/finetune/fused-step.ts + the native addon's trainer): which
 * models it takes, and that fine-tuning through it ends with the same weights, BatchNorm
 * statistics, losses and masks as the tfjs step it replaces, for every layer kind, activation,
 * padding and stride it covers, and for whole MobileNetV2-, ResNet- and DS-CNN-style nets.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { arraySplit, seededRandom, type DataSplit } from '../../../../src-main/engine/data';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import { fastForward, FUSED_LAYERS, fusedLayerKinds, fusedSpecOf } from '../../../../src-main/engine/finetune/fused-step';
import { evaluate } from '../../../../src-main/engine/measure/evaluate';
import { measureLatency } from '../../../../src-main/engine/measure/latency';
import { finetuneMasked, type FinetuneOptions } from '../../../../src-main/engine/finetune/trainer';
import type { FinetuneConfig } from '../../../../src-main/engine/prune/types';
import { initBackend } from '../../../../src-main/node/backend';
import { loadNativeAddon } from '../../../../src-main/node/native';
import { nativeFusedTrainer } from '../../../../src-main/node/native-trainer';
import { batchNorm, dsCnn, mobileNetV2Like, resNetLike, Seeds } from '../../../fixtures/graph-nets';

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
async function train(make: () => tf.LayersModel, split: DataSplit, fused: boolean, extra: Partial<FinetuneOptions> = {}, config = cfg, masked = true) {
  const model = make();
  const masks = masked ? thirdMasks(model) : new Map<string, tf.Tensor>();
  for (const [name, mask] of masks) {
    const lv = model.trainableWeights.find((w) => w.name === name)!;
    tf.tidy(() => {
      lv.write(tf.mul(lv.read(), mask));
    });
  }
  const result = await finetuneMasked(model, split, config, { masks, seed: 3, fusedTrainer: fused ? nativeFusedTrainer(addon!) : false, ...extra });
  // Trainable weights, then BatchNorm moving statistics.
  const weights = model.weights.map((w) => w.read().dataSync().slice() as Float32Array);
  const maskValues = model.weights.map((w) => masks.get(w.name)?.dataSync().slice());
  const names = model.weights.map((w) => w.name);
  masks.forEach((m) => m.dispose());
  model.dispose();
  return { result, weights, maskValues, names };
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((w, i) => w.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

describe('fusedSpecOf', () => {
  it('describes plain chains and says why it cannot describe others', () => {
    // Each model is only described, then freed.
    const specOf = (m: tf.LayersModel): ReturnType<typeof fusedSpecOf> => {
      try {
        return fusedSpecOf(m);
      } finally {
        m.dispose();
      }
    };
    const spec = specOf(convNet());
    expect(typeof spec).toBe('object');
    if (typeof spec === 'string') return;
    expect(spec.nodes.map((l) => l.kind)).toEqual(['conv', 'maxpool', 'conv', 'maxpool', 'identity', 'dense', 'identity', 'dense']);
    expect(spec.nodes.map((l) => l.inputs)).toEqual([[-1], [0], [1], [2], [3], [4], [5], [6]]);
    expect(spec.probs).toBe(true);
    expect(spec.classes).toBe(4);
    expect(spec.nodes[0].geometry).toEqual([11, 10, 2, 3, 3, 5, 6, 5, 2, 2, 1, 1, 1, 0]);
    expect((specOf(mlpLogits()) as { probs: boolean }).probs).toBe(false);

    const frozen = convNet();
    frozen.layers[0].trainable = false;
    expect(specOf(frozen)).toMatch(/conv2d.* is frozen/);
    const noScale = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.batchNormalization({ scale: false }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(specOf(noScale)).toMatch(/without center\/scale/);
    const dropout = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 2 })] });
    expect(specOf(dropout)).toMatch(/dropout is random/);
    const tanh = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'tanh' }), tf.layers.dense({ units: 2 })] });
    expect(specOf(tanh)).toMatch(/activation tanh/);
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 4 }).apply(input) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([a, input]) as tf.SymbolicTensor;
    const branchy = specOf(tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(sum) as tf.SymbolicTensor }));
    expect(typeof branchy === 'object' && branchy.nodes.map((n) => [n.kind, n.inputs])).toEqual([['dense', [-1]], ['add', [0, -1]], ['dense', [1]]]);
    const convEnd = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 4 })] });
    expect(specOf(convEnd)).toMatch(/output has rank 4/);
    const gru = tf.sequential({ layers: [tf.layers.gru({ inputShape: [3, 4], units: 3 }), tf.layers.dense({ units: 2 })] });
    expect(specOf(gru)).toMatch(/is a GRU/);
    const dilated = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, dilationRate: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    expect(specOf(dilated)).toMatch(/is dilated/);
    const multiplier = tf.sequential({ layers: [tf.layers.depthwiseConv2d({ inputShape: [8, 8, 2], kernelSize: 3, depthMultiplier: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    expect(specOf(multiplier)).toMatch(/depth multiplier 2/);
    const avgSame = tf.sequential({ layers: [tf.layers.averagePooling2d({ inputShape: [5, 5, 1], poolSize: 2, padding: 'same' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    expect(specOf(avgSame)).toMatch(/average pooling over padded windows/);
    const relu4 = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.reLU({ maxValue: 4 }), tf.layers.dense({ units: 2 })] });
    expect(specOf(relu4)).toMatch(/maxValue 4/);
    const earlySoftmax = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' }), tf.layers.dense({ units: 2 })] });
    expect(specOf(earlySoftmax)).toMatch(/softmax only as the model's last step/);
  });

  it('lists the layer classes it covers from the table the spec is built from', () => {
    expect(fusedLayerKinds()).toEqual(Object.keys(FUSED_LAYERS));
    for (const cls of ['Conv2D', 'DepthwiseConv2D', 'Dense', 'BatchNormalization', 'ReLU', 'Activation', 'Add', 'ZeroPadding2D', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Flatten', 'Reshape', 'Dropout']) {
      expect(fusedLayerKinds()).toContain(cls);
    }
  });
});

describe.runIf(addon !== undefined)('fine-tuning through the native fused step', () => {
  it('ends with the weights and losses of the tfjs step (conv net, softmax output, masks)', async () => {
    const split = data(70, 11 * 10 * 2, 4, 1);
    const fused = await train(convNet, split, true);
    const plain = await train(convNet, split, false);
    expect(fused.result.fused).toEqual({ used: true, note: 'native graph step' });
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
      tf.tidy(() => {
        kernel.write(tf.mul(kernel.read(), next));
      });
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
          tf.tidy(() => {
            lv.write(tf.mul(lv.read(), mask));
          });
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

/**
 * Same weights (trainable and BatchNorm statistics), losses and accuracies from both steps; masks
 * exact. `spread`: nets where some parameters get only float-noise gradients (the beta of a BN whose
 * output reaches another BN through a ReLU and a bias-free linear layer: the second BN removes the
 * shift again, except where the ReLU clips), which Adam's g / sqrt(v) blows up to a sizeable step
 * in a direction set by rounding. There tfjs disagrees with itself across backends by about as
 * much, so each weight tensor may differ from the wasm tfjs step by up to twice what the cpu
 * backend's tfjs step does (and at least by 1e-4); the losses must still agree to 1e-4.
 */
async function expectSameTraining(make: () => tf.LayersModel, opts: { n?: number; seed?: number; config?: FinetuneConfig; spread?: boolean; masked?: boolean } = {}) {
  const probe = make();
  const per = tf.util.sizeFromShape(probe.inputs[0].shape.slice(1) as number[]);
  const classes = probe.outputs[0].shape[1] as number;
  const initial = probe.weights.map((w) => w.read().dataSync().slice() as Float32Array);
  const spec = fusedSpecOf(probe);
  probe.dispose();
  expect(typeof spec === 'string' ? spec : 'described').toBe('described');
  const split = data(opts.n ?? 40, per, classes, opts.seed ?? 5);
  const config = opts.config ?? { ...cfg, epochs: 1 };
  const before = tf.memory().numTensors;
  const masked = opts.masked ?? true;
  const fused = await train(make, split, true, {}, config, masked);
  expect(tf.memory().numTensors).toBe(before);
  const plain = await train(make, split, false, {}, config, masked);
  expect(fused.result.fused).toEqual({ used: true, note: 'native graph step' });
  expect(plain.result.fused.used).toBe(false);
  const diffs = fused.weights.map((w, i) => maxDiff([w], [plain.weights[i]]));
  if (opts.spread) {
    await tf.setBackend('cpu');
    const cpu = await train(make, split, false, {}, config, masked);
    await tf.setBackend('wasm');
    diffs.forEach((d, i) => expect(d, fused.names[i]).toBeLessThanOrEqual(Math.max(1e-4, 2 * maxDiff([cpu.weights[i]], [plain.weights[i]]))));
    // Most tensors agree to 1e-4 outright.
    expect(diffs.filter((d) => d < 1e-4).length).toBeGreaterThan(0.8 * diffs.length);
  } else {
    diffs.forEach((d, i) => expect(d, fused.names[i]).toBeLessThan(1e-4));
  }
  // Training moved every weight tensor (BatchNorm statistics included) away from where it started.
  fused.weights.forEach((w, i) => expect(maxDiff([w], [initial[i]]), fused.names[i]).toBeGreaterThan(1e-5));
  fused.result.history.forEach((h, i) => {
    expect(h.loss).toBeCloseTo(plain.result.history[i].loss, 4);
    expect(h.accuracy).toBeCloseTo(plain.result.history[i].accuracy, 6);
  });
  fused.weights.forEach((w, i) => fused.maskValues[i]?.forEach((m, j) => m === 0 && expect(Math.abs(w[j])).toBe(0)));
}

const seq = (layers: tf.layers.Layer[]) => () => tf.sequential({ layers });

describe.runIf(addon !== undefined)('the native graph step matches the tfjs step, layer kind by layer kind', () => {
  it('Conv2D: strides 1 and 2, same and valid, with and without bias, linear / relu / relu6', async () => {
    await expectSameTraining(() => {
      const s = new Seeds(10);
      return seq([
        tf.layers.conv2d({ inputShape: [9, 8, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu6', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.conv2d({ filters: 5, kernelSize: [3, 2], strides: 2, activation: 'relu', useBias: false, kernelInitializer: s.kernel() }),
        tf.layers.conv2d({ filters: 3, kernelSize: 1, strides: 2, padding: 'same', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: s.kernel() }),
      ])();
    });
  });

  it('LeNet-5-style: few-filter convolutions (direct kernels) on one channel, 2x2 max pooling that tiles its input exactly', async () => {
    // 6 and 16 filters take native/gemm.c's direct convolution (one and two vectors of output
    // channels); 12x12 and 4x4 pooled by 2x2 windows that cover every input once.
    await expectSameTraining(() => {
      const s = new Seeds(15);
      return seq([
        tf.layers.conv2d({ inputShape: [16, 16, 1], filters: 6, kernelSize: 5, activation: 'relu', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 7, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: s.kernel() }),
      ])();
    });
  });

  it('DepthwiseConv2D: strides 1 and 2, same and valid, with and without bias, relu / relu6 / linear', async () => {
    await expectSameTraining(() => {
      const s = new Seeds(20);
      return seq([
        tf.layers.depthwiseConv2d({ inputShape: [10, 9, 3], kernelSize: 3, padding: 'same', activation: 'relu', depthwiseInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, useBias: false, activation: 'relu6', depthwiseInitializer: s.kernel() }),
        tf.layers.depthwiseConv2d({ kernelSize: [2, 3], strides: 2, padding: 'same', depthwiseInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: s.kernel() }),
      ])();
    });
  });

  it('BatchNormalization in training mode (images and vectors, default and custom momentum/epsilon), ReLU and Activation layers', async () => {
    // One BatchNorm per model: a BN's beta feeding another BN through a ReLU and a linear layer
    // gets noise-level gradients (see expectSameTraining), which would test rounding, not semantics.
    await expectSameTraining(() => {
      const s = new Seeds(30);
      return seq([
        tf.layers.conv2d({ inputShape: [7, 7, 2], filters: 4, kernelSize: 3, useBias: false, kernelInitializer: s.kernel() }),
        batchNorm(s),
        tf.layers.reLU({ maxValue: 6 }),
        tf.layers.conv2d({ filters: 3, kernelSize: 3, kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.activation({ activation: 'relu6' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: s.kernel() }),
      ])();
    });
    await expectSameTraining(() => {
      const s = new Seeds(35);
      return seq([
        tf.layers.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: s.kernel() }),
        batchNorm(s, { momentum: 0.9, epsilon: 1e-5 }),
        tf.layers.reLU({}),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5, kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.activation({ activation: 'linear' }),
        tf.layers.dense({ units: 3, kernelInitializer: s.kernel() }),
        tf.layers.activation({ activation: 'softmax' }),
      ])();
    });
    await expectSameTraining(() => {
      const s = new Seeds(38);
      return seq([
        tf.layers.flatten({ inputShape: [4, 5] }),
        tf.layers.dense({ units: 6, useBias: false, kernelInitializer: s.kernel() }),
        batchNorm(s, { momentum: 0.5 }),
        tf.layers.reLU({ maxValue: 6 }),
        tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: s.kernel() }),
      ])();
    });
  });

  it('Add (two and three inputs, one of them read twice), ZeroPadding2D, Max/Average/GlobalAverage pooling, Reshape, Dropout 0, Softmax layer', async () => {
    await expectSameTraining(() => {
      const s = new Seeds(40);
      const input = tf.input({ shape: [8, 8, 2] });
      const ap = (l: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => l.apply(x) as tf.SymbolicTensor;
      const a = ap(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }), input);
      const b = ap(tf.layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }), input);
      const sum = ap(tf.layers.add(), [a, b, a]);
      const padded = ap(tf.layers.zeroPadding2d({ padding: [[1, 0], [2, 1]] }), sum);
      const pooled = ap(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), padded);
      const c = ap(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: s.kernel(), biasInitializer: s.uniform(-0.3, 0.3) }), pooled);
      const res = ap(tf.layers.add(), [pooled, c]);
      const avg = ap(tf.layers.averagePooling2d({ poolSize: 2, strides: 1 }), res);
      const gap = ap(tf.layers.globalAveragePooling2d({}), avg);
      const flat = ap(tf.layers.flatten(), ap(tf.layers.reshape({ targetShape: [2, 2, 3] }), ap(tf.layers.maxPooling2d({ poolSize: 2 }), avg)));
      const both = ap(tf.layers.add(), [ap(tf.layers.dense({ units: 4, kernelInitializer: s.kernel() }), gap), ap(tf.layers.dense({ units: 4, kernelInitializer: s.kernel() }), ap(tf.layers.dropout({ rate: 0 }), flat))]);
      const logits = ap(tf.layers.dense({ units: 3, kernelInitializer: s.kernel() }), both);
      return tf.model({ inputs: input, outputs: ap(tf.layers.softmax(), logits) });
    });
  });

  it('a graph with linear logits (the loss on logits) and a BatchNorm reading the model input', async () => {
    await expectSameTraining(() => {
      const s = new Seeds(50);
      return seq([tf.layers.batchNormalization({ inputShape: [6, 5, 2], gammaInitializer: s.uniform(0.5, 1.5), betaInitializer: s.uniform(-0.2, 0.2) }), tf.layers.conv2d({ filters: 3, kernelSize: 2, activation: 'relu', kernelInitializer: s.kernel() }), tf.layers.globalAveragePooling2d({}), tf.layers.dense({ units: 3, kernelInitializer: s.kernel() })])();
    });
  });
});

describe.runIf(addon !== undefined)('the native graph step matches the tfjs step on whole modern nets', () => {
  it('MobileNetV2-style (inverted residuals, depthwise, BN, ReLU6, Add, GAP)', async () => {
    await expectSameTraining(() => mobileNetV2Like({ inputShape: [12, 12, 2], stem: 4, blocks: [[1, 4, 1], [2, 6, 2], [2, 6, 1]], head: 8, classes: 3 }), { masked: false, spread: true });
  });

  it('ResNet-style (Conv-BN-ReLU, residual Add, 1x1 stride-2 projection shortcuts)', async () => {
    await expectSameTraining(() => resNetLike({ inputShape: [10, 10, 2], stages: [4, 6], classes: 3 }), { masked: false });
  });

  it('ResNet-style with 16, 24 and 40 channels on an odd-sized input (the AVX-512 direct and wide convolution kernels, transposed input gradients) ends where the cpu backend does', async () => {
    // Against the pure-JS cpu backend, not the wasm step: convolutions before a BatchNorm have
    // gradient components that are zero in exact arithmetic, and Adam turns their rounding into
    // lr-sized steps of either sign. The wasm step (other kernels, other rounding) then lands
    // 1e-2 away from both on this net, with the branch point's addon too (its AVX2 GEMM tile).
    const make = () => resNetLike({ inputShape: [9, 9, 3], stages: [16, 24, 40], classes: 3 });
    const probe = make();
    const per = tf.util.sizeFromShape(probe.inputs[0].shape.slice(1) as number[]);
    probe.dispose();
    const split = data(40, per, 3, 5);
    const config = { ...cfg, epochs: 1 };
    const fused = await train(make, split, true, {}, config, false);
    expect(fused.result.fused).toEqual({ used: true, note: 'native graph step' });
    await tf.setBackend('cpu');
    const cpu = await train(make, split, false, {}, config, false);
    await tf.setBackend('wasm');
    fused.weights.forEach((w, i) => expect(maxDiff([w], [cpu.weights[i]]), fused.names[i]).toBeLessThan(1e-4));
  });

  it('DS-CNN-style (Conv-BN-ReLU, depthwise-separable blocks, average pooling, Dense)', async () => {
    await expectSameTraining(() => dsCnn({ inputShape: [13, 6, 1], filters: 5, blocks: 2, classes: 4 }), { masked: false });
  });

  it('refuses dropout above zero, saying why, and trains such a model in tfjs', async () => {
    const make = () => tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, useBias: false }), tf.layers.batchNormalization(), tf.layers.dropout({ rate: 0.3 }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    const model = make();
    const res = await finetuneMasked(model, data(16, 36, 2, 6), { ...cfg, epochs: 1 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) });
    expect(res.fused.used).toBe(false);
    expect(res.fused.note).toBe(`${model.layers[2].name}: dropout is random in training`);
    model.dispose();
  });
});

/**
 * Every layer class of FUSED_LAYERS in one graph, with each way inference treats a BatchNorm: folded
 * into the Conv2D (then ReLU6), depthwise conv with a bias (then relu) and Dense (then ReLU) before
 * it; not folded where it reads the padding (no kernel), or a conv whose output the Add reads too.
 */
function everyKind(): tf.LayersModel {
  const seeds = new Seeds(400);
  const on = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;
  const input = tf.input({ shape: [9, 8, 3] });
  const padded = on(tf.layers.zeroPadding2d({ padding: [[1, 0], [0, 1]] }), input);
  const normed = on(batchNorm(seeds), padded);
  const c0 = on(tf.layers.reLU({ maxValue: 6 }), on(batchNorm(seeds), on(tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: seeds.kernel() }), normed)));
  const dw = on(tf.layers.activation({ activation: 'relu' }), on(batchNorm(seeds), on(tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: seeds.kernel(), biasInitializer: seeds.uniform(-0.2, 0.2) }), c0)));
  const c1 = on(tf.layers.conv2d({ filters: 4, kernelSize: 1, kernelInitializer: seeds.kernel() }), c0);
  const sum = on(tf.layers.add(), [dw, on(batchNorm(seeds), c1), c1]);
  const pooled = on(tf.layers.maxPooling2d({ poolSize: 2, strides: 1 }), on(tf.layers.averagePooling2d({ poolSize: 2 }), sum));
  const gap = on(tf.layers.globalAveragePooling2d({}), pooled);
  const dense = on(tf.layers.reLU(), on(batchNorm(seeds), on(tf.layers.dense({ units: 6, kernelInitializer: seeds.kernel() }), gap)));
  const flat = on(tf.layers.dropout({ rate: 0 }), on(tf.layers.flatten(), on(tf.layers.reshape({ targetShape: [6, 1, 1] }), dense)));
  const out = on(tf.layers.softmax(), on(tf.layers.dense({ units: 3, kernelInitializer: seeds.kernel() }), flat));
  return tf.model({ inputs: input, outputs: out });
}

describe.runIf(addon !== undefined)('inference on the native forward pass (fastForward) matches model.predict', () => {
  const nets: [string, () => tf.LayersModel, number[]][] = [
    ['every layer kind, BatchNorm folded and not', () => everyKind(), [9, 8, 3]],
    ['MobileNetV2-style (BN on moving statistics, ReLU6, depthwise, Add, GAP, softmax)', () => mobileNetV2Like({ inputShape: [12, 12, 2], stem: 4, blocks: [[1, 4, 1], [2, 6, 2], [2, 6, 1]], head: 8, classes: 3 }), [12, 12, 2]],
    ['ResNet-style', () => resNetLike({ inputShape: [10, 10, 2], stages: [4, 6], classes: 3 }), [10, 10, 2]],
    ['DS-CNN-style', () => dsCnn({ inputShape: [13, 6, 1], filters: 5, blocks: 2, classes: 4 }), [13, 6, 1]],
    ['LeNet-style chain with linear logits', () => mlpLogits(), [4, 5]],
    ['a conv net ending in softmax', () => convNet(), [11, 10, 2]],
  ];
  for (const [label, make, shape] of nets) {
    it(label, async () => {
      const model = make();
      const per = shape.reduce((a, b) => a * b, 1);
      const classes = model.outputs[0].shape[1] as number;
      // Train first, so the BatchNorm moving statistics are not their initial 0 and 1.
      await finetuneMasked(model, data(32, per, classes, 9), { ...cfg, epochs: 1 }, { masks: new Map(), fusedTrainer: nativeFusedTrainer(addon!) });
      const ff = fastForward(model, nativeFusedTrainer(addon!));
      if (typeof ff === 'string') throw new Error(ff);
      // Batch 1 (one lane) and 37 (split into lanes), as latency is measured.
      for (const n of [1, 37]) {
        const { x } = data(n, per, classes, 4).take(Int32Array.from({ length: n }, (_, i) => i));
        const before = tf.memory().numTensors;
        const ours = ff.predict(x as Float32Array, n);
        expect(tf.memory().numTensors).toBe(before);
        const ref = tf.tidy(() => (model.predict(tf.tensor(x, [n, ...shape])) as tf.Tensor).dataSync() as Float32Array);
        expect(ours.length).toBe(ref.length);
        expect(maxDiff([ours], [ref])).toBeLessThan(1e-5);
      }
      ff.dispose();
      model.dispose();
    });
  }

  it('the nets above use every layer class the native path covers', () => {
    const seen = new Set<string>();
    for (const [, make] of nets) {
      const model = make();
      model.layers.forEach((l) => seen.add(l.getClassName()));
      model.dispose();
    }
    expect(fusedLayerKinds().filter((k) => !seen.has(k))).toEqual([]);
  });

  it('evaluateModel and measureLatency run it where the installed trainer covers the model, and say so; fast: false is tfjs', async () => {
    const model = mobileNetV2Like({ inputShape: [12, 12, 2], stem: 4, blocks: [[1, 4, 1], [2, 6, 1]], head: 8, classes: 3 });
    const split = data(300, 288, 3, 12);
    const fast = evaluateModel(model, split);
    const slow = evaluateModel(model, split, { fast: false });
    expect(fast.path).toBe('native graph step');
    expect(slow.path).toBe('tfjs');
    expect(fast.samples).toBe(300);
    expect(fast.loss).toBeCloseTo(slow.loss, 5);
    expect(fast.accuracy).toBe(slow.accuracy);
    const [lat] = await measureLatency(model, { batchSizes: [4], runs: 2, warmup: 1 });
    expect(lat.path).toBe('native graph step');
    expect((await measureLatency(model, { batchSizes: [4], runs: 2, warmup: 1, fast: false }))[0].path).toBe('tfjs');
    // The app's full evaluation (engine/measure: accuracy, loss, confusion) on the same path, same figures.
    const full = await evaluate(model, split, { batchSize: 64 });
    const fullSlow = await evaluate(model, split, { batchSize: 64, fast: false });
    expect([full.path, fullSlow.path]).toEqual(['native graph step', 'tfjs']);
    expect(full.accuracy).toBe(fullSlow.accuracy);
    expect(full.loss).toBeCloseTo(fullSlow.loss, 5);
    expect(full.confusion).toEqual(fullSlow.confusion);
    // Not covered (dropout above zero): tfjs, with the reason from fusedSpecOf.
    const other = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 5] }), tf.layers.dropout({ rate: 0.5 }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    expect(fastForward(other, nativeFusedTrainer(addon!))).toMatch(/dropout/);
    expect(evaluateModel(other, data(10, 20, 2, 1)).path).toBe('tfjs');
    expect((await evaluate(other, data(10, 20, 2, 1))).path).toBe('tfjs');
    model.dispose();
    other.dispose();
  });
});

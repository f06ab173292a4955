/**
 * Models and timing helpers shared by the training benchmarks. The same architectures are defined
 * in torch_train.py for the PyTorch column; keep the two in step.
 */
import * as tf from '@tensorflow/tfjs';
import { arraySplit, seededRandom, type DataSplit } from '../../src-main/engine/data';
import type { GradientShardsFactory } from '../../src-main/engine/finetune/gradient-shards';
import { finetuneMasked, type FinetuneOptions } from '../../src-main/engine/finetune/trainer';

export type BenchModel = 'lenet-300-100' | 'lenet-5';
export type ModernNet = 'mbv2-28' | 'mbv2-0.35-96' | 'mbv2-0.35-224' | 'resnet-8' | 'resnet-20' | 'ds-cnn';
export type AnyNet = BenchModel | ModernNet;

/** Input sample shape (HWC) and class count of each benchmark net. */
export const NET_INPUT: Record<AnyNet, { shape: [number, number, number]; classes: number }> = {
  'lenet-300-100': { shape: [28, 28, 1], classes: 10 },
  'lenet-5': { shape: [28, 28, 1], classes: 10 },
  'mbv2-28': { shape: [28, 28, 1], classes: 10 },
  'mbv2-0.35-96': { shape: [96, 96, 3], classes: 10 },
  'mbv2-0.35-224': { shape: [224, 224, 3], classes: 10 },
  'resnet-8': { shape: [32, 32, 3], classes: 10 },
  'resnet-20': { shape: [32, 32, 3], classes: 10 },
  'ds-cnn': { shape: [49, 10, 1], classes: 12 },
};

/** LeNet-300-100 (dense 300 relu, dense 100 relu, dense 10 softmax) or LeNet-5, on 28×28×1 input. */
export function buildModel(name: BenchModel): tf.LayersModel {
  const m = tf.sequential();
  if (name === 'lenet-300-100') {
    m.add(tf.layers.flatten({ inputShape: [28, 28, 1] }));
    m.add(tf.layers.dense({ units: 300, activation: 'relu' }));
    m.add(tf.layers.dense({ units: 100, activation: 'relu' }));
  } else {
    m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu' }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 120, activation: 'relu' }));
    m.add(tf.layers.dense({ units: 84, activation: 'relu' }));
  }
  m.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** A random batch shaped like Fashion-MNIST (x in [0, 1), one-hot y), or like another input. */
export function randomBatch(n: number, shape: [number, number, number] = [28, 28, 1], classes = 10): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.randomUniform([n, ...shape]) as tf.Tensor4D,
    y: tf.oneHot(tf.randomUniform([n], 0, classes, 'int32') as tf.Tensor1D, classes) as tf.Tensor2D,
  }));
}

type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, x: Sym | Sym[]): Sym => layer.apply(x) as Sym;

/** BatchNormalization with Keras's epsilon 1e-3 (PyTorch twin: eps 1e-3, momentum 1 - momentum). */
function bn(x: Sym, momentum = 0.99): Sym {
  return apply(tf.layers.batchNormalization({ epsilon: 1e-3, momentum }), x);
}
const relu6 = (x: Sym): Sym => apply(tf.layers.reLU({ maxValue: 6 }), x);
const relu = (x: Sym): Sym => apply(tf.layers.reLU({}), x);
/**
 * Conv2D without bias by default (a BN follows). TensorFlow's 'same' pads a stride-s, size-k window
 * over n inputs by total = max((ceil(n/s) - 1) * s + k - n, 0), the odd pixel after; the PyTorch
 * twin pads explicitly the same way (torch_train.py same_pad).
 */
function conv(x: Sym, filters: number, k: number | [number, number], strides = 1, useBias = false, padding: 'same' | 'valid' = 'same'): Sym {
  return apply(tf.layers.conv2d({ filters, kernelSize: k, strides, padding, useBias }), x);
}
function dwconv(x: Sym, strides: number, padding: 'same' | 'valid' = 'same'): Sym {
  return apply(tf.layers.depthwiseConv2d({ kernelSize: 3, strides, padding, useBias: false }), x);
}
function head(x: Sym, classes: number): Sym {
  return apply(tf.layers.dense({ units: classes, activation: 'softmax' }), apply(tf.layers.globalAveragePooling2d({}), x));
}

/**
 * Keras applications' _make_divisible (from the TF-slim MobileNet code): round v to the nearest
 * multiple of 8, at least 8, never more than 10% below v.
 */
export function makeDivisible(v: number, divisor = 8): number {
  const rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/**
 * MobileNetV2 inverted residual (Sandler et al. 2018): 1x1 expand (t x inC, skipped when
 * `expand` is false) -> BN -> ReLU6 -> 3x3 depthwise (stride s) -> BN -> ReLU6 -> 1x1 project
 * (linear bottleneck) -> BN, plus the input when s = 1 and the channel count is kept.
 * `kerasPad`: stride-2 depthwise convs get ZeroPadding2D then 'valid' (Keras applications'
 * correct_pad: ((0,1),(0,1)) on even sizes, ((1,1),(1,1)) on odd), instead of 'same'.
 */
function invertedResidual(x: Sym, t: number, c: number, s: number, momentum: number, expand: boolean, kerasPad: boolean): Sym {
  const inC = x.shape[3] as number;
  let h = x;
  if (expand) h = relu6(bn(conv(h, inC * t, 1), momentum));
  if (s === 2 && kerasPad) {
    const odd = (d: number): [number, number] => ((d % 2) === 1 ? [1, 1] : [0, 1]);
    h = apply(tf.layers.zeroPadding2d({ padding: [odd(h.shape[1] as number), odd(h.shape[2] as number)] }), h);
    h = dwconv(h, s, 'valid');
  } else h = dwconv(h, s, 'same');
  h = bn(conv(relu6(bn(h, momentum)), c, 1), momentum);
  return s === 1 && inC === c ? apply(tf.layers.add({}), [x, h]) : h;
}

/** The small MobileNetV2 on 28x28x1 (34,282 parameters, BN statistics included). */
function mbv2Small(): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = relu6(bn(conv(input, 16, 3, 2)));
  for (const [t, c, s] of [
    [1, 16, 1],
    [4, 24, 2],
    [4, 24, 1],
    [4, 32, 2],
    [4, 32, 1],
  ]) {
    x = invertedResidual(x, t, c, s, 0.99, true, false);
  }
  // Conv 128 1x1 with bias and ReLU6, no BN (the last feature layer before pooling).
  x = relu6(conv(x, 128, 1, 1, true));
  return tf.model({ inputs: input, outputs: head(x, 10) });
}

/**
 * Keras applications' MobileNetV2 (alpha, include_top=False) + GAP + Dense(10, softmax): Conv1
 * (3x3/2 'same', makeDivisible(32 alpha) filters), 17 inverted residuals (expansion 6 except the
 * first, which has no expand conv), Conv_1 with 1280 filters (alpha <= 1), BN momentum 0.999,
 * epsilon 1e-3. Alpha 0.35 at 224: 410,208 parameters without the head (as Keras reports).
 */
function mobilenetV2(alpha: number, size: number): tf.LayersModel {
  const input = tf.input({ shape: [size, size, 3] });
  const m = 0.999;
  let x = relu6(bn(conv(input, makeDivisible(32 * alpha), 3, 2), m));
  const blocks: [number, number, number][] = [
    [1, 16, 1],
    [6, 24, 2], [6, 24, 1],
    [6, 32, 2], [6, 32, 1], [6, 32, 1],
    [6, 64, 2], [6, 64, 1], [6, 64, 1], [6, 64, 1],
    [6, 96, 1], [6, 96, 1], [6, 96, 1],
    [6, 160, 2], [6, 160, 1], [6, 160, 1],
    [6, 320, 1],
  ];
  blocks.forEach(([t, c, s], i) => {
    x = invertedResidual(x, t, makeDivisible(Math.floor(c * alpha)), s, m, i > 0, true);
  });
  x = relu6(bn(conv(x, alpha > 1 ? makeDivisible(1280 * alpha) : 1280, 1), m));
  return tf.model({ inputs: input, outputs: head(x, 10) });
}

/**
 * CIFAR-style ResNet (He et al. 2016, section 4.2): Conv16-BN-ReLU, then three stages (16/32/64
 * filters, stride 1/2/2) of `blocksPerStage` basic blocks (conv-BN-ReLU-conv-BN + shortcut, ReLU),
 * GAP and the softmax head. The shortcut is a 1x1 conv + BN where the shape changes (option B),
 * identity elsewhere. One block per stage is ResNet-8 (78,714 parameters with BN statistics),
 * three is ResNet-20 (6n + 2 with n = 3).
 */
function cifarResNet(blocksPerStage: number): tf.LayersModel {
  const input = tf.input({ shape: [32, 32, 3] });
  let x = relu(bn(conv(input, 16, 3)));
  for (const [filters, firstStride] of [
    [16, 1],
    [32, 2],
    [64, 2],
  ]) {
    for (let b = 0; b < blocksPerStage; b++) {
      const stride = b === 0 ? firstStride : 1;
      const h = bn(conv(relu(bn(conv(x, filters, 3, stride))), filters, 3));
      const shortcut = stride === 1 && (x.shape[3] as number) === filters ? x : bn(conv(x, filters, 1, stride));
      x = relu(apply(tf.layers.add({}), [h, shortcut]));
    }
  }
  return tf.model({ inputs: input, outputs: head(x, 10) });
}

/** DS-CNN-S keyword spotting (Zhang et al. 2017, "Hello Edge"): 49x10 MFCC input, 12 classes. */
function dsCnn(): tf.LayersModel {
  const input = tf.input({ shape: [49, 10, 1] });
  let x = relu(bn(conv(input, 64, [10, 4], 2)));
  for (let i = 0; i < 4; i++) x = relu(bn(conv(relu(bn(dwconv(x, 1))), 64, 1)));
  return tf.model({ inputs: input, outputs: head(x, 12) });
}

/** One of the benchmark nets, compiled with Adam 1e-3 and categorical cross-entropy. */
export function buildNet(name: AnyNet): tf.LayersModel {
  if (name === 'lenet-300-100' || name === 'lenet-5') return buildModel(name);
  const m =
    name === 'mbv2-28' ? mbv2Small() : name === 'mbv2-0.35-96' ? mobilenetV2(0.35, 96) : name === 'mbv2-0.35-224' ? mobilenetV2(0.35, 224) : name === 'resnet-8' ? cifarResNet(1) : name === 'resnet-20' ? cifarResNet(3) : dsCnn();
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return m;
}

/** Training samples/s over `batches` steps of trainOnBatch after one warm-up step. */
export async function trainThroughput(model: tf.LayersModel, batchSize: number, batches: number): Promise<number> {
  const { x, y } = randomBatch(batchSize);
  await model.trainOnBatch(x, y); // warm-up: optimizer slots, XNNPACK operators, code paths
  const t0 = performance.now();
  for (let i = 0; i < batches; i++) await model.trainOnBatch(x, y);
  const seconds = (performance.now() - t0) / 1000;
  tf.dispose([x, y]);
  return (batches * batchSize) / seconds;
}

/** `n` seeded random samples shaped like Fashion-MNIST (x in [0, 1), labels 0-9) as a DataSplit, or like `shape`. */
export function randomSplit(n: number, seed = 1, shape: number[] = [28, 28, 1], classes = 10): DataSplit {
  const per = shape.reduce((a, b) => a * b, 1);
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * per }, rand);
  const y = Int32Array.from({ length: n }, () => Math.floor(rand() * classes));
  return arraySplit(x, y, per);
}

/**
 * Training samples/s of Topiary's own loop (finetuneMasked, Adam, no masks) over `batches` steps,
 * timed after two warm-up steps; `gradientShards` makes it data-parallel, `fusedTrainer: false`
 * keeps every step in tfjs (default: the installed fused trainer, when the model suits it).
 */
export async function finetuneThroughput(
  model: tf.LayersModel,
  batchSize: number,
  batches: number,
  gradientShards?: GradientShardsFactory,
  fusedTrainer?: FinetuneOptions['fusedTrainer'],
): Promise<number> {
  const warm = 2;
  const split = randomSplit(batchSize * (batches + warm));
  let t0 = 0;
  let t1 = 0;
  await finetuneMasked(model, split, { epochs: 1, batchSize, learningRate: 1e-3, optimizer: 'adam' }, {
    masks: new Map(),
    gradientShards,
    ...(fusedTrainer !== undefined ? { fusedTrainer } : {}),
    onProgress: (p) => {
      if (p.phase !== 'batch') return;
      if (p.batch === warm - 1) t0 = performance.now();
      t1 = performance.now();
    },
  });
  return (batches * batchSize) / ((t1 - t0) / 1000);
}

/** Median wall time in ms of `model.predict` on a batch of `batchSize`, after warm-up. */
export async function inferenceLatencyMs(model: tf.LayersModel, batchSize: number, runs: number, shape: [number, number, number] = [28, 28, 1]): Promise<number> {
  const { x, y } = randomBatch(batchSize, shape);
  const once = async () => {
    // predict() would split a 64-batch into two of its default 32.
    const out = model.predict(x, { batchSize }) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  await once();
  if (runs > 2) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  tf.dispose([x, y]);
  return median(times);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

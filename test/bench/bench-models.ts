/**
 * Models and timing helpers shared by the training benchmarks. The same architectures are defined
 * in torch_train.py for the PyTorch column; keep the two in step.
 */
import * as tf from '@tensorflow/tfjs';
import { arraySplit, seededRandom, type DataSplit } from '../../src-main/engine/data';
import type { GradientShardsFactory } from '../../src-main/engine/finetune/gradient-shards';
import { finetuneMasked, type FinetuneOptions } from '../../src-main/engine/finetune/trainer';

export type BenchModel = 'lenet-300-100' | 'lenet-5';

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

/** A random batch shaped like Fashion-MNIST (x in [0, 1), one-hot y). */
export function randomBatch(n: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  return tf.tidy(() => ({
    x: tf.randomUniform([n, 28, 28, 1]) as tf.Tensor4D,
    y: tf.oneHot(tf.randomUniform([n], 0, 10, 'int32') as tf.Tensor1D, 10) as tf.Tensor2D,
  }));
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

/** `n` seeded random samples shaped like Fashion-MNIST (x in [0, 1), labels 0-9) as a DataSplit. */
export function randomSplit(n: number, seed = 1): DataSplit {
  const per = 28 * 28;
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * per }, rand);
  const y = Int32Array.from({ length: n }, () => Math.floor(rand() * 10));
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
export async function inferenceLatencyMs(model: tf.LayersModel, batchSize: number, runs: number): Promise<number> {
  const { x, y } = randomBatch(batchSize);
  const once = async () => {
    // predict() would split a 64-batch into two of its default 32.
    const out = model.predict(x, { batchSize }) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  await once();
  await once();
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

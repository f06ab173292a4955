/**
 * The same fine-tuning on two tfjs backends, compared: the model is built and initialized once on
 * the cpu backend, its weights (masked) copied to the other backend, and both run `steps` Adam steps
 * of the engine's own loop (finetuneMasked: masked gradients, FusedAdam, masks re-applied) on the
 * same seeded batches. What comes back is each step's loss and every weight, as plain arrays.
 */
import * as tf from '@tensorflow/tfjs';
import { arraySplit, seededRandom, type DataSplit } from '../engine/data';
import { finetuneMasked } from '../engine/finetune/trainer';
import { prunableWeights } from '../engine/prune/weights';

export interface TrainTrace {
  backend: string;
  /** Loss of each optimizer step, in order. */
  losses: number[];
  /** model.getWeights() after training (trainable and BatchNorm statistics), by weight name. */
  weights: { name: string; values: Float32Array }[];
  /** For every masked kernel: how many pruned positions are not exactly 0 after training. */
  maskLeaks: { name: string; pruned: number; nonZero: number }[];
  ms: number;
}

export interface CompareCase {
  name: string;
  /** Builds the (uncompiled) model; called once per backend, weights are copied from the first build. */
  build(): tf.LayersModel;
  steps: number;
  batchSize: number;
  learningRate: number;
  /** Fraction of each prunable kernel's weights masked to zero (seeded). */
  sparsity: number;
}

/** Seeded samples and labels for a model's input shape (uniform [0, 1) inputs, classes by argmax of a random map). */
export function syntheticSplit(inputShape: number[], classes: number, samples: number, seed: number): DataSplit {
  const rand = seededRandom(seed);
  const per = inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(samples * per);
  for (let i = 0; i < x.length; i++) x[i] = rand();
  const y = new Int32Array(samples);
  for (let i = 0; i < samples; i++) y[i] = Math.floor(rand() * classes);
  return arraySplit(x, y, per);
}

/** Initial weights and masks, made on the cpu backend so both backends start from identical bytes. */
export interface Start {
  inputShape: number[];
  weights: { name: string; shape: number[]; values: Float32Array }[];
  masks: { name: string; shape: number[]; keep: Float32Array }[];
}

export async function startFor(c: CompareCase, seed: number): Promise<Start> {
  await tf.setBackend('cpu');
  const model = c.build();
  const rand = seededRandom(seed);
  const masks = prunableWeights(model).map((p) => {
    const keep = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < keep.length; i++) keep[i] = rand() < c.sparsity ? 0 : 1;
    return { name: p.weightName, shape: p.shape, keep };
  });
  const byName = new Map(masks.map((m) => [m.name, m.keep]));
  const weights = model.weights.map((w) => {
    const values = Float32Array.from(w.read().dataSync() as Float32Array);
    const keep = byName.get(w.name);
    if (keep) for (let i = 0; i < values.length; i++) values[i] *= keep[i];
    return { name: w.name, shape: w.shape as number[], values };
  });
  const inputShape = model.inputs[0].shape.slice(1) as number[];
  model.dispose();
  return { inputShape, weights, masks };
}

/** Trains a fresh build of the case on `backend` from `start` and reads everything back. */
export async function trainOn(backend: string, c: CompareCase, start: Start, data: DataSplit): Promise<TrainTrace> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend "${backend}" did not initialize`);
  await tf.ready();
  const model = c.build();
  if (model.weights.length !== start.weights.length) throw new Error(`${c.name}: the two builds have different weights`);
  // Weight names carry a per-build counter (dense_Dense3/kernel); they match by position.
  // The variable keeps its own reference to the data; tidy frees the tensor handles.
  tf.tidy(() => model.weights.forEach((w, i) => w.write(tf.tensor(start.weights[i].values, start.weights[i].shape))));
  const nameAt = new Map(start.weights.map((w, i) => [w.name, model.weights[i].name]));
  const masks = new Map(start.masks.map((m) => [nameAt.get(m.name) ?? m.name, tf.tensor(m.keep, m.shape)]));
  const losses: number[] = [];
  const t0 = performance.now();
  try {
    await finetuneMasked(
      model,
      data,
      { epochs: 1, batchSize: c.batchSize, learningRate: c.learningRate, optimizer: 'adam', maxSamplesPerEpoch: c.steps * c.batchSize },
      { masks, seed: 7, fusedTrainer: false, divergence: false, onProgress: (p) => p.phase === 'batch' && p.loss !== undefined && losses.push(p.loss) },
    );
    const ms = performance.now() - t0;
    const weights = model.weights.map((w, i) => ({ name: start.weights[i].name, values: Float32Array.from(w.read().dataSync() as Float32Array) }));
    const maskLeaks = start.masks.map((m) => {
      const values = weights.find((w) => w.name === m.name)?.values ?? new Float32Array();
      let pruned = 0;
      let nonZero = 0;
      m.keep.forEach((k, i) => {
        if (k !== 0) return;
        pruned++;
        if (values[i] !== 0) nonZero++;
      });
      return { name: m.name, pruned, nonZero };
    });
    return { backend, losses, weights, maskLeaks, ms };
  } finally {
    for (const m of masks.values()) m.dispose();
    model.dispose();
  }
}

/**
 * How far a trace is from the reference. Losses: relative, |l - ref| / max(|ref|, 1e-3).
 * Weights: the change training made, compared as vectors per tensor: ||w - ref|| / ||ref - w0||
 * (L2), i.e. how much of the reference's update the other backend got wrong. A max-element measure
 * would be dominated by weights whose gradient is ~0: Adam's first steps move every weight by about
 * lr * g / (|g| + eps), so a gradient of 1e-7 that float rounding makes 1.1e-7 on one side moves
 * that one weight differently by a sizeable fraction of a step, on any two float32 backends.
 * The largest single-element difference is reported alongside (weightAbs).
 */
export interface TraceDiff {
  lossRel: number;
  weightAbs: number;
  /** Worst tensor's ||w - ref|| / ||ref - w0|| (tensors the reference did not change are left out). */
  updateRel: number;
  worst: string;
}

export function compareTraces(ref: TrainTrace, other: TrainTrace, start: Start): TraceDiff {
  let lossRel = 0;
  ref.losses.forEach((l, i) => {
    const rel = Math.abs((other.losses[i] ?? NaN) - l) / Math.max(Math.abs(l), 1e-3);
    lossRel = Number.isNaN(rel) ? Infinity : Math.max(lossRel, rel);
  });
  if (other.losses.length !== ref.losses.length) lossRel = Infinity;
  let weightAbs = 0;
  let updateRel = 0;
  let worst = '';
  ref.weights.forEach((w, t) => {
    const o = other.weights[t].values;
    const w0 = start.weights[t].values;
    let maxDiff = 0;
    let diff2 = 0;
    let moved2 = 0;
    for (let i = 0; i < w.values.length; i++) {
      const d = o[i] - w.values[i];
      maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, Math.abs(d));
      diff2 += d * d;
      moved2 += (w.values[i] - w0[i]) ** 2;
    }
    weightAbs = Math.max(weightAbs, maxDiff);
    const rel = Number.isNaN(diff2) ? Infinity : Math.sqrt(diff2 / moved2);
    if (moved2 > 0 && rel > updateRel) {
      updateRel = rel;
      worst = w.name;
    }
  });
  return { lossRel, weightAbs, updateRel, worst };
}

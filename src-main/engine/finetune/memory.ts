/**
 * Keeping training and evaluation batches inside the backend's memory.
 *
 * tfjs-backend-wasm lives in one 32-bit wasm heap (at most 4 GiB - 64 KiB); a training step whose
 * tensors do not fit does not fail politely, it traps ("memory access out of bounds"). So before
 * batches run, the step's memory is estimated from the model and the batch is split into
 * micro-batches that fit. Gradient accumulation over micro-batches B_1..B_k of a batch B
 * (|B| = n) computes
 *
 *   g = sum_k (n_k / n) * grad( mean_{i in B_k} loss_i ) = grad( mean_{i in B} loss_i ),
 *
 * the full-batch gradient, so one optimizer step on g is the same update as without splitting.
 * Exception: BatchNormalization normalizes with each micro-batch's own mean and variance (and
 * updates its moving statistics once per micro-batch), so models with BN train slightly
 * differently; the plan's note says so.
 *
 * The ceiling is injected by the platform layer (the engine cannot know which backend runs or
 * how much memory it has): setMemoryCeiling(bytes), or per call.
 */
import * as tf from '@tensorflow/tfjs';
import { bytes } from '../../common/format';
import { allLayers } from '../prune/weights';

/**
 * Bytes a training step holds per sample, as a multiple of the sum of the input and every layer
 * output: the tape keeps each output and the op-level intermediates inside layers (BN's centred
 * and normalized input, activations' masks, the log-softmax), backprop holds gradients of the
 * same sizes, and kernels add temporaries (the depthwise filter gradient's strided slices).
 * Measured with tf.profile's peakBytes on wasm (test/bench/README.md, "Memory"), per sample
 * (batch 16 minus batch 8): 7.35x (mbv2-28), 6.78x (resnet-8), 7.36x (ds-cnn), 5.46x (lenet-5),
 * 7.04x (mbv2-0.35-96).
 */
export const TRAIN_FACTOR = 8;
/**
 * Inference per sample: tfjs-layers frees intermediates once their consumers ran, so a batch
 * holds a fraction of all outputs (0.11-0.33x measured the same way); 1x leaves room.
 */
export const INFER_FACTOR = 1;
/** Share of the free memory a plan fills: the rest absorbs fragmentation and untracked buffers. */
export const FILL = 0.7;

let defaultCeiling: number | (() => number | undefined) | undefined;

/**
 * Installs the memory ceiling (bytes the backend can hold at most, e.g. the wasm heap's maximum)
 * used when a caller gives none, or a function of the moment (the active backend may change);
 * undefined: no limit known (no splitting).
 * @example setMemoryCeiling(() => (tf.getBackend() === 'wasm' ? 4294901760 : undefined))
 */
export function setMemoryCeiling(bytes: number | (() => number | undefined) | undefined): void {
  defaultCeiling = bytes;
}

/** The installed ceiling now (see setMemoryCeiling). */
export function memoryCeiling(): number | undefined {
  return typeof defaultCeiling === 'function' ? defaultCeiling() : defaultCeiling;
}

/** Float32 bytes of one sample's input and of every layer output (nested models flattened). */
export function activationBytesPerSample(model: tf.LayersModel): number {
  const elems = (s: unknown): number => {
    if (!Array.isArray(s)) return 0;
    if (Array.isArray(s[0])) return (s as unknown[]).reduce<number>((a, x) => a + elems(x), 0);
    return (s as (number | null)[]).slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  };
  let total = model.inputs.reduce((a, i) => a + elems(i.shape), 0);
  for (const layer of allLayers(model)) {
    try {
      total += elems(layer.outputShape);
    } catch {
      // A layer called on several shapes has no single output shape; its outputs are not counted.
    }
  }
  return 4 * total;
}

export interface StepMemoryEstimate {
  /** Bytes one more sample adds to a training step. */
  trainPerSample: number;
  /** Bytes one more sample adds to an inference batch. */
  inferPerSample: number;
  /** Batch-independent bytes of a step: gradients and Adam's two moments for every weight. */
  fixed: number;
}

/** The step's memory from the model's shapes (see TRAIN_FACTOR, INFER_FACTOR). */
export function estimateStepMemory(model: tf.LayersModel): StepMemoryEstimate {
  const act = activationBytesPerSample(model);
  const weights = 4 * model.trainableWeights.reduce((a, w) => a + w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  return { trainPerSample: TRAIN_FACTOR * act, inferPerSample: INFER_FACTOR * act, fixed: 3 * weights };
}

export interface BatchPlan {
  batchSize: number;
  /** Samples per forward/backward pass (= batchSize when the batch fits). */
  microBatch: number;
  /** Estimated bytes of one step at batchSize, and what was free under the ceiling. */
  estimateBytes: number;
  availableBytes?: number;
  /** Set when the batch is split: what was done and why, for the run's record. */
  note?: string;
}

/** Bytes free under `ceiling`: the ceiling minus what tfjs's tensors hold now (tf.memory()). */
export function freeBytes(ceiling: number): number {
  return Math.max(0, ceiling - tf.memory().numBytes);
}

/**
 * How to run training batches of `batchSize` within `ceiling` bytes (default: the installed one):
 * the largest micro-batch m with fixed + m * trainPerSample <= FILL * free. No ceiling, or a
 * batch that fits: one pass per batch. At least 1 sample per pass, even when the estimate says
 * one does not fit (the estimate is conservative; a real OOM is caught by the trainer).
 * @example planTrainingBatches(model, 64, 2 ** 30).microBatch // 16 for a net of ~10 MB/sample
 */
export function planTrainingBatches(model: tf.LayersModel, batchSize: number, ceiling = memoryCeiling()): BatchPlan {
  const est = estimateStepMemory(model);
  const estimateBytes = est.fixed + batchSize * est.trainPerSample;
  if (ceiling === undefined) return { batchSize, microBatch: batchSize, estimateBytes };
  const availableBytes = freeBytes(ceiling);
  const fit = Math.floor((FILL * availableBytes - est.fixed) / Math.max(1, est.trainPerSample));
  const microBatch = Math.max(1, Math.min(batchSize, fit));
  if (microBatch >= batchSize) return { batchSize, microBatch, estimateBytes, availableBytes };
  return { batchSize, microBatch, estimateBytes, availableBytes, note: splitNote(model, batchSize, microBatch, estimateBytes, availableBytes) };
}

function hasBatchNorm(model: tf.LayersModel): boolean {
  return allLayers(model).some((l) => l.getClassName() === 'BatchNormalization');
}

/** The run note for a split batch (also used after an out-of-memory retry). */
export function splitNote(model: tf.LayersModel, batchSize: number, microBatch: number, estimateBytes: number, availableBytes?: number, why?: string): string {
  const reason = why ?? `a step at batch ${batchSize} needs ~${bytes(estimateBytes)}, ${availableBytes === undefined ? '?' : bytes(availableBytes)} free`;
  const bn = hasBatchNorm(model)
    ? '; BatchNormalization uses each micro-batch\'s statistics (and updates its moving averages once per micro-batch), so results differ slightly from unsplit batches'
    : '; the update equals one full-batch step';
  return `batch ${batchSize} split into micro-batches of ${microBatch} with gradients accumulated before each optimizer step (${reason})${bn}`;
}

/**
 * Largest inference batch <= `batchSize` that fits under the ceiling (evaluation, sensitivity
 * scans). Inference results do not depend on the batch size, so this needs no note.
 */
export function fitInferenceBatch(model: tf.LayersModel, batchSize: number, ceiling = memoryCeiling()): number {
  if (ceiling === undefined) return batchSize;
  const est = estimateStepMemory(model);
  const fit = Math.floor((FILL * freeBytes(ceiling)) / Math.max(1, est.inferPerSample));
  return Math.max(1, Math.min(batchSize, fit));
}

/**
 * Whether an error is the backend running out of memory: the wasm heap trapping on an access
 * past its end or failing to grow, or V8 failing to allocate an ArrayBuffer (cpu backend).
 */
export function isOutOfMemory(err: unknown): boolean {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return /memory access out of bounds|out of memory|Cannot enlarge memory|Array buffer allocation failed|Aborted\(OOM\)/i.test(msg);
}

/** Contiguous [start, end) ranges of at most `size` covering 0..n, as equal as possible. */
export function microRanges(n: number, size: number): [number, number][] {
  const k = Math.max(1, Math.ceil(n / Math.max(1, size)));
  const out: [number, number][] = [];
  for (let i = 0; i < k; i++) out.push([Math.floor((i * n) / k), Math.floor(((i + 1) * n) / k)]);
  return out.filter(([s, e]) => e > s);
}

/**
 * An optimizer stand-in that adds `scale` x each gradient map it is given to running sums, so the
 * trainer's own step (loss, gradients) runs per micro-batch and the real optimizer then takes one
 * step on `sums`: with scale = n_k / n per micro-batch the sums are the full-batch gradient
 * (header). Sums are kept tensors; dispose() frees them.
 */
export class GradientAccumulator {
  /** Weight of the next applyGradients call (n_k / n). */
  scale = 1;
  readonly sums: tf.NamedTensorMap = {};

  applyGradients(grads: tf.NamedTensorMap): void {
    for (const [name, g] of Object.entries(grads)) {
      const prev = this.sums[name];
      const scaled = tf.mul(g, this.scale);
      this.sums[name] = tf.keep(prev ? tf.add(prev, scaled) : scaled);
      prev?.dispose();
    }
  }

  dispose(): void {
    tf.dispose(Object.values(this.sums));
    for (const k of Object.keys(this.sums)) delete this.sums[k];
  }
}

interface TapeEngine {
  saveTensorsForBackwardMode?: (tensors: tf.Tensor[]) => tf.Tensor[];
}

/**
 * Runs `f` (a training step) and, if it throws, disposes the tensors tfjs saved for backprop.
 * tfjs-core 4.22's engine.gradients frees the tape's saved tensors (kept clones of kernel inputs
 * and outputs: most of a step's memory) only after a successful backward pass; when the forward
 * or backward pass throws they stay allocated, so a step retried after running out of memory
 * would start with the failed step's activations still on the heap. The engine's
 * saveTensorsForBackwardMode is wrapped for the duration of `f` to see them.
 */
export function freeTapeOnError<T>(f: () => T): T {
  const engine = tf.engine() as unknown as TapeEngine;
  const original = engine.saveTensorsForBackwardMode;
  if (typeof original !== 'function') return f();
  const saved: tf.Tensor[] = [];
  engine.saveTensorsForBackwardMode = (tensors: tf.Tensor[]): tf.Tensor[] => {
    const out = original.call(engine, tensors);
    saved.push(...out);
    return out;
  };
  try {
    return f();
  } catch (err) {
    for (const t of saved) if (!t.isDisposed) t.dispose();
    throw err;
  } finally {
    engine.saveTensorsForBackwardMode = original;
  }
}

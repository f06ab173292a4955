/** Inference latency of a model on the current backend, per batch size. */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, ConfigError } from '../../common/errors';
import { fastForward, type FastForward } from '../finetune/fused-step';
import { timeUntilStable, type StableTimingOptions } from './stable';
import type { LatencyFigure } from '../../common/contract/receipts';

export interface LatencyOptions {
  batchSizes: number[];
  /** Untimed runs per batch size first (kernel compilation, allocation). Default 3. */
  warmup?: number;
  /** Timed runs per batch size. Default 20. */
  runs?: number;
  /**
   * Time budget per batch size in ms (warm-up included), so a large model at batch 64 does not
   * spend minutes here: warm-up stops once it has used half the budget (after at least one run),
   * timed runs once the budget is spent (after at least `minRuns`). Default: no budget.
   */
  budgetMs?: number;
  /** Timed runs always made, whatever the budget. Default 5 (or `runs`, when smaller). */
  minRuns?: number;
  /** Clock in milliseconds; default performance.now. Tests pass a fake clock. */
  now?: () => number;
  signal?: AbortSignal;
  /**
   * Time the fused trainer's native forward pass where it covers the model (what the app's own
   * inference runs); false: always model.predict. Default true.
   */
  fast?: boolean;
}

export interface LatencyResult {
  batchSize: number;
  /** Median wall time of one predict() including reading the result back, in ms. */
  medianMs: number;
  /** 90th percentile (nearest rank) in ms. */
  p90Ms: number;
  /** Fastest run in ms. */
  minMs: number;
  /** medianMs / batchSize. */
  msPerSample: number;
  runs: number;
  /** What ran the forward passes: "tfjs" (model.predict) or the fused trainer's label. */
  path: string;
}

/**
 * Nearest-rank percentile: the smallest value with at least q of the samples at or below it,
 * i.e. sorted[ceil(q * n) - 1]. The median of an even count is the mean of the middle two.
 */
export function percentile(sortedAsc: number[], q: number): number {
  if (sortedAsc.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(q * sortedAsc.length));
  return sortedAsc[Math.min(sortedAsc.length, rank) - 1];
}

export function median(sortedAsc: number[]): number {
  const n = sortedAsc.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sortedAsc[(n - 1) / 2] : (sortedAsc[n / 2 - 1] + sortedAsc[n / 2]) / 2;
}

/**
 * Times `model.predict` on a fixed random input (one per model input) for each batch size: `warmup` untimed runs, then
 * `runs` timed runs, each ending with reading the output (`await data()`) so asynchronous backends
 * are measured to completion. Reports median, p90 (nearest rank) and min in milliseconds.
 * @example const [r1] = await measureLatency(model, { batchSizes: [1], runs: 30 }); r1.medianMs
 */
export async function measureLatency(model: tf.LayersModel, opts: LatencyOptions): Promise<LatencyResult[]> {
  const warmup = opts.warmup ?? 3;
  const runs = opts.runs ?? 20;
  if (opts.batchSizes.length === 0) throw new ConfigError('batchSizes must list at least one batch size');
  for (const b of opts.batchSizes) {
    if (!Number.isInteger(b) || b < 1) throw new ConfigError(`batch sizes must be positive integers, got ${b}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) throw new ConfigError(`warmup must be a non-negative integer, got ${warmup}`);
  if (!Number.isInteger(runs) || runs < 1) throw new ConfigError(`runs must be a positive integer, got ${runs}`);
  const inShapes = staticInputShapes(model);

  const fast = opts.fast !== false ? fastForward(model) : 'off';
  try {
    return await timeBatches(model, opts, inShapes, fast);
  } finally {
    if (typeof fast !== 'string') fast.dispose();
  }
}

export interface StableLatencyOptions extends StableTimingOptions {
  /** Batch size of each timed call. Default 1. */
  batchSize?: number;
  /** Time the fused trainer's native forward pass where it covers the model. Default true. */
  fast?: boolean;
}

/**
 * The latency of one `predict` at `batchSize` (default 1), timed until stable: warm-up calls, then
 * repeated calls until the median's distribution-free 95% CI is within `targetCi` (default 3%) or
 * the budget is spent; reports median, IQR and `unstable` (see stable.ts timeUntilStable).
 * A single figure measured this way can be compared across runs; a few fixed runs could not
 * (the same model measured 14.8, 6.4 and 0.45 ms in three runs).
 * @example const t = await measureStableLatency(model, { budgetMs: 2000 }); t.unstable ? 'unstable' : t.medianMs
 */
export async function measureStableLatency(model: tf.LayersModel, opts: StableLatencyOptions = {}): Promise<LatencyFigure> {
  const [figure] = await measureStableLatencies([model], opts);
  return figure;
}

/**
 * measureStableLatency for several models timed interleaved (A B, B A, ...), so a burst of load
 * from elsewhere slows all of them alike: the way to compare a parent and its pruned model, whose
 * figures taken minutes apart on a shared machine differ by the load, not by the model.
 * @example const [parent, pruned] = await measureStableLatencies([original, pruned], { budgetMs: 3000 })
 */
export async function measureStableLatencies(models: tf.LayersModel[], opts: StableLatencyOptions = {}): Promise<LatencyFigure[]> {
  const batchSize = opts.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
  const inShapes = models.map(staticInputShapes);
  const fasts: (FastForward | string)[] = [];
  const inputs: tf.Tensor[][] = [];
  try {
    for (const [i, model] of models.entries()) {
      fasts.push(opts.fast !== false ? fastForward(model) : 'off');
      inputs.push(inShapes[i].map((inShape) => tf.randomUniform([batchSize, ...inShape], 0, 1, 'float32', 42)));
    }
    const calls = models.map((model, i) => predictOnce(model, inputs[i], fasts[i], batchSize));
    const timings = await timeUntilStable(calls, opts);
    const together = models.length > 1 ? ', timed interleaved' : '';
    return timings.map((t, i) => {
      const fast = fasts[i];
      return { ...t, batch: batchSize, runtime: typeof fast === 'string' ? 'tfjs' : fast.label, measured: `in-app tfjs model, batch ${batchSize}${together}` };
    });
  } finally {
    for (const xs of inputs) tf.dispose(xs);
    for (const fast of fasts) if (typeof fast !== 'string') fast.dispose();
  }
}

function staticInputShapes(model: tf.LayersModel): number[][] {
  const inShapes = model.inputs.map((input) => input.shape.slice(1));
  for (const inShape of inShapes) {
    if (inShape.some((d) => d === null)) {
      throw new ConfigError(`model input shape [${inShape.join(', ')}] has unknown dimensions; latency needs a static input shape`);
    }
  }
  return inShapes as number[][];
}

/** One inference to completion: the fused native forward where there is one, else model.predict + read back. */
function predictOnce(model: tf.LayersModel, xs: tf.Tensor[], fast: FastForward | string, batchSize: number): () => Promise<void> {
  const x = xs.length === 1 ? xs[0] : xs;
  const values = typeof fast === 'string' ? undefined : (xs[0].dataSync() as Float32Array);
  return async () => {
    if (values && typeof fast !== 'string') {
      fast.predict(values, batchSize);
      return;
    }
    const y = model.predict(x) as tf.Tensor | tf.Tensor[];
    const ys = Array.isArray(y) ? y : [y];
    try {
      await Promise.all(ys.map((t) => t.data()));
    } finally {
      tf.dispose(ys);
    }
  };
}

/** measureLatency's loop over the batch sizes, on `fast` where there is one, else model.predict. */
async function timeBatches(model: tf.LayersModel, opts: LatencyOptions, inShapes: number[][], fast: FastForward | string): Promise<LatencyResult[]> {
  const warmup = opts.warmup ?? 3;
  const runs = opts.runs ?? 20;
  const now = opts.now ?? (() => performance.now());
  const results: LatencyResult[] = [];
  const path = typeof fast === 'string' ? 'tfjs' : fast.label;
  for (const batchSize of opts.batchSizes) {
    const xs = inShapes.map((inShape) => tf.randomUniform([batchSize, ...inShape], 0, 1, 'float32', 42));
    try {
      const once = predictOnce(model, xs, fast, batchSize);
      const budget = opts.budgetMs ?? Infinity;
      const minRuns = Math.min(runs, opts.minRuns ?? 5);
      // The clock is read for the budget only when there is one (tests script every read).
      const bounded = Number.isFinite(budget);
      const start = bounded ? now() : 0;
      const spent = () => (bounded ? now() - start : 0);
      for (let i = 0; i < warmup; i++) {
        await once();
        if (bounded && spent() > budget / 2) break;
      }
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        if (opts.signal?.aborted) throw new CancelledError('latency measurement cancelled');
        if (bounded && i >= minRuns && spent() > budget) break;
        const t0 = now();
        await once();
        times.push(now() - t0);
      }
      times.sort((a, b) => a - b);
      const med = median(times);
      results.push({ batchSize, medianMs: med, p90Ms: percentile(times, 0.9), minMs: times[0], msPerSample: med / batchSize, runs: times.length, path });
    } finally {
      tf.dispose(xs);
    }
  }
  return results;
}

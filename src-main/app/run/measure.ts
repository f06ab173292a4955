/**
 * The run's two measurements (baseline and final): accuracy or regression metrics on the test set,
 * and in-app latency at batch 1 and 64, each timed until stable. What each measurement needs to
 * keep for the summary (which path ran it, the confusion matrices, the interleaved latency pair)
 * stays here, so the pipeline's phases only call `measure` and read the results.
 */
import * as tf from '@tensorflow/tfjs';
import type { LatencyFigure, RunLatency } from '../../common/contract/receipts';
import type { RunConfig } from '../../common/run-config';
import type { ModelAnalysis } from '../../engine/analyze';
import type { LoadedDataset } from '../../node/datasets';
import { cloneModel } from '../../engine/finetune/clone';
import { evaluate, measureStableLatencies } from '../../engine/measure';
import type { SpeedReceipt } from '../../engine/measure/receipt';
import type { Task } from '../../engine/task';
import type { Progress } from './context';

/**
 * Latency per batch size gets at most this much time (warm-up included, at least 5 timed runs):
 * a 224x224 MobileNet at batch 64 takes over a second a run on two cores. The run records how many
 * runs were timed.
 */
const LATENCY_BUDGET_MS = 4000;
/**
 * Batch-1 latency (the figure the summary shows) repeats until its median is known within 3% or
 * this much time is spent; then it is flagged unstable.
 */
const STABLE_LATENCY_BUDGET_MS = 3000;

export type MeasuredPhase = 'baseline' | 'final';

/** The metrics one measurement records (a run's `before` or `after`). */
export type Measured = Record<string, number> & { params: number; macs: number; loss: number; latencyMs: number; latencyBatchMs: number };

export class RunMeasurements {
  /** What ran each measurement's forward passes (native graph step or tfjs), recorded in the summary. */
  readonly inference: Record<string, { evaluate: string; latency: string }> = {};
  /** Each measured model's confusion matrix (classification), for the per-class report. */
  readonly confusions: Partial<Record<MeasuredPhase, number[][]>> = {};
  private readonly inAppLatency: Partial<RunLatency['inApp']> = {};
  private readonly inAppBatch: Partial<RunLatency['inApp']> = {};
  /** The unpruned model, timed interleaved with the pruned one at the end (a copy where pruning works in place). */
  private parent: tf.LayersModel | undefined;

  constructor(private readonly o: { dataset: LoadedDataset; task: Task; config: RunConfig; progress: Progress; signal?: AbortSignal }) {}

  /** Evaluates `model` on the test set and times it; the final measurement times the parent beside it. */
  async measure(model: tf.LayersModel, phase: MeasuredPhase, analysis: ModelAnalysis): Promise<Measured> {
    const { dataset, task, config, progress, signal } = this.o;
    progress({ phase, done: 0, total: Math.min(dataset.test.size, config.evalLimit ?? dataset.test.size) });
    const metrics = await evaluate(model, dataset.test, {
      batchSize: 256,
      limit: config.evalLimit,
      signal,
      task,
      onProgress: (done, total) => progress({ phase, done, total }),
    });
    if (metrics.confusion) this.confusions[phase] = metrics.confusion;
    // A generous warm-up: the first calls of a fresh model pay for kernel setup (XNNPACK operator
    // creation on wasm), which would otherwise flatter whichever model is measured second.
    // Each repeats until its median is stable (median and IQR, flagged when not).
    // At the end the parent is timed again, interleaved with the pruned model, so that the two
    // figures compared come from the same minutes of a shared machine. Batch 1 is the latency;
    // batch 64 the throughput, with fewer runs (a large model takes a second a call there).
    const models = phase === 'final' && this.parent ? [this.parent, model] : [model];
    const timed = async (batchSize: number, budgetMs: number, most: number) => {
      const minRuns = Math.max(3, Math.min(config.latencyRuns, most));
      const figures = await measureStableLatencies(models, { batchSize, warmup: batchSize === 1 ? 10 : 2, minRuns, maxRuns: Math.max(minRuns, 2000), budgetMs, signal });
      const mine = figures[figures.length - 1];
      return { before: figures.length === 2 ? figures[0] : phase === 'baseline' ? mine : undefined, after: phase === 'final' ? mine : undefined, mine };
    };
    const one = await timed(1, STABLE_LATENCY_BUDGET_MS, 15);
    const many = await timed(64, LATENCY_BUDGET_MS, 5);
    if (one.before) this.inAppLatency.before = one.before;
    if (one.after) this.inAppLatency.after = one.after;
    if (many.before) this.inAppBatch.before = many.before;
    if (many.after) this.inAppBatch.after = many.after;
    this.inference[phase] = { evaluate: metrics.path, latency: one.mine.runtime };
    return {
      ...qualityMetrics(task, metrics),
      loss: metrics.loss,
      params: analysis.params,
      nonZeros: analysis.nonZeros,
      macs: analysis.macs,
      sizeBytes: analysis.sizeBytes,
      gzipBytes: analysis.gzipBytes,
      peakActivationBytes: analysis.peakActivationBytes,
      latencyMs: one.mine.medianMs,
      latencyBatchMs: many.mine.medianMs,
    };
  }

  /**
   * Keeps the unpruned model for the final, interleaved timing: `original` itself where pruning
   * builds a new model (structured), else a copy, since the other methods prune in place.
   */
  async keepParent(original: tf.LayersModel, inPlace: boolean, onWarn: (message: string) => void): Promise<void> {
    try {
      this.parent = inPlace ? await cloneModel(original) : original;
    } catch (err) {
      onWarn(`latency: the parent and pruned models are timed apart (no copy of the parent: ${err instanceof Error ? err.message : String(err)})`);
    }
  }

  /** The summary's before/after latency are the interleaved pair (the baseline's own figure was recorded as a metric when it was taken). */
  interleavedBaseline(baseline: Measured): void {
    if (this.inAppLatency.before) baseline.latencyMs = this.inAppLatency.before.medianMs;
    if (this.inAppBatch.before) baseline.latencyBatchMs = this.inAppBatch.before.medianMs;
  }

  /** What each latency figure measured, with its spread; the exported file's (first receipt) is the device's. */
  latency(receipt: SpeedReceipt | undefined): RunLatency {
    return runLatency(this.inAppLatency as RunLatency['inApp'], receipt, this.inAppBatch as RunLatency['inApp']);
  }

  /** Frees the parent's copy (never `original`, which the pipeline owns). */
  dispose(original: tf.LayersModel): void {
    if (this.parent && this.parent !== original) this.parent.dispose();
    this.parent = undefined;
  }
}

/** The run's latency figures: in-app before/after, and the first receipt's LiteRT timings of the exported files. */
export function runLatency(inApp: RunLatency['inApp'], receipt: SpeedReceipt | undefined, inAppBatch?: RunLatency['inApp']): RunLatency {
  const file = (r: SpeedReceipt, side: 'parent' | 'pruned'): LatencyFigure => ({
    ...r[side].latency,
    batch: r.batch,
    runtime: r.runtime,
    measured: `exported .tflite (${r.quant === 'none' ? 'float32' : r.quant}) in LiteRT, batch ${r.batch}`,
  });
  return {
    inApp,
    ...(inAppBatch?.before && inAppBatch.after ? { inAppBatch } : {}),
    exported: receipt ? { quant: receipt.quant, before: file(receipt, 'parent'), after: file(receipt, 'pruned') } : null,
  };
}

/** The quality metrics a run records: accuracy for a classifier; MAE, RMSE and R² for a regressor. */
function qualityMetrics(task: Task, m: { accuracy: number; mae?: number; rmse?: number; r2?: number }): Record<string, number> {
  if (task === 'classification') return { accuracy: m.accuracy };
  return { mae: m.mae ?? NaN, rmse: m.rmse ?? NaN, r2: m.r2 ?? NaN };
}

/**
 * One pruning run, start to end: load -> baseline measure -> prune + fine-tune -> final measure ->
 * save -> export + verify. It only computes and writes files under the run's folder; everything
 * worth keeping goes out as RunEvents, which the run service persists as they arrive. The same code
 * runs in a worker (the app) or in-process (tests).
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CancelledError, ConfigError, DivergenceError } from '../common/errors';
import type { RunConfig, RunProgress } from '../common/run-config';
import { analyzeModel, type ModelAnalysis } from '../engine/analyze';
import { sensitivityScan } from '../engine/analyze/sensitivity';
import fs from 'node:fs';
import { classReport, evaluate, measureStableLatencies } from '../engine/measure';
import { modelOutline } from '../engine/graph/outline';
import { cloneModel } from '../engine/finetune/clone';
import type { LatencyFigure, RunLatency } from '../common/contract/receipts';
import { modelCost, speedVerdict, type ModelCost, type SpeedReceipt } from '../engine/measure/receipt';
import type { TfliteQuant } from '../engine/export/tflite';
import { checkSparseEligibility } from '../engine/export/tflite/sparse-check';
import { timeTfliteFiles } from '../node/verify/litert-latency';
import { checkPrunable } from '../engine/prune/feasibility';
import { runPruning } from '../engine/prune/run';
import type { Divergence } from '../engine/finetune/trainer';
import { validatePruneConfig } from '../engine/prune/types';
import { prunableWeights } from '../engine/prune/weights';
import { outputUnits, resolveTask, type Task } from '../engine/task';
import { initBackend } from '../node/backend';
import { saveModel } from '../node/models';
import { installTrainWorkersFromEnv } from '../node/train-workers';
import type { Json, LayerResultInput, MetricInput } from '../store/types';
import { exportModel, exportTfliteFor } from './export-service';
import { versions } from './info-service';
import { openModel } from './model-service';
import { loadDatasetForModel } from './model-data';
import { CurveSampler } from './curve-sampler';
import { pauseIfAsked } from './pause-hook';
import { inPhase, type RunPlace } from './run-errors';
import type { RunEvent, RunResult } from './run-events';
import type { Profile } from '../common/profiles';
import { deploySummary, profileForRun } from './deploy/run-deploy';
import { methodLabel } from './deploy/labels';

export interface RunJob {
  runId: string;
  config: RunConfig;
  /** Folder the run writes its model and exports into (created as needed). */
  runDir: string;
  /** The run's device profile when it is a stored (user) one; built-ins are looked up by id. */
  profile?: Profile;
}

/** Least time between two progress events of the same phase (see `progress` in runPipeline). */
const PROGRESS_MIN_MS = 100;
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

/** Share of the whole run each phase takes, for the overall progress bar and ETA. */
const PHASE_SPAN: Record<RunProgress['phase'], [number, number]> = {
  load: [0, 0.03],
  baseline: [0.03, 0.1],
  sensitivity: [0.1, 0.15],
  prune: [0.15, 0.2],
  finetune: [0.2, 0.8],
  final: [0.8, 0.87],
  export: [0.87, 0.93],
  verify: [0.93, 1],
  done: [1, 1],
};

/**
 * Runs the job; an error names the phase it happened in (see ./run-errors.ts), with a remedy when
 * the cause is a known one such as the wasm heap running out.
 */
export async function executeRun(job: RunJob, emit: (e: RunEvent) => void, signal?: AbortSignal): Promise<RunResult> {
  const place: RunPlace = { phase: 'load' };
  try {
    return await runPhases(job, emit, place, signal);
  } catch (err) {
    const batchSize = Number((job.config.prune.finetune as { batchSize?: unknown } | undefined)?.batchSize ?? 64);
    throw inPhase(err, place, Number.isFinite(batchSize) ? batchSize : 64);
  }
}

async function runPhases(job: RunJob, emit: (e: RunEvent) => void, place: RunPlace, signal?: AbortSignal): Promise<RunResult> {
  const started = Date.now();
  // At most one progress event per PROGRESS_MIN_MS within a phase (a fused fine-tuning step takes
  // milliseconds: one event a batch would flood the UI); a phase's first and last events, and any
  // marked `keep`, always go out.
  let lastPhase = '';
  let lastAt = 0;
  let entered = '';
  const progress = (p: Omit<RunProgress, 'runId' | 'fraction' | 'etaSeconds'>, keep = false) => {
    if (entered !== p.phase) {
      entered = p.phase;
      pauseIfAsked(p.phase);
    }
    // Where the run is, for an error message, even when this event is not sent.
    if (place.phase !== p.phase) {
      place.phase = p.phase;
      delete place.epoch;
      delete place.batch;
      if (p.phase !== 'export' && p.phase !== 'verify') delete place.what;
    }
    if (p.epoch !== undefined) place.epoch = p.epoch;
    const now = Date.now();
    if (!keep && p.phase === lastPhase && p.done > 0 && p.done < p.total && now - lastAt < PROGRESS_MIN_MS) return;
    lastPhase = p.phase;
    lastAt = now;
    const [a, b] = PHASE_SPAN[p.phase];
    const fraction = a + (b - a) * (p.total > 0 ? Math.min(1, p.done / p.total) : 0);
    const elapsed = (Date.now() - started) / 1000;
    const etaSeconds = fraction > 0.02 ? Math.max(0, (elapsed * (1 - fraction)) / fraction) : null;
    emit({ type: 'progress', progress: { ...p, fraction, etaSeconds } });
  };
  const checkCancel = () => {
    if (signal?.aborted) throw new CancelledError();
  };
  const { config } = job;

  progress({ phase: 'load', done: 0, total: 2, message: `loading ${config.model}` });
  const backend = await initBackend();
  // Opt-in data-parallel fine-tuning (TOPIARY_TRAIN_WORKERS=N threads); unset: one thread.
  installTrainWorkersFromEnv();
  const loaded = await openModel(resolveRunModel(config.model, path.dirname(job.runDir)));
  const original = loaded.model;
  for (const w of loaded.warnings ?? []) emit({ type: 'log', level: 'warn', message: w });
  let pruned: tf.LayersModel | undefined;
  /** The unpruned model, timed interleaved with the pruned one at the end (a copy where pruning works in place). */
  let latencyParent: tf.LayersModel | undefined;
  try {
    const task = resolveTask(original, config.task, config.model);
    progress({ phase: 'load', done: 1, total: 2, message: `loading ${config.data}` });
    const { dataset, prep } = await loadDatasetForModel(original, config.data, {
      seed: config.seed,
      task,
      inputScale: config.inputScale,
      resize: config.resize,
      onProgress: (p) => progress({ phase: 'load', done: 1 + p.done / Math.max(1, p.total), total: 2, message: p.phase }),
    });
    for (const w of dataset.warnings) emit({ type: 'log', level: 'warn', message: w });
    emit({ type: 'log', level: 'info', message: prep.summary });
    checkTargets(task, dataset.targetNames, outputUnits(original), dataset.source);
    const pruneConfig = validatePruneConfig({ seed: config.seed, ...config.prune, task }, original);
    const before = analyzeModel(original);
    emit({
      type: 'loaded',
      model: {
        source: loaded.source,
        sha256: loaded.sha256,
        format: loaded.format,
        params: before.params,
        meta: {
          inputShape: original.inputs[0].shape,
          layers: original.layers.length,
          task,
          // The file's own class and, for nested models, each flat layer's path in the original nesting.
          className: loaded.className,
          ...(loaded.nesting ? { nesting: loaded.nesting } : {}),
        },
      },
      dataset: {
        source: dataset.source,
        sampleShape: dataset.sampleShape,
        classNames: dataset.targetNames ?? dataset.classNames,
        trainSize: dataset.train.size,
        testSize: dataset.test.size,
      },
      backend: backend.name,
      versions: versions(backend),
      method: methodLabel(pruneConfig),
      input: { inputScale: prep.inputScale, resize: prep.resize },
      task,
    });
    progress({ phase: 'load', done: 2, total: 2 });
    checkCancel();
    // After 'loaded' (so the run is recorded as failed) and before any measuring or training.
    checkPrunable(original, pruneConfig);

    // What ran each measurement's forward passes (native graph step or tfjs), recorded in the summary.
    const inference: Record<string, { evaluate: string; latency: string }> = {};
    // Baseline
    /** Each measured model's confusion matrix (classification), for the per-class report. */
    const confusions: Partial<Record<'baseline' | 'final', number[][]>> = {};
    const inAppLatency: Partial<RunLatency['inApp']> = {};
    const inAppBatch: Partial<RunLatency['inApp']> = {};
    const measure = async (model: tf.LayersModel, phase: 'baseline' | 'final', analysis: ModelAnalysis) => {
      progress({ phase, done: 0, total: Math.min(dataset.test.size, config.evalLimit ?? dataset.test.size) });
      const metrics = await evaluate(model, dataset.test, {
        batchSize: 256,
        limit: config.evalLimit,
        signal,
        task,
        onProgress: (done, total) => progress({ phase, done, total }),
      });
      if (metrics.confusion) confusions[phase] = metrics.confusion;
      // A generous warm-up: the first calls of a fresh model pay for kernel setup (XNNPACK operator
      // creation on wasm), which would otherwise flatter whichever model is measured second.
      // Each repeats until its median is stable (median and IQR, flagged when not).
      // At the end the parent is timed again, interleaved with the pruned model, so that the two
      // figures compared come from the same minutes of a shared machine. Batch 1 is the latency;
      // batch 64 the throughput, with fewer runs (a large model takes a second a call there).
      const models = phase === 'final' && latencyParent ? [latencyParent, model] : [model];
      const timed = async (batchSize: number, budgetMs: number, most: number) => {
        const minRuns = Math.max(3, Math.min(config.latencyRuns, most));
        const figures = await measureStableLatencies(models, { batchSize, warmup: batchSize === 1 ? 10 : 2, minRuns, maxRuns: Math.max(minRuns, 2000), budgetMs, signal });
        const mine = figures[figures.length - 1];
        return { before: figures.length === 2 ? figures[0] : phase === 'baseline' ? mine : undefined, after: phase === 'final' ? mine : undefined, mine };
      };
      const one = await timed(1, STABLE_LATENCY_BUDGET_MS, 15);
      const many = await timed(64, LATENCY_BUDGET_MS, 5);
      if (one.before) inAppLatency.before = one.before;
      if (one.after) inAppLatency.after = one.after;
      if (many.before) inAppBatch.before = many.before;
      if (many.after) inAppBatch.after = many.after;
      inference[phase] = { evaluate: metrics.path, latency: one.mine.runtime };
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
    };
    const baseline = await measure(original, 'baseline', before);
    // Structured pruning builds a new model and leaves `original` as it was; the others prune it in place.
    try {
      latencyParent = pruneConfig.granularity === 'structured' ? original : await cloneModel(original);
    } catch (err) {
      emit({ type: 'log', level: 'warn', message: `latency: the parent and pruned models are timed apart (no copy of the parent: ${err instanceof Error ? err.message : String(err)})` });
    }
    // The parent's .tflite files for the speedup receipts, exported now: unstructured pruning
    // changes `original` in place.
    const parentFiles = config.receiptBudgetMs > 0 ? parentTflites(original, config, dataset, emit) : new Map<string, Uint8Array>();
    const parentCost = modelCost(before);
    emit({ type: 'metrics', points: Object.entries(baseline).map(([name, value]) => ({ step: 0, phase: 'baseline', name, value })) });
    const beforeRows = layerRows(before, 'before');
    if (config.sensitivity) {
      progress({ phase: 'sensitivity', done: 0, total: 1 });
      const scan = await sensitivityScan(original, dataset.test, {
        limit: Math.min(config.evalLimit ?? 1000, 1000),
        signal,
        task,
        onProgress: (done, total) => progress({ phase: 'sensitivity', done, total }),
      });
      for (const row of beforeRows) {
        const points = scan.rows.filter((r) => r.layer === row.layer);
        if (points.length) row.sensitivity = { sparsity: points.map((p) => p.sparsity), accuracy: points.map((p) => p.accuracy), baseline: scan.baseline.accuracy };
      }
    }
    emit({ type: 'layers', rows: beforeRows });
    checkCancel();

    // Prune + fine-tune
    progress({ phase: 'prune', done: 0, total: 1, message: `${pruneConfig.method} ${pruneConfig.granularity} to ${pruneConfig.sparsity}` });
    let step = 0;
    // Loss, accuracy, sparsity and learning rate every few steps (./curve-sampler.ts), stored with the run.
    const curves = new CurveSampler({
      epochs: pruneConfig.finetune.epochs,
      startedAt: started,
      learningRate: pruneConfig.finetune.learningRate,
      quality: task === 'regression' ? 'r2' : 'accuracy',
    });
    const result = await runPruning(original, dataset, pruneConfig, {
      signal,
      onProgress: (p) => {
        // E.g. batches split into micro-batches to fit the backend's memory (engine/finetune/memory.ts).
        if (p.note) emit({ type: 'log', level: 'info', message: p.note });
        if (p.phase === 'prune') {
          // Unstructured and N:M prune the model in place, so its kernels show the new masks now;
          // structured pruning builds a new model, reported per layer when the run ends.
          const layerSparsity = pruneConfig.granularity === 'structured' ? undefined : kernelSparsity(original);
          progress({ phase: 'prune', done: 1, total: 1, sparsity: p.sparsity, ...(layerSparsity ? { layerSparsity } : {}) });
          return;
        }
        const epochs = Math.max(1, pruneConfig.finetune.epochs + (pruneConfig.finetune.qat?.epochs ?? 0));
        const done = p.epoch * p.batches + p.batch;
        place.batch = p.batch + 1;
        const curve = curves.observe(p);
        if (curve) emit({ type: 'curve', points: [curve] });
        progress({
          phase: 'finetune',
          done,
          total: epochs * p.batches,
          epoch: p.epoch + 1,
          loss: p.loss,
          accuracy: p.accuracy,
          valAccuracy: p.valAccuracy,
          sparsity: p.sparsity,
          ...(curve ? { curve } : {}),
        }, p.phase === 'epoch' || curve !== undefined);
        if (p.phase === 'epoch') {
          step++;
          // A regressor's per-epoch "accuracy" is R² (see EpochRecord).
          const quality = task === 'regression' ? 'r2' : 'accuracy';
          const points: MetricInput[] = [
            { step, epoch: p.epoch + 1, phase: 'train', name: 'loss', value: p.loss },
            { step, epoch: p.epoch + 1, phase: 'train', name: quality, value: p.accuracy },
            { step, epoch: p.epoch + 1, phase: 'train', name: 'sparsity', value: p.sparsity },
          ];
          if (p.valLoss !== undefined) points.push({ step, epoch: p.epoch + 1, phase: 'val', name: 'loss', value: p.valLoss });
          if (p.valAccuracy !== undefined) points.push({ step, epoch: p.epoch + 1, phase: 'val', name: quality, value: p.valAccuracy });
          emit({ type: 'metrics', points });
        }
      },
    });
    pruned = result.model;
    const lastCurve = curves.flush();
    if (lastCurve) emit({ type: 'curve', points: [lastCurve] });
    emit({ type: 'plan', plan: result.plan });
    checkCancel();
    if (result.diverged) await stopDiverged(pruned, result.diverged, job.runDir, emit);

    // Final measure
    const after = analyzeModel(pruned);
    const final = await measure(pruned, 'final', after);
    // The summary's before/after latency are the interleaved pair (the baseline's own figure was
    // recorded as a metric when it was taken).
    if (inAppLatency.before) baseline.latencyMs = inAppLatency.before.medianMs;
    if (inAppBatch.before) baseline.latencyBatchMs = inAppBatch.before.medianMs;
    checkFinite(final, 'final');
    emit({ type: 'metrics', points: Object.entries(final).map(([name, value]) => ({ step: step + 1, phase: 'final', name, value })) });
    emit({ type: 'layers', rows: layerRows(after, 'after') });
    const modelDir = path.join(job.runDir, 'model');
    await saveModel(pruned, modelDir);
    checkCancel();

    // Export + verify
    const artifacts = [];
    // Per export: zeros counted in the .tflite file, tfjs shards as downloaded (raw, gzip, brotli).
    const exportFacts: Json[] = [];
    for (const [i, req] of config.exports.entries()) {
      place.what = `${req.format} ${req.quant}`;
      progress({ phase: 'export', done: i, total: config.exports.length, message: `${req.format} ${req.quant}` });
      const exported = await exportModel(pruned, req, {
        outDir: path.join(job.runDir, `export-${req.format}-${req.quant}`),
        dataset,
        source: loaded.source,
        metrics: { before: baseline, after: final },
        layers: after,
        task,
        onVerify: (done, total) => progress({ phase: 'verify', done, total }),
        onQuantize: (done, total) => {
          checkCancel();
          progress({ phase: 'export', done, total, message: `${req.format} ${req.quant}: measuring which kernels need uint16` });
        },
      });
      artifacts.push(exported.artifact);
      exportFacts.push({
        format: req.format,
        quant: exported.artifact.quant,
        bytes: exported.sizes.rawBytes,
        ...(exported.weightZeros ? { weightZeros: { ...exported.weightZeros } } : {}),
        ...(exported.download ? { download: { rawBytes: exported.download.rawBytes, gzipBytes: exported.download.gzipBytes, brotliBytes: exported.download.brotliBytes } } : {}),
      });
      emit({ type: 'artifact', artifact: exported.artifact });
      checkCancel();
    }

    const receipts: SpeedReceipt[] = [];
    for (const artifact of artifacts) {
      const parentBytes = parentFiles.get(artifact.quant);
      if (artifact.format !== 'tflite' || !parentBytes) continue;
      if (artifact.status !== 'ok') {
        emit({ type: 'log', level: 'warn', message: `no speedup receipt for tflite ${artifact.quant}: its verification failed` });
        continue;
      }
      // done = total: the verify phase already reached its end with the last export's verification.
      progress({ phase: 'verify', done: 1, total: 1, message: `speedup receipt: tflite ${artifact.quant}` }, true);
      receipts.push(await speedReceipt(parentBytes, fs.readFileSync(artifact.path), artifact.quant, {
        parent: parentCost,
        pruned: modelCost(after),
        granularity: pruneConfig.granularity,
        keptWidths: after.layers.filter((l) => l.className === 'Conv2D' || l.className === 'Dense').map((l) => Number(l.outputShape[l.outputShape.length - 1])),
        budgetMs: config.receiptBudgetMs,
        signal,
      }));
      emit({ type: 'log', level: 'info', message: `speedup receipt (tflite ${artifact.quant}): ${receipts[receipts.length - 1].verdict}` });
      checkCancel();
    }

    // What ships and whether it fits the profile's device (app/deploy): headline size, fit verdict, widths.
    const deployed = await deploySummary(pruned, profileForRun(config.profile, job.profile), artifacts, {
      before,
      after,
      parentFiles,
      onWarn: (message) => emit({ type: 'log', level: 'warn', message }),
    });
    const summary = {
      task,
      before: { ...baseline, ...deployed.before },
      after: { ...final, ...deployed.after },
      prune: {
        targetSparsity: result.plan.targetSparsity,
        achievedSparsity: result.plan.achievedSparsity,
        paramsFraction: final.params / baseline.params,
        macsFraction: final.macs / baseline.macs,
      },
      // Which path trained the weights (native graph step or tfjs, shards, micro-batches), so a run
      // can be replayed on the same path (TOPIARY_FUSED_STEP=0 forces tfjs).
      training: result.training.map((t) => ({ ...t })),
      // Which path evaluated and timed the model before and after (native forward pass or tfjs).
      inference,
      // Measured LiteRT latency of each .tflite export vs the parent model's, beside the MACs.
      receipts: receipts as unknown as Json[],
      shipped: deployed.shipped as unknown as Json,
      fit: deployed.fit as unknown as Json,
      widths: deployed.widths as unknown as Json,
      // Which classes pruning hurt: per-class accuracy and confusion before vs after (classifiers).
      ...(task === 'classification' && confusions.baseline && confusions.final
        ? { classes: classReport(confusions.baseline, confusions.final, dataset.classNames) as unknown as Json }
        : {}),
      // The layers in graph order with widths and sparsity, original vs pruned, for the graph view.
      graph: modelOutline(before, after) as unknown as Json,
      // What each latency figure measured, with its spread; the exported file's is the device's.
      latency: runLatency(inAppLatency as RunLatency['inApp'], receipts[0], inAppBatch as RunLatency['inApp']) as unknown as Json,
      exports: exportFacts,
    };
    emit({ type: 'summary', summary });
    progress({ phase: 'done', done: 1, total: 1 });
    return { summary, modelDir, artifacts };
  } finally {
    // Unstructured pruning works in place (pruned === original); structured returns a new model.
    if (pruned && pruned !== original) pruned.dispose();
    if (latencyParent && latencyParent !== original) latencyParent.dispose();
    original.dispose();
  }
}

/**
 * Fine-tuning diverged: the model (holding the best weights seen) is saved in the run's folder for
 * inspection, and the run fails with why, so its numbers are never recorded as a result.
 */
async function stopDiverged(model: tf.LayersModel, d: Divergence, runDir: string, emit: (e: RunEvent) => void): Promise<never> {
  const modelDir = path.join(runDir, 'model');
  await saveModel(model, modelDir);
  const message = `training diverged at epoch ${d.epoch + 1}, batch ${d.batch + 1} (step ${d.step}): ${d.reason}; stopped, and kept the best weights seen (${d.kept}) in ${modelDir}`;
  emit({ type: 'log', level: 'warn', message });
  throw new DivergenceError(`${message}. Try a lower --lr.`);
}

/** A loss that is NaN or infinite means the model's outputs are: such numbers are not a result. */
function checkFinite(m: { loss: number }, phase: 'final'): void {
  if (!Number.isFinite(m.loss)) {
    throw new DivergenceError(`the ${phase} model's loss is ${String(m.loss)}: its outputs are not finite numbers, so its measurements are not a result`);
  }
}

/** The parent model's .tflite bytes for every tflite export the run will make, by quant. */
function parentTflites(model: tf.LayersModel, config: RunConfig, dataset: Parameters<typeof exportTfliteFor>[2], emit: (e: RunEvent) => void): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const req of config.exports) {
    if (req.format !== 'tflite' || out.has(req.quant)) continue;
    try {
      out.set(req.quant, exportTfliteFor(model, req.quant as TfliteQuant, dataset, req.sparse).bytes);
    } catch (err) {
      // The pruned model's export will fail the same way and say so; the receipt is just skipped.
      emit({ type: 'log', level: 'warn', message: `no speedup receipt for tflite ${req.quant}: the parent model did not export (${err instanceof Error ? err.message : String(err)})` });
    }
  }
  return out;
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

/** Times the parent's and the pruned model's files interleaved in LiteRT and writes the receipt. */
async function speedReceipt(
  parentBytes: Uint8Array,
  prunedBytes: Uint8Array,
  quant: string,
  o: { parent: ModelCost; pruned: ModelCost; granularity: string; keptWidths: number[]; budgetMs: number; signal?: AbortSignal },
): Promise<SpeedReceipt> {
  const t = await timeTfliteFiles([parentBytes, prunedBytes], { budgetMs: o.budgetMs, signal: o.signal });
  const [pt, ct] = t.timings;
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
  const ratios = {
    latency: ratio(ct.medianMs, pt.medianMs),
    macs: ratio(o.pruned.macs, o.parent.macs),
    nonZeroMacs: ratio(o.pruned.nonZeroMacs, o.parent.nonZeroMacs),
    params: ratio(o.pruned.params, o.parent.params),
    nonZeros: ratio(o.pruned.nonZeros, o.parent.nonZeros),
    bytes: ratio(prunedBytes.length, parentBytes.length),
  };
  const unstable = pt.unstable || ct.unstable;
  const check = checkSparseEligibility(prunedBytes);
  const failed = check.rules.filter((r) => !r.passed).map((r) => ({ id: r.id, detail: r.detail, ...(r.fix ? { fix: r.fix } : {}) }));
  const sparseFailures = failed.map((r) => r.detail);
  const { agrees, verdict } = speedVerdict({ ratios, granularity: o.granularity, keptWidths: o.keptWidths, parentMs: pt.medianMs, unstable, sparseFailures });
  return {
    format: 'tflite',
    quant,
    runtime: t.runtime,
    batch: 1,
    threads: t.threads,
    xnnpack: t.xnnpack,
    xnnpackOffNote: t.xnnpackOffNote,
    parent: { ...o.parent, bytes: parentBytes.length, latency: pt },
    pruned: { ...o.pruned, bytes: prunedBytes.length, latency: ct },
    ratios,
    unstable,
    agrees,
    verdict,
    loadAverage: t.loadAverage,
    sparseInference: { eligible: check.eligible, failed },
  };
}

/** The quality metrics a run records: accuracy for a classifier; MAE, RMSE and R² for a regressor. */
function qualityMetrics(task: Task, m: { accuracy: number; mae?: number; rmse?: number; r2?: number }): Record<string, number> {
  if (task === 'classification') return { accuracy: m.accuracy };
  return { mae: m.mae ?? NaN, rmse: m.rmse ?? NaN, r2: m.r2 ?? NaN };
}

/** A regressor needs float targets, one per output; a classifier needs class labels. */
function checkTargets(task: Task, targetNames: string[] | undefined, units: number, source: string): void {
  if (task === 'classification' && targetNames) {
    throw new ConfigError(`dataset ${source} holds regression targets (${targetNames.join(', ')}) but the model is a classifier`);
  }
  if (task === 'regression' && targetNames && targetNames.length !== units) {
    throw new ConfigError(`dataset ${source} has ${targetNames.length} target(s) (${targetNames.join(', ')}) but the model predicts ${units} value(s) a sample`);
  }
}

/** Fraction of exact zeros in each prunable kernel, by layer name. */
function kernelSparsity(model: tf.LayersModel): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of prunableWeights(model)) {
    const values = w.variable.read().dataSync();
    let zeros = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
    out[w.layer] = values.length ? zeros / values.length : 0;
  }
  return out;
}

/** `run:<id>` (derive from an earlier run) is that run's saved model; other specs pass through. */
export function resolveRunModel(spec: string, runsDir: string): string {
  if (!spec.startsWith('run:')) return spec;
  const id = spec.slice(4);
  if (!/^[A-Za-z0-9-]+$/.test(id)) throw new ConfigError(`model "${spec}": not a run id`);
  return path.join(runsDir, id, 'model');
}

function layerRows(a: ModelAnalysis, phase: 'before' | 'after'): LayerResultInput[] {
  return a.layers.map((l) => ({
    layer: l.name,
    className: l.className,
    params: l.params,
    nonZeros: l.nonZeros,
    macs: l.macs,
    sparsity: l.sparsity,
    phase,
  }));
}

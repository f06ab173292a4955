/**
 * One pruning run, start to end, as named phases: load -> baseline -> prune + fine-tune -> final ->
 * export + verify -> receipts -> summary. It only computes and writes files under the run's folder;
 * everything worth keeping goes out as RunEvents, which the run service persists as they arrive.
 * The same code runs in a worker (the app) or in-process (tests). What the phases share is in
 * ./run/context.ts; the two measurements in ./run/measure.ts; the speedup receipts in ./run/receipts.ts.
 */
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, DivergenceError } from '../common/errors';
import type { Profile } from '../common/profiles';
import type { ExportRequest } from '../common/run-config';
import { analyzeModel, type ModelAnalysis } from '../engine/analyze';
import { sensitivityScan } from '../engine/analyze/sensitivity';
import { classReport } from '../engine/measure';
import { modelOutline } from '../engine/graph/outline';
import { modelCost } from '../engine/measure/receipt';
import { checkPrunable } from '../engine/prune/feasibility';
import { runPruning, type RunPruningResult } from '../engine/prune/run';
import type { Divergence } from '../engine/finetune/trainer';
import { validatePruneConfig } from '../engine/prune/types';
import { kernelSparsity } from '../engine/prune/weights';
import { outputUnits, resolveTask, type Task } from '../engine/task';
import { initBackend } from '../node/backend';
import type { LoadedDataset } from '../node/datasets';
import { saveModel, type LoadedModel } from '../node/models';
import { installTrainWorkersFromEnv } from '../node/train-workers';
import type { Json, LayerResultInput, MetricInput } from '../store/types';
import { exportModel } from './export-service';
import { versions } from './info-service';
import { openModel } from './model-service';
import { loadDatasetForModel } from './model-data';
import { CurveSampler } from './curve-sampler';
import { inPhase, type RunPlace } from './run-errors';
import type { RunEvent, RunResult } from './run-events';
import { deploySummary, profileForRun } from './deploy/run-deploy';
import { methodLabel } from './deploy/labels';
import { runContext, type RunContext, type RunJob } from './run/context';
import { RunMeasurements, type Measured } from './run/measure';
import { parentTflites, receiptsPhase } from './run/receipts';
import type { GpuLink } from './run/gpu-link';
import { applyPruningResponse, pruningRequest } from '../engine/remote/run';
import type { GpuProgress, GpuTrainingDevice } from '../engine/remote/wire';

export type { RunJob } from './run/context';
export { runLatency } from './run/measure';

/**
 * Runs the job; an error names the phase it happened in (see ./run-errors.ts), with a remedy when
 * the cause is a known one such as the wasm heap running out.
 */
export async function executeRun(job: RunJob, emit: (e: RunEvent) => void, signal?: AbortSignal, gpu?: GpuLink): Promise<RunResult> {
  const place: RunPlace = { phase: 'load' };
  try {
    return await runPhases(runContext(job, emit, place, signal), gpu);
  } catch (err) {
    const batchSize = Number((job.config.prune.finetune as { batchSize?: unknown } | undefined)?.batchSize ?? 64);
    throw inPhase(err, place, Number.isFinite(batchSize) ? batchSize : 64);
  }
}

/** The loaded model and data, checked against each other, with the validated pruning config. */
interface RunInputs {
  loaded: LoadedModel;
  original: tf.LayersModel;
  task: Task;
  dataset: LoadedDataset;
  pruneConfig: ReturnType<typeof validatePruneConfig>;
  /** The original model's analysis (params, MACs, per layer). */
  before: ModelAnalysis;
}

async function runPhases(ctx: RunContext, gpu: GpuLink | undefined): Promise<RunResult> {
  const { config } = ctx;
  ctx.progress({ phase: 'load', done: 0, total: 2, message: `loading ${config.model}` });
  const backend = await initBackend();
  // Opt-in data-parallel fine-tuning (TOPIARY_TRAIN_WORKERS=N threads); unset: one thread.
  installTrainWorkersFromEnv();
  const loaded = await openModel(resolveRunModel(config.model, path.dirname(ctx.job.runDir)));
  const original = loaded.model;
  for (const w of loaded.warnings ?? []) ctx.log('warn', w);
  let pruned: tf.LayersModel | undefined;
  let meter: RunMeasurements | undefined;
  try {
    const profile = profileForRun(config.profile, ctx.job.profile);
    const requests = config.exports.map((req) => exportForProfile(req, profile));
    const inputs = await loadPhase(ctx, loaded, backend);
    meter = new RunMeasurements({ dataset: inputs.dataset, task: inputs.task, config, progress: ctx.progress, signal: ctx.signal });
    const { baseline, parentFiles } = await baselinePhase(ctx, inputs, meter, requests);
    const { result, step, device } = await pruneAndFinetunePhase(ctx, inputs, gpu);
    const model = (pruned = result.model);
    const { after, final, modelDir } = await finalPhase(ctx, inputs, meter, model, { baseline, step });
    const { artifacts, facts: exportFacts } = await exportPhase(ctx, inputs, model, { baseline, final, after, requests });
    const receipts = await receiptsPhase(ctx, artifacts, parentFiles, {
      parent: modelCost(inputs.before),
      pruned: modelCost(after),
      granularity: inputs.pruneConfig.granularity,
      keptWidths: after.layers.filter((l) => l.className === 'Conv2D' || l.className === 'Dense').map((l) => Number(l.outputShape[l.outputShape.length - 1])),
    });

    // What ships and whether it fits the profile's device (app/deploy): headline size, fit verdict, widths.
    const deployed = await deploySummary(model, profile, artifacts, {
      before: inputs.before,
      after,
      parentFiles,
      onWarn: (message) => ctx.log('warn', message),
    });
    const { task, dataset } = inputs;
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
      // Trained in a GPU window: its backend, adapter, and whether that is software rendering.
      training: result.training.map((t) => ({ ...t, ...(device ? { backend: device.backend, ...(device.adapter ? { adapter: device.adapter } : {}), software: device.software } : {}) })),
      // Which path evaluated and timed the model before and after (native forward pass or tfjs).
      inference: meter.inference,
      // Measured LiteRT latency of each .tflite export vs the parent model's, beside the MACs.
      receipts: receipts as unknown as Json[],
      shipped: deployed.shipped as unknown as Json,
      fit: deployed.fit as unknown as Json,
      widths: deployed.widths as unknown as Json,
      // Which classes pruning hurt: per-class accuracy and confusion before vs after (classifiers).
      ...(task === 'classification' && meter.confusions.baseline && meter.confusions.final
        ? { classes: classReport(meter.confusions.baseline, meter.confusions.final, dataset.classNames) as unknown as Json }
        : {}),
      // The layers in graph order with widths and sparsity, original vs pruned, for the graph view.
      graph: modelOutline(inputs.before, after) as unknown as Json,
      // What each latency figure measured, with its spread; the exported file's is the device's.
      latency: meter.latency(receipts[0]) as unknown as Json,
      exports: exportFacts,
    };
    ctx.emit({ type: 'summary', summary });
    ctx.progress({ phase: 'done', done: 1, total: 1 });
    return { summary, modelDir, artifacts };
  } finally {
    // Unstructured pruning works in place (pruned === original); structured returns a new model.
    if (pruned && pruned !== original) pruned.dispose();
    meter?.dispose(original);
    original.dispose();
  }
}

/** Load: the data for the model, checked against it, the pruning config validated; emits `loaded`. */
async function loadPhase(ctx: RunContext, loaded: LoadedModel, backend: Awaited<ReturnType<typeof initBackend>>): Promise<RunInputs> {
  const { config } = ctx;
  const original = loaded.model;
  const task = resolveTask(original, config.task, config.model);
  ctx.progress({ phase: 'load', done: 1, total: 2, message: `loading ${config.data}` });
  const { dataset, prep } = await loadDatasetForModel(original, config.data, {
    seed: config.seed,
    task,
    inputScale: config.inputScale,
    resize: config.resize,
    onProgress: (p) => ctx.progress({ phase: 'load', done: 1 + p.done / Math.max(1, p.total), total: 2, message: p.phase }),
  });
  for (const w of dataset.warnings) ctx.log('warn', w);
  ctx.log('info', prep.summary);
  checkTargets(task, dataset.targetNames, outputUnits(original), dataset.source);
  const pruneConfig = validatePruneConfig({ seed: config.seed, ...config.prune, task }, original);
  const before = analyzeModel(original);
  ctx.emit({
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
  ctx.progress({ phase: 'load', done: 2, total: 2 });
  ctx.checkCancel();
  // After 'loaded' (so the run is recorded as failed) and before any measuring or training.
  checkPrunable(original, pruneConfig);
  return { loaded, original, task, dataset, pruneConfig, before };
}

/**
 * Baseline: the original model measured, its .tflite files exported for the receipts (now:
 * unstructured pruning changes `original` in place), and the optional per-layer sensitivity scan.
 */
async function baselinePhase(ctx: RunContext, inputs: RunInputs, meter: RunMeasurements, requests: readonly ExportRequest[]): Promise<{ baseline: Measured; parentFiles: Map<string, Uint8Array> }> {
  const { config } = ctx;
  const { original, dataset, task, pruneConfig, before } = inputs;
  const baseline = await meter.measure(original, 'baseline', before);
  // Structured pruning builds a new model and leaves `original` as it was; the others prune it in place.
  await meter.keepParent(original, pruneConfig.granularity !== 'structured', (m) => ctx.log('warn', m));
  const parentFiles = config.receiptBudgetMs > 0 ? parentTflites(original, requests, dataset, ctx.log) : new Map<string, Uint8Array>();
  ctx.emit({ type: 'metrics', points: Object.entries(baseline).map(([name, value]) => ({ step: 0, phase: 'baseline', name, value })) });
  const beforeRows = layerRows(before, 'before');
  if (config.sensitivity) {
    ctx.progress({ phase: 'sensitivity', done: 0, total: 1 });
    const scan = await sensitivityScan(original, dataset.test, {
      limit: Math.min(config.evalLimit ?? 1000, 1000),
      signal: ctx.signal,
      task,
      onProgress: (done, total) => ctx.progress({ phase: 'sensitivity', done, total }),
    });
    for (const row of beforeRows) {
      const points = scan.rows.filter((r) => r.layer === row.layer);
      if (points.length) row.sensitivity = { sparsity: points.map((p) => p.sparsity), accuracy: points.map((p) => p.accuracy), baseline: scan.baseline.accuracy };
    }
  }
  ctx.emit({ type: 'layers', rows: beforeRows });
  ctx.checkCancel();
  return { baseline, parentFiles };
}

/**
 * Prune + fine-tune: progress every batch (throttled), training curves every few steps
 * (./curve-sampler.ts), per-epoch metrics; a diverged run stops here, its best weights saved.
 * With a GPU peer chosen (./gpu-peers.ts), the whole runPruning call runs in that window and its
 * progress streams back through the same handler; without one, it runs here and one log line says why.
 */
async function pruneAndFinetunePhase(ctx: RunContext, inputs: RunInputs, gpu: GpuLink | undefined): Promise<{ result: RunPruningResult; step: number; device?: GpuTrainingDevice }> {
  const { original, dataset, task, pruneConfig } = inputs;
  ctx.progress({ phase: 'prune', done: 0, total: 1, message: `${pruneConfig.method} ${pruneConfig.granularity} to ${pruneConfig.sparsity}` });
  let step = 0;
  const curves = new CurveSampler({
    epochs: pruneConfig.finetune.epochs + (pruneConfig.finetune.qat?.epochs ?? 0),
    startedAt: ctx.started,
    learningRate: pruneConfig.finetune.learningRate,
    quality: task === 'regression' ? 'r2' : 'accuracy',
  });
  const onProgress = (p: GpuProgress) => {
    // E.g. batches split into micro-batches to fit the backend's memory (engine/finetune/memory.ts).
    if (p.note) ctx.log('info', p.note);
    if (p.phase === 'prune') {
      // Unstructured and N:M prune the model in place, so its kernels show the new masks now;
      // structured pruning builds a new model, reported per layer when the run ends.
      // A GPU window measures its own model's kernels (`original` here is not pruned until it answers).
      const layerSparsity = pruneConfig.granularity === 'structured' ? undefined : (p.layerSparsity ?? kernelSparsity(original));
      ctx.progress({ phase: 'prune', done: 1, total: 1, sparsity: p.sparsity, ...(layerSparsity ? { layerSparsity } : {}) });
      return;
    }
    // Quantization-aware fine-tuning (finetune.qat) adds its epochs after the float ones.
    const epochs = Math.max(1, pruneConfig.finetune.epochs + (pruneConfig.finetune.qat?.epochs ?? 0));
    // Batches finished: p.batch is the index of the one just finished, so the last reads N/N.
    const done = p.epoch * p.batches + p.batch + 1;
    ctx.place.batch = p.batch + 1;
    const curve = curves.observe(p);
    if (curve) ctx.emit({ type: 'curve', points: [curve] });
    ctx.progress({
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
      ctx.emit({ type: 'metrics', points });
    }
  };
  const choice = gpu ? await gpu.choose() : { reason: 'no GPU window connected' };
  let result: RunPruningResult;
  let device: GpuTrainingDevice | undefined;
  if (choice.peer && gpu) {
    const info = choice.peer.info;
    ctx.log('info', `GPU: training on ${info.backend} (${info.adapter ?? 'unnamed adapter'}${info.software ? ', software rendering' : ''}) in a GPU window`);
    const request = await pruningRequest(original, dataset, pruneConfig);
    const answer = await gpu.runPruning(choice.peer.id, request, { signal: ctx.signal, onProgress });
    ({ device, ...result } = await applyPruningResponse(original, answer, pruneConfig));
  } else {
    ctx.log('info', `GPU: none used (${choice.reason})`);
    result = await runPruning(original, dataset, pruneConfig, { signal: ctx.signal, onProgress });
  }
  const lastCurve = curves.flush();
  if (lastCurve) ctx.emit({ type: 'curve', points: [lastCurve] });
  ctx.emit({ type: 'plan', plan: result.plan });
  ctx.checkCancel();
  if (result.diverged) await stopDiverged(result.model, result.diverged, ctx.job.runDir, ctx.emit);
  return { result, step, ...(device ? { device } : {}) };
}

/** Final: the pruned model measured (its parent timed beside it), checked finite, and saved. */
async function finalPhase(
  ctx: RunContext,
  inputs: RunInputs,
  meter: RunMeasurements,
  pruned: tf.LayersModel,
  o: { baseline: Measured; step: number },
): Promise<{ after: ModelAnalysis; final: Measured; modelDir: string }> {
  const after = analyzeModel(pruned);
  const final = await meter.measure(pruned, 'final', after);
  meter.interleavedBaseline(o.baseline);
  checkFinite(final, 'final');
  ctx.emit({ type: 'metrics', points: Object.entries(final).map(([name, value]) => ({ step: o.step + 1, phase: 'final', name, value })) });
  ctx.emit({ type: 'layers', rows: layerRows(after, 'after') });
  const modelDir = path.join(ctx.job.runDir, 'model');
  await saveModel(pruned, modelDir);
  ctx.checkCancel();
  return { after, final, modelDir };
}

/** Export + verify: each requested export written into the run's folder and verified; emits each artifact. */
async function exportPhase(
  ctx: RunContext,
  inputs: RunInputs,
  pruned: tf.LayersModel,
  o: { baseline: Measured; final: Measured; after: ModelAnalysis; requests: readonly ExportRequest[] },
) {
  const artifacts = [];
  // Per export: zeros counted in the .tflite file, tfjs shards as downloaded (raw, gzip, brotli).
  const facts: Json[] = [];
  for (const [i, req] of o.requests.entries()) {
    ctx.place.what = `${req.format} ${req.quant}`;
    ctx.progress({ phase: 'export', done: i, total: o.requests.length, message: `${req.format} ${req.quant}` });
    const exported = await exportModel(pruned, req, {
      outDir: path.join(ctx.job.runDir, `export-${req.format}-${req.quant}`),
      dataset: inputs.dataset,
      source: inputs.loaded.source,
      metrics: { before: o.baseline, after: o.final },
      layers: o.after,
      task: inputs.task,
      onVerify: (done, total) => ctx.progress({ phase: 'verify', done, total }),
      onQuantize: (done, total) => {
        ctx.checkCancel();
        ctx.progress({ phase: 'export', done, total, message: `${req.format} ${req.quant}: measuring which kernels need uint16` });
      },
    });
    artifacts.push(exported.artifact);
    facts.push({
      format: req.format,
      quant: exported.artifact.quant,
      bytes: exported.sizes.rawBytes,
      ...(exported.weightZeros ? { weightZeros: { ...exported.weightZeros } } : {}),
      ...(exported.download ? { download: { rawBytes: exported.download.rawBytes, gzipBytes: exported.download.gzipBytes, brotliBytes: exported.download.brotliBytes } } : {}),
    });
    ctx.emit({ type: 'artifact', artifact: exported.artifact });
    ctx.checkCancel();
  }
  return { artifacts, facts };
}

/**
 * An export request as the run's device takes it: a runtime without DENSIFY (TFLite Micro) cannot
 * read sparse-stored weights, so its .tflite files keep them dense unless the request says otherwise.
 */
export function exportForProfile(req: ExportRequest, profile: Profile | undefined): ExportRequest {
  if (req.sparse || req.format !== 'tflite' || !profile || profile.supportedOps.includes('DENSIFY')) return req;
  return { ...req, sparse: 'never' };
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

/** A regressor needs float targets, one per output; a classifier needs class labels. */
function checkTargets(task: Task, targetNames: string[] | undefined, units: number, source: string): void {
  if (task === 'classification' && targetNames) {
    throw new ConfigError(`dataset ${source} holds regression targets (${targetNames.join(', ')}) but the model is a classifier`);
  }
  if (task === 'regression' && targetNames && targetNames.length !== units) {
    throw new ConfigError(`dataset ${source} has ${targetNames.length} target(s) (${targetNames.join(', ')}) but the model predicts ${units} value(s) a sample`);
  }
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

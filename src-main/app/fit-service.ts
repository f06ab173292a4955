/**
 * Fit check and fit-to-budget for every front door. The check exports the model the way the
 * profile needs it and adds the latency of that file measured on this host (LiteRT for .tflite,
 * tfjs for tfjs). Fit-to-budget searches pruning ratios and numeric type (engine/fit/search), then
 * fine-tunes and exports through the ordinary run machinery so the result is a recorded run, with
 * every candidate the search tried stored as metrics of that run.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, TopiaryError } from '../common/errors';
import { NUMERIC_TYPES, type FitReport, type NumericType, type Profile } from '../common/profiles';
import type { RunConfigInput } from '../common/run-config';
import type { Dataset } from '../engine/data';
import { resolveTask, type Task } from '../engine/task';
import { analyzeModel } from '../engine/analyze';
import { checkFit, checkTfliteFile, formatFor, tfliteQuantFor, searchFit, type FitCandidate, type FitPlan } from '../engine/fit';
import { measureLatency } from '../engine/measure';
import { initBackend } from '../node/backend';
import { loadModel } from '../node/models';
import { verifyTflite } from '../node/verify/verify';
import type { MetricInput } from '../store/types';
import { calibrationSamples, verificationSamples } from './export-service';
import { openModel } from './model-service';
import { loadDatasetForModel, type DataPreparation } from './model-data';
import type { InputScaleChoice, ResizeMode } from '../common/input-prep';
import type { ProfileService } from './profile-service';
import type { AppServices } from './services';
import type { FitCheckResult, FitAutoResult } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { FitCheckResult, FitAutoResult };

export interface FitCheckRequest {
  /** Model spec: demo, a tfjs folder or model.json, a Keras file. */
  model: string;
  profile: string;
  /** Dataset spec for int8 calibration and realistic latency inputs (optional). */
  data?: string;
  numericType?: NumericType;
  /** Timed batch-1 runs on this host (0 skips the measurement). Default 20. */
  latencyRuns?: number;
  /** How `data` is prepared for the model (see common/input-prep.ts); default auto / crop. */
  inputScale?: InputScaleChoice;
  resize?: ResizeMode;
}

/** Adds the measured host latency of the exported file (or of the tfjs model) to a report. */
async function measureHost(report: FitReport, model: tf.LayersModel, tflite: Uint8Array | undefined, dataset: Dataset | undefined, runs: number): Promise<void> {
  if (runs <= 0) return;
  try {
    if (tflite) {
      const v = await verifyTflite(tflite, model, verificationSamples(model, dataset, 8), { mode: tfliteQuantFor(report.numericType), latencyRuns: runs });
      if (Number.isFinite(v.latencyMs)) {
        report.latency.hostMs = v.latencyMs;
        report.latency.hostRuntime = `litert ${v.runtimeVersion} (wasm), this host`;
      } else {
        report.notes.push(`LiteRT could not time the file: ${v.reason ?? 'unknown reason'}`);
      }
    } else {
      const [r] = await measureLatency(model, { batchSizes: [1], runs });
      report.latency.hostMs = r.medianMs;
      report.latency.hostRuntime = 'tfjs, this host';
    }
  } catch (err) {
    report.notes.push(`host latency not measured: ${(err as Error).message}`);
  }
}

/**
 * Checks a model against a profile: pass/fail per constraint with margins, unsupported ops by
 * layer, estimated device latency and measured host latency.
 * @example await checkModelFit(profiles, { model: 'demo', profile: 'mcu-cortex-m4' })
 */
export async function checkModelFit(profiles: ProfileService, req: FitCheckRequest): Promise<FitCheckResult> {
  const profile = profiles.get(req.profile);
  if (req.numericType !== undefined && !(NUMERIC_TYPES as readonly string[]).includes(req.numericType)) {
    throw new ConfigError(`numeric type must be one of ${NUMERIC_TYPES.join(', ')}, got "${req.numericType}"`);
  }
  const loaded = await openModel(req.model);
  try {
    const dataset = req.data
      ? (await loadDatasetForModel(loaded.model, req.data, { inputScale: req.inputScale, resize: req.resize })).dataset
      : undefined;
    const { report, tflite } = await checkFit(loaded.model, profile, {
      numericType: req.numericType,
      calibration: dataset ? calibrationSamples(dataset) : undefined,
    });
    if (report.constraints.find((c) => c.constraint === 'ops')?.passed) await measureHost(report, loaded.model, tflite, dataset, req.latencyRuns ?? 20);
    return { model: loaded.source, ...report };
  } finally {
    loaded.model.dispose();
  }
}

export interface FitAutoRequest {
  model: string;
  /** Required: candidates are ranked on it, int8 is calibrated on it, and the winner is fine-tuned on it. */
  data: string;
  profile: string;
  /** Fine-tuning epochs of the winning configuration. Default 2. */
  epochs?: number;
  maxSamplesPerEpoch?: number;
  batchSize?: number;
  learningRate?: number;
  /** Validation samples per candidate. Default 512. */
  evalLimit?: number;
  levels?: number[];
  /** Bisection steps between the last failing and first fitting level. Default 2. */
  refine?: number;
  /** Test samples the exported file is verified on. Default 500. */
  verifySamples?: number;
  /** Training samples used to calibrate int8 candidates. Default 256. */
  calibrationSamples?: number;
  seed?: number;
  name?: string;
  /** How `data` is prepared for the model; the resolved values go into the recorded run's config. */
  inputScale?: InputScaleChoice;
  resize?: ResizeMode;
  /** What the model predicts; read from its output layer when absent. A regressor's candidates rank by R², its run reports MAE. */
  task?: Task;
}

export interface FitAutoHooks {
  onCandidate?: (c: FitCandidate) => void;
  onLog?: (message: string) => void;
  signal?: AbortSignal;
}

function candidateMetrics(c: FitCandidate): MetricInput[] {
  const v: Record<string, number | null> = {
    level: c.level,
    fits: c.fits ? 1 : 0,
    numericType: NUMERIC_TYPES.indexOf(c.numericType),
    sizeBytes: c.sizeBytes,
    arenaBytes: c.arenaBytes,
    params: c.params,
    macs: c.macs,
    latencyEstimateMs: c.latencyEstimateMs,
    accuracy: c.accuracy,
  };
  return Object.entries(v)
    .filter((e): e is [string, number] => e[1] !== null)
    .map(([name, value]) => ({ step: c.index, phase: 'fit-search', name, value }));
}

function reportMetrics(r: FitReport): MetricInput[] {
  const points: MetricInput[] = [{ step: 0, phase: 'fit', name: 'fits', value: r.fits ? 1 : 0 }];
  for (const c of r.constraints) {
    if (c.value !== null) points.push({ step: 0, phase: 'fit', name: `${c.constraint}.value`, value: c.value });
    points.push({ step: 0, phase: 'fit', name: `${c.constraint}.budget`, value: c.budget });
    points.push({ step: 0, phase: 'fit', name: `${c.constraint}.passed`, value: c.passed ? 1 : 0 });
  }
  if (r.latency.hostMs !== null) points.push({ step: 0, phase: 'fit', name: 'latency.hostMs', value: r.latency.hostMs });
  return points;
}

/**
 * Makes a model fit a profile: search (early, cheap infeasibility check first), then one recorded
 * run that prunes with the winning per-layer ratios, fine-tunes, exports in the winning numeric
 * type and verifies; the exported file is then judged against the profile from disk.
 * @example const r = await fitToBudget(services, profiles, { model: 'demo', data: 'demo', profile: 'mcu-cortex-m4' })
 */
export async function fitToBudget(services: AppServices, profiles: ProfileService, req: FitAutoRequest, hooks: FitAutoHooks = {}): Promise<FitAutoResult> {
  if (!req.data) throw new ConfigError('fit --auto needs --data: candidates are ranked, calibrated and fine-tuned on it');
  const profile: Profile = profiles.get(req.profile);
  const seed = req.seed ?? 42;
  await initBackend();
  const loaded = await openModel(req.model);
  let plan: FitPlan;
  let prep: DataPreparation;
  let task: Task;
  try {
    task = resolveTask(loaded.model, req.task, req.model);
    const forModel = await loadDatasetForModel(loaded.model, req.data, { seed, task, inputScale: req.inputScale, resize: req.resize });
    const dataset = forModel.dataset;
    prep = forModel.prep;
    hooks.onLog?.(prep.summary);
    hooks.onLog?.(`searching pruning ratios and numeric type for ${profile.id}`);
    plan = await searchFit(loaded.model, profile, {
      calibration: calibrationSamples(dataset, req.calibrationSamples ?? 256),
      validation: dataset.test,
      evalLimit: req.evalLimit ?? 512,
      levels: req.levels,
      refine: req.refine,
      signal: hooks.signal,
      onCandidate: hooks.onCandidate,
      task,
    });
  } finally {
    loaded.model.dispose();
  }
  const result: FitAutoResult = {
    profileId: profile.id,
    feasible: plan.feasible,
    reason: plan.reason,
    binding: plan.binding,
    candidates: plan.candidates,
    best: plan.best,
    baseline: plan.baseline,
    baselineAccuracy: plan.baselineAccuracy,
    runId: null,
    runStatus: null,
    final: null,
    artifact: null,
    accuracy: { before: null, after: null },
    mae: null,
  };
  if (!plan.feasible || !plan.best || !plan.pruneConfig || !plan.export) return result;

  const best = plan.best;
  hooks.onLog?.(
    `chose ${best.numericType}, ${best.allocation} pruning ${Object.entries(best.perLayer).map(([l, s]) => `${l} ${(100 * s).toFixed(0)}%`).join(', ') || 'none'}; fine-tuning`,
  );
  const config: RunConfigInput = {
    model: req.model,
    data: req.data,
    profile: profile.id,
    name: req.name ?? `fit ${profile.id}`,
    seed,
    task,
    evalLimit: req.evalLimit,
    latencyRuns: 5,
    inputScale: prep.inputScale,
    resize: prep.resize,
    prune: {
      ...plan.pruneConfig,
      finetune: {
        epochs: req.epochs ?? 2,
        batchSize: req.batchSize ?? 64,
        learningRate: req.learningRate ?? 1e-3,
        ...(req.maxSamplesPerEpoch ? { maxSamplesPerEpoch: req.maxSamplesPerEpoch } : {}),
      },
    },
    exports: [{ format: plan.export.format, quant: plan.export.quant as 'none', verifySamples: req.verifySamples ?? 500 }],
  };
  const { runId } = services.runs.start(config);
  result.runId = runId;
  const onAbort = () => services.runs.cancel(runId);
  hooks.signal?.addEventListener('abort', onAbort);
  const finished = await services.runs.wait(runId);
  hooks.signal?.removeEventListener('abort', onAbort);
  result.runStatus = finished.status;
  if (!finished.recorded) {
    throw new TopiaryError(`fit run ${runId} ${finished.status} before it was recorded: ${finished.error?.message ?? finished.recordError?.message ?? ''}`);
  }
  const writer = services.store.writer;
  writer.appendMetrics(runId, plan.candidates.flatMap(candidateMetrics));
  services.history.tag(runId, ['fit-to-budget']);
  if (finished.status !== 'done') return result;

  const detail = services.history.show(runId);
  result.accuracy = { before: detail.summary?.before?.accuracy ?? null, after: detail.summary?.after?.accuracy ?? null };
  if (task === 'regression') result.mae = { before: detail.summary?.before?.mae ?? null, after: detail.summary?.after?.mae ?? null };
  const artifact = detail.artifacts.find((a) => a.format === plan.export!.format);
  if (!artifact) throw new TopiaryError(`fit run ${runId} finished without a ${plan.export.format} export`);
  const saved = await loadModel(path.join(services.runsDir, runId, 'model'));
  try {
    const { macs, params } = analyzeModel(saved.model, { gzip: false });
    let final: FitReport;
    if (formatFor(profile) === 'tflite') {
      // Judge the file on disk, not a re-export: its byte length is what the device stores.
      final = checkTfliteFile(new Uint8Array(fs.readFileSync(artifact.path)), profile, { numericType: best.numericType, macs, params });
    } else {
      final = (await checkFit(saved.model, profile, { numericType: best.numericType, analysis: { macs, params } })).report;
    }
    const v = (artifact.verification ?? {}) as { latencyMs?: number | null; runtime?: string };
    if (typeof v.latencyMs === 'number') {
      final.latency.hostMs = v.latencyMs;
      final.latency.hostRuntime = `${v.runtime ?? 'verifier'}, this host`;
    }
    result.final = final;
    result.artifact = { path: artifact.path, bytes: artifact.bytes, sha256: artifact.sha256, verified: artifact.status === 'ok' };
    writer.appendMetrics(runId, reportMetrics(final));
    const bind = plan.binding.map((b) => b.constraint).join(', ');
    services.history.note(
      runId,
      `fit-to-budget for ${profile.id}: tried ${plan.candidates.length} candidates; binding: ${bind}; chose ${best.numericType} ${best.allocation} pruning; exported file ${final.fits ? 'fits' : 'does NOT fit'}`,
    );
  } finally {
    saved.model.dispose();
  }
  return result;
}

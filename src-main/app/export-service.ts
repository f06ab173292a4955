/**
 * Export + verification: writes a bundle folder (model file(s), report.json, report.html) and
 * proves the exported file behaves like the in-app model by running it in an independent runtime
 * (LiteRT for .tflite, the stock tfjs loader for a tfjs folder). A failed verification marks the
 * artifact as failed with the reason; it never throws away the export.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import type { ExportRequest } from '../common/run-config';
import type { ExportLayerRow, ExportReportInput, Verification } from '../common/export-report';
import type { Dataset } from '../engine/data';
import { analyzeModel, type ModelAnalysis } from '../engine/analyze';
import { exportTfjs, MIN_CHANNEL_LEVELS, tfjsFolderFiles, sizeReport, verifyTfjsExport, type TfjsQuant } from '../engine/export/tfjs';
import { countTfliteZeros, exportTflite, type TfliteQuant, type TfliteWeightZeros } from '../engine/export/tflite';
import { downloadSizes } from '../node/export/download-sizes';
import { permutation, seededRandom } from '../engine/data';
import { inferTask, resolveTask, type Task } from '../engine/task';
import { verifyTflite } from '../node/verify/verify';
import { checkExportTarget, writeExportBundle } from '../node/export/bundle';
import type { InputScaleChoice, ResizeMode } from '../common/input-prep';
import { loadModel } from '../node/models';
import { currentBackend, initBackend } from '../node/backend';
import type { ArtifactInput } from '../store/types';
import { appVersion } from './info-service';
import { loadDatasetForModel } from './model-data';
import type { AppServices } from './services';
import type { StoredExportResult } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { StoredExportResult };

export interface ExportContext {
  outDir: string;
  /** Samples for verification and int8 calibration; random inputs when absent (no accuracy then). */
  dataset?: Dataset;
  /** What the user picked (`demo`, a path, `run:<id>`). */
  source: string;
  runId?: string;
  metrics?: { before: Record<string, number>; after: Record<string, number> };
  layers?: ModelAnalysis;
  overwrite?: boolean;
  onVerify?: (done: number, total: number) => void;
  /** Progress of a calibrated tfjs uint8 export's uint16 raising (evaluated exports); may throw to cancel. */
  onQuantize?: (done: number, total: number) => void;
  /** What the model predicts: a regressor is verified by error (MAE, max |diff|), not top-1. Default: inferred from the model. */
  task?: Task;
}

export interface ExportOutcome {
  dir: string;
  artifact: ArtifactInput;
  verification: Verification;
  sizes: { rawBytes: number; gzipBytes: number };
  /** tfjs: weight shards as downloaded (raw, gzip, brotli). */
  download?: ExportReportInput['download'];
  /** tflite: zeros of the weight filters, counted in the written file. */
  weightZeros?: TfliteWeightZeros;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function sampleShape(model: tf.LayersModel): number[] {
  return model.inputs[0].shape.slice(1).map((d) => d ?? 1);
}

/**
 * Verification samples: the first n of the test split, or seeded uniform noise in [0, 1) when there
 * is no dataset (at most 64 samples; no labels, so no accuracy).
 */
export function verificationSamples(model: tf.LayersModel, dataset: Dataset | undefined, n: number) {
  const shape = sampleShape(model);
  if (dataset) {
    const count = Math.min(n, dataset.test.size);
    const idx = Int32Array.from({ length: count }, (_, i) => i);
    const { x, y } = dataset.test.take(idx);
    return { x, y, sampleShape: shape };
  }
  const per = shape.reduce((a, b) => a * b, 1);
  const rand = seededRandom(7);
  const x = Float32Array.from({ length: Math.min(n, 64) * per }, () => rand());
  return { x, y: new Int32Array(0), sampleShape: shape };
}

/** Training samples a tfjs uint8 export measures kernel sensitivity on (see chooseUint16Raises). */
export const TFJS_CALIBRATION_SAMPLES = 48;

/**
 * Up to TFJS_CALIBRATION_SAMPLES distinct training samples (a seeded shuffle, never the test split)
 * that a tfjs uint8 export measures kernel sensitivity on. Distinct, unlike calibrationSamples: every
 * repeat would cost a forward pass in each of the search's evaluations and tell it nothing new.
 */
export function tfjsCalibrationSamples(dataset: Dataset, n = TFJS_CALIBRATION_SAMPLES, seed = 11): Float32Array {
  const order = permutation(dataset.train.size, seed);
  return dataset.train.take(order.slice(0, Math.min(n, order.length)).sort()).x;
}

/** A seeded random sample of the training split, the representative data int8 is calibrated on. */
export function calibrationSamples(dataset: Dataset, n = 256, seed = 11): Float32Array {
  const rand = seededRandom(seed);
  const idx = Int32Array.from({ length: Math.min(n, dataset.train.size) }, () => Math.floor(rand() * dataset.train.size));
  return dataset.train.take(idx).x;
}

function layerRows(a: ModelAnalysis): ExportLayerRow[] {
  return a.layers.map((l) => ({
    name: l.name,
    className: l.className,
    outputShape: l.outputShape as (number | null)[],
    params: l.params,
    nonZeros: l.nonZeros,
    sparsity: l.params ? Math.min(1, Math.max(0, l.sparsity)) : 0,
    macs: l.macs,
  }));
}

/**
 * The .tflite bytes `exportModel` writes for `quant` (int8 calibrated on `dataset`'s training
 * split), without writing or verifying anything: speedup receipts export the parent model this way.
 */
export function exportTfliteFor(model: tf.LayersModel, quant: TfliteQuant, dataset: Dataset | undefined, sparse?: ExportRequest['sparse']): ReturnType<typeof exportTflite> {
  const calibration = quant === 'int8' && dataset ? calibrationSamples(dataset) : undefined;
  if (quant === 'int8' && !calibration) throw new ConfigError('full-integer int8 export needs calibration data: give a dataset (--calib <data>)');
  return exportTflite(model, { quant, calibration, ...(sparse ? { sparse } : {}) });
}

/** Exports `model` per `req` into `ctx.outDir`, verifies it, and returns the artifact record. */
export async function exportModel(model: tf.LayersModel, req: ExportRequest, ctx: ExportContext): Promise<ExportOutcome> {
  // The destination is checked before the export and its verification run, not after.
  await checkExportTarget(ctx.outDir, { overwrite: ctx.overwrite });
  const samples = verificationSamples(model, ctx.dataset, req.verifySamples);
  // Undecidable models keep the classification check they always had.
  const task = ctx.task ?? (inferTask(model) === 'regression' ? 'regression' : 'classification');
  const regression = task === 'regression';
  let files: { name: string; bytes: Uint8Array }[];
  let verification: Verification;
  let quant: string = req.quant;
  const notes: string[] = [];
  let weightZeros: TfliteWeightZeros | undefined;
  if (req.format === 'tflite') {
    if (!['none', 'float16', 'dynamic-int8', 'int8'].includes(req.quant)) {
      throw new ConfigError(`TF Lite export quant must be none, float16, dynamic-int8 or int8, got "${req.quant}"`);
    }
    const out = exportTfliteFor(model, req.quant as TfliteQuant, ctx.dataset, req.sparse);
    notes.push(...out.notes);
    files = [{ name: 'model.tflite', bytes: out.bytes }];
    weightZeros = countTfliteZeros(out.bytes);
    ctx.onVerify?.(0, 1);
    const v = await verifyTflite(out.bytes, model, samples, { mode: req.quant as TfliteQuant, task });
    ctx.onVerify?.(1, 1);
    const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    verification = {
      runtime: `litert ${v.runtimeVersion} (wasm)`,
      samples: v.samples,
      maxAbsDiff: Number.isFinite(v.maxAbsDiff) ? v.maxAbsDiff : Number.MAX_VALUE,
      top1Agreement: v.top1Agreement,
      accuracy: v.accuracy,
      latencyMs: Number.isFinite(v.latencyMs) ? v.latencyMs : null,
      passed: v.passed,
      reason: v.reason ?? null,
      ...(regression
        ? {
            task,
            meanAbsDiff: finite(v.meanAbsDiff) ?? Number.MAX_VALUE,
            mae: finite(v.mae),
            referenceMae: finite(v.referenceMae),
            ...(v.scale !== undefined ? { scale: v.scale } : {}),
            ...(v.rule ? { rule: v.rule } : {}),
          }
        : {}),
    };
  } else {
    // tfjs has no int8 weights; the nearest is uint8 affine quantization.
    quant = req.quant === 'int8' || req.quant === 'dynamic-int8' ? 'uint8' : req.quant;
    // Calibrated on training samples only (never the verification split), kept small: each
    // evaluation of the raising search is one forward pass over them. Classifiers only: the search's
    // target is in class-score units (top-1, |diff| of probabilities), meaningless for a regressor's scale.
    const calibration = quant === 'uint8' && ctx.dataset && !regression ? tfjsCalibrationSamples(ctx.dataset) : undefined;
    const out = await exportTfjs(model, { quant: quant as TfjsQuant, generatedBy: `Topiary ${appVersion()}`, calibration, onProgress: ctx.onQuantize });
    files = tfjsFolderFiles(out);
    if (out.float32Kept.length) notes.push(`${out.float32Kept.length} BatchNorm/bias tensors kept float32 in the ${quant} weights`);
    const measured = new Set(out.calibrated?.raised.map((r) => r.name));
    const ruled = out.uint16Raised.filter((name) => !measured.has(name));
    if (ruled.length) {
      notes.push(`${ruled.length} kernels written as uint16 (uint8 left a channel under ${MIN_CHANNEL_LEVELS} levels): ${ruled.slice(0, 5).join(', ')}${ruled.length > 5 ? ', ...' : ''}`);
    }
    if (out.calibrated) {
      const c = out.calibrated;
      const fmt = (m: typeof c.before) => `top-1 ${(m.top1Agreement * 100).toFixed(1)}%, max |diff| ${m.maxAbsDiff.toFixed(3)}`;
      notes.push(
        `uint8 calibrated on ${calibration!.length / samples.sampleShape.reduce((a, b) => a * b, 1)} distinct training samples: ${c.raised.length} most output-sensitive kernels raised to uint16 ` +
          `(${fmt(c.before)} -> ${fmt(c.after)}${c.met ? '' : ', target not met'}` +
          `${c.reached.top1Agreement < 1 ? `; top-1 target ${(c.reached.top1Agreement * 100).toFixed(1)}%, all that uint16 everywhere reaches` : ''}; ${c.evaluations} evaluations)` +
          (c.raised.length ? `: ${c.raised.map((r) => r.name).join(', ')}` : ''),
      );
    }
    ctx.onVerify?.(0, 1);
    const n = samples.x.length / samples.sampleShape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(samples.x, [n, ...samples.sampleShape]);
    try {
      verification = await verifyTfjsExport(model, out, x, { ...(samples.y.length ? { labels: samples.y } : {}), task });
    } finally {
      x.dispose();
    }
    ctx.onVerify?.(1, 1);
  }
  const sizes = sizeReport(files.filter((f) => f.name !== 'model.json' || req.format === 'tfjs').map((f) => f.bytes));
  const analysis = ctx.layers ?? analyzeModel(model);
  let download: ExportReportInput['download'];
  if (req.format === 'tfjs') {
    const shards = downloadSizes(files.filter((f) => f.name !== 'model.json'));
    download = { ...shards.total, files: shards.files };
  }
  const report: ExportReportInput = {
    version: 1,
    createdAt: new Date().toISOString(),
    app: { name: 'topiary', version: appVersion() },
    tfjsVersion: tf.version.tfjs,
    backend: currentBackend()?.name,
    source: { spec: ctx.source, ...(ctx.runId ? { runId: ctx.runId } : {}) },
    format: req.format,
    quant,
    config: { verifySamples: req.verifySamples, ...(req.sparse ? { sparse: req.sparse } : {}), ...(notes.length ? { notes } : {}) },
    sizes: { ...sizes, baselineRawBytes: analysis.sizeBytes },
    ...(download ? { download } : {}),
    ...(weightZeros ? { weightZeros } : {}),
    metrics: ctx.metrics ?? { before: {}, after: {} },
    layers: layerRows(analysis),
    verification,
  };
  const written = await writeExportBundle(ctx.outDir, { files, report }, { overwrite: ctx.overwrite });
  const main = req.format === 'tflite' ? files[0] : files.find((f) => f.name === 'model.json')!;
  return {
    dir: written.dir,
    sizes,
    ...(download ? { download } : {}),
    ...(weightZeros ? { weightZeros } : {}),
    verification,
    artifact: {
      path: path.join(written.dir, main.name),
      format: req.format,
      quant,
      bytes: sizes.rawBytes,
      sha256: sha256(main.bytes),
      verification: verification as unknown as ArtifactInput['verification'],
      status: verification.passed ? 'ok' : 'failed',
      reason: verification.passed ? null : verification.reason,
    },
  };
}

/** A free folder name: base, base-2, base-3... */
function freeDir(base: string): string {
  let dir = base;
  for (let i = 2; fs.existsSync(dir) && fs.readdirSync(dir).length > 0; i++) dir = `${base}-${i}`;
  return dir;
}

/** Exports a recorded run's pruned model and records the artifact with the run. */
export async function exportStoredRun(
  services: Pick<AppServices, 'history' | 'store' | 'runsDir'>,
  req: ExportRequest & { runId: string; outDir?: string; overwrite?: boolean; task?: Task },
): Promise<StoredExportResult> {
  const run = services.history.show(req.runId);
  if (req.outDir !== undefined) await checkExportTarget(req.outDir, { overwrite: req.overwrite });
  await initBackend();
  const modelDir = path.join(services.runsDir, run.id, 'model');
  if (!fs.existsSync(path.join(modelDir, 'model.json'))) {
    throw new ConfigError(`run ${run.id} has no saved model at ${modelDir} (it did not finish, or its files were deleted)`);
  }
  const loaded = await loadModel(modelDir);
  try {
    const recorded = (run.config.task as Task | undefined) ?? (inferTask(loaded.model) === 'regression' ? 'regression' : 'classification');
    const task = req.task ? resolveTask(loaded.model, req.task) : recorded;
    // Prepared as the run was; runs recorded before inputScale existed used [0, 1].
    const config = run.config as { seed?: unknown; inputScale?: InputScaleChoice; resize?: ResizeMode };
    const dataset = run.dataset
      ? (await loadDatasetForModel(loaded.model, run.dataset.source, {
          seed: Number(config.seed ?? 42),
          task,
          inputScale: config.inputScale ?? '0-1',
          resize: config.resize,
        })).dataset
      : undefined;
    const summary = run.summary as { before?: Record<string, number>; after?: Record<string, number> } | null;
    const outDir = req.outDir ?? freeDir(path.join(services.runsDir, run.id, `export-${req.format}-${req.quant}`));
    const out = await exportModel(loaded.model, req, {
      outDir,
      dataset,
      source: `run:${run.id}`,
      runId: run.id,
      metrics: { before: summary?.before ?? {}, after: summary?.after ?? {} },
      overwrite: req.overwrite,
      task,
    });
    services.store.writer.addArtifact(run.id, out.artifact);
    return { runId: run.id, dir: out.dir, artifact: out.artifact };
  } finally {
    loaded.model.dispose();
  }
}

/**
 * tfjs LayersModel export with optional weight quantization. The output is the content of a
 * standard tfjs model folder (model.json + group1-shardKofN.bin) that stock `tf.loadLayersModel`
 * reads; quantized weights carry the manifest `quantization` field the stock loader decodes.
 */
import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { ConfigError, UnsupportedLayerError } from '../../common/errors';
import { usesTopiaryOnlyOption } from '../models/activations';
import { flattenModel, hasNestedModels } from '../models/flatten';
import type { Verification } from '../../common/export-report';
import { affineParams, encodeFloat16, quantizeAffine } from './quantize';
import { compareRegression } from './verify-regression';
import { chooseUint16Raises, type RaiseDecision, type RaiseMeasure, type RaiseTarget } from './tfjs-raise';
import type { Task } from '../task';

export const TFJS_QUANT_MODES = ['none', 'float16', 'uint8', 'uint16'] as const;
export type TfjsQuant = (typeof TFJS_QUANT_MODES)[number];

export interface TfjsExportOptions {
  quant: TfjsQuant;
  /** Maximum bytes per weight shard; tfjs's own default is 4 MiB. */
  shardBytes?: number;
  /** Written to model.json `generatedBy`. */
  generatedBy?: string;
  /**
   * uint8 only: representative inputs (row-major, whole samples of the model's input shape), e.g.
   * 32-64 training samples. With them, kernels are raised to uint16 by measured sensitivity until
   * the export matches the float model on them (see chooseUint16Raises); without, only the
   * per-channel rule (needsUint16) applies.
   */
  calibration?: Float32Array;
  /** What the calibrated export must reach on `calibration`; default DEFAULT_RAISE_TARGET. */
  raiseTarget?: RaiseTarget;
  /** Most kernels raised by measurement (a size cap); default all. */
  maxRaised?: number;
  /** Progress of the calibrated search, in evaluated exports. */
  onProgress?: (done: number, total: number) => void;
}

/** A weights-manifest entry as tfjs-core's `io.WeightsManifestEntry` describes it. */
export interface TfjsWeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool' | 'string' | 'complex64';
  quantization?: { dtype: 'uint8' | 'uint16'; scale: number; min: number } | { dtype: 'float16' };
}

export interface TfjsModelJson {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: null;
  modelTopology: object;
  weightsManifest: { paths: string[]; weights: TfjsWeightEntry[] }[];
  userDefinedMetadata?: object;
}

export interface TfjsExport {
  modelJson: TfjsModelJson;
  /** Shard bytes in manifest order; shard i is written as `modelJson.weightsManifest[0].paths[i]`. */
  shards: Uint8Array[];
  /** Sum of shard sizes. */
  weightBytes: number;
  /** Weights a quantized export kept float32 (see FLOAT32_WEIGHTS); empty for quant 'none'. */
  float32Kept: string[];
  /** uint8 exports: kernels written as uint16 because uint8 left a channel too few levels (see needsUint16). */
  uint16Raised: string[];
  /** Calibrated uint8 exports: the kernels raised by measured sensitivity (also in uint16Raised) and how the export fared. */
  calibrated?: RaiseDecision;
}

/**
 * Fewest uint8 levels an output channel of a kernel may get before the whole tensor is written as
 * uint16 instead. The tfjs manifest quantizes per tensor (one scale and min), so a channel whose
 * weights span 1/50 of the tensor's range gets ~5 of the 255 levels: MobileNet depthwise kernels
 * vary that much per channel, and such uint8 exports disagreed with the float model on a third of
 * real inputs. 16 levels is 4 bits, the least at which quantization-aware work reports small losses.
 */
export const MIN_CHANNEL_LEVELS = 16;

/**
 * True when uint8 per-tensor quantization of `values` leaves some output channel fewer than
 * MIN_CHANNEL_LEVELS levels. Channels are the last axis (Dense [in, out], Conv2D [kh, kw, in, out])
 * or axis 2 for depthwise kernels [kh, kw, channels, multiplier]. All-zero (pruned) channels are
 * ignored: zero is always exact.
 */
export function needsUint16(name: string, shape: readonly number[], values: Float32Array): boolean {
  if (shape.length < 2) return false;
  const depthwise = /depthwise_kernel$/.test(name) && shape.length === 4;
  const channels = depthwise ? shape[2] * shape[3] : shape[shape.length - 1];
  if (channels < 2) return false;
  let lo = Infinity;
  let hi = -Infinity;
  const cmin = new Float32Array(channels).fill(Infinity);
  const cmax = new Float32Array(channels).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const c = i % channels; // both layouts keep the channel (x multiplier) fastest-varying
    if (v < cmin[c]) cmin[c] = v;
    if (v > cmax[c]) cmax[c] = v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const step = (Math.max(hi, 0) - Math.min(lo, 0)) / 255;
  if (!(step > 0)) return false;
  for (let c = 0; c < channels; c++) {
    const span = Math.max(cmax[c], 0) - Math.min(cmin[c], 0);
    if (span > 0 && span / step < MIN_CHANNEL_LEVELS) return true;
  }
  return false;
}

export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * Weight names (last path part) a quantized export keeps float32. Normalization statistics and
 * affine parameters are read straight into y = (x - mean) / sqrt(var + eps) * gamma + beta, where
 * one uint8 step of a moving mean (range / 255) is amplified by gamma / sqrt(var + eps), often > 10:
 * quantizing them took a real MobileNetV2 to 7.8% top-1 agreement. Biases are added unscaled to
 * every output. All of these are one value per channel, so keeping them costs a few KiB at most
 * (TF Lite's converter keeps biases at higher precision, int32, for the same reason).
 */
export const FLOAT32_WEIGHTS: ReadonlySet<string> = new Set(['moving_mean', 'moving_variance', 'gamma', 'beta', 'bias']);

/** True when a quantized export keeps the weight float32 (by its tfjs name, e.g. `bn/moving_mean`). */
export function keepsFloat32(weightName: string): boolean {
  return FLOAT32_WEIGHTS.has(weightName.split('/').pop() ?? weightName);
}

/**
 * Exports a LayersModel as tfjs model-folder content, quantizing float32 weights on request:
 * - `float16`: IEEE binary16 (2 bytes/weight, relative error <= 2^-11).
 * - `uint8` / `uint16`: affine per weight tensor, value = q * scale + min with min nudged so 0.0
 *   is a level (pruned zeros decode to exactly 0); absolute error <= scale / 2 = range / 510
 *   (uint8) or range / 131070 (uint16).
 * int32/bool weights, and BatchNormalization statistics, gammas, betas and biases (FLOAT32_WEIGHTS),
 * are written unquantized: the manifest quantizes per entry. Shards split the concatenated weight bytes at
 * `shardBytes`, like tfjs's own writer.
 *
 * @example
 * const out = await exportTfjs(model, { quant: 'uint8' });
 * const files = tfjsFolderFiles(out); // [{name: 'model.json', bytes}, {name: 'group1-shard1of1.bin', bytes}]
 */
/**
 * A model using what only Topiary registers (hard-swish, Keras 3 hard_sigmoid, keepdims pooling) would
 * write a model.json the stock tfjs loader cannot read: refuse before writing anything.
 */
function refuseNonStockActivations(model: tf.LayersModel): void {
  const flat = hasNestedModels(model) ? flattenModel(model).model : model;
  try {
    for (const layer of flat.layers) {
      const what = usesTopiaryOnlyOption(layer.getConfig());
      if (what) {
        throw new UnsupportedLayerError(
          `layer "${layer.name}" (${layer.getClassName()}) uses ${what} (Keras hard_swish, Keras 3 hard_sigmoid, leaky_relu or keepdims pooling), which the stock tfjs loader does not support; export --format tflite instead`,
        );
      }
    }
  } finally {
    if (flat !== model) flat.dispose();
  }
}

export async function exportTfjs(model: tf.LayersModel, opts: TfjsExportOptions): Promise<TfjsExport> {
  if (!(TFJS_QUANT_MODES as readonly string[]).includes(opts.quant)) {
    throw new ConfigError(`tfjs export quant must be one of ${TFJS_QUANT_MODES.join(', ')}, got "${String(opts.quant)}"`);
  }
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes < 1) {
    throw new ConfigError(`tfjs export shardBytes must be a positive integer, got ${shardBytes}`);
  }

  refuseNonStockActivations(model);

  // Let tfjs serialize topology and weights (names, order, dtypes) exactly as its own saver does,
  // then re-encode the weight bytes ourselves.
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || artifacts.modelTopology == null) throw new Error('tfjs save produced no artifacts');
  const raw = concatWeightData(artifacts.weightData);

  const weights = splitWeights(artifacts.weightSpecs, raw);
  const ruled = new Set<string>();
  if (opts.quant === 'uint8') {
    for (const w of weights) if (w.values && !keepsFloat32(w.spec.name) && needsUint16(w.spec.name, w.spec.shape, w.values)) ruled.add(w.spec.name);
  }
  const write = (plan: (w: RawWeight) => Encoding) => assemble(artifacts!, weights, plan, shardBytes, opts.generatedBy);
  const planFor = (raised: ReadonlySet<string>) => (w: RawWeight): Encoding => {
    if (!w.values || opts.quant === 'none') return 'raw';
    if (keepsFloat32(w.spec.name)) return 'float32';
    if (opts.quant === 'uint8' && (ruled.has(w.spec.name) || raised.has(w.spec.name))) return 'uint16';
    return opts.quant;
  };
  let calibrated: RaiseDecision | undefined;
  if (opts.quant === 'uint8' && opts.calibration) {
    const candidates = weights.filter((w) => planFor(new Set())(w) === 'uint8').map((w) => w.spec.name);
    const measurer = calibrationMeasurer(model, opts.calibration);
    try {
      calibrated = await chooseUint16Raises({
        candidates,
        target: opts.raiseTarget,
        maxRaised: opts.maxRaised,
        onProgress: opts.onProgress,
        cost: (name) => weights.find((w) => w.spec.name === name)?.values?.length ?? 1,
        measure: (p) => measurer('uint8Alone' in p ? write((w) => (w.spec.name === p.uint8Alone ? 'uint8' : w.values ? 'float32' : 'raw')) : write(planFor(p.raised))),
      });
    } finally {
      measurer.dispose();
    }
  }
  const raisedNames = new Set(calibrated?.raised.map((r) => r.name) ?? []);
  const out = write(planFor(raisedNames));
  const uint16Raised = weights.filter((w) => ruled.has(w.spec.name) || raisedNames.has(w.spec.name)).map((w) => w.spec.name);
  const float32Kept = opts.quant === 'none' ? [] : weights.filter((w) => w.values && keepsFloat32(w.spec.name)).map((w) => w.spec.name);
  return { ...out, float32Kept, uint16Raised, ...(calibrated ? { calibrated } : {}) };
}

/** How one weight tensor is written: 'raw' keeps its bytes as saved (non-float dtypes, or quant none). */
type Encoding = 'raw' | 'float32' | 'float16' | 'uint8' | 'uint16';

interface RawWeight {
  spec: tf.io.WeightsManifestEntry;
  bytes: Uint8Array;
  /** float32 weights only. */
  values?: Float32Array;
}

function splitWeights(specs: tf.io.WeightsManifestEntry[], raw: Uint8Array): RawWeight[] {
  const out: RawWeight[] = [];
  let offset = 0;
  for (const spec of specs) {
    if (spec.quantization) throw new Error(`weight ${spec.name} is already quantized`);
    const per = BYTES_PER[spec.dtype];
    if (per === undefined) throw new ConfigError(`tfjs export: weight ${spec.name} has unsupported dtype ${spec.dtype}`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = raw.subarray(offset, offset + size * per);
    offset += size * per;
    // Copy: `bytes` may not be 4-byte aligned inside the concatenated buffer.
    out.push({ spec, bytes, ...(spec.dtype === 'float32' ? { values: new Float32Array(bytes.slice().buffer) } : {}) });
  }
  if (offset !== raw.byteLength) throw new Error(`tfjs save: weight specs cover ${offset} bytes, data has ${raw.byteLength}`);
  return out;
}

/** Encodes every weight per `plan` and lays out model.json and the shards. */
function assemble(
  artifacts: tf.io.ModelArtifacts,
  weights: RawWeight[],
  plan: (w: RawWeight) => Encoding,
  shardBytes: number,
  generatedBy: string | undefined,
): Omit<TfjsExport, 'float32Kept' | 'uint16Raised'> {
  const parts: Uint8Array[] = [];
  const entries: TfjsWeightEntry[] = [];
  for (const w of weights) {
    const entry: TfjsWeightEntry = { name: w.spec.name, shape: [...w.spec.shape], dtype: w.spec.dtype as TfjsWeightEntry['dtype'] };
    const how = plan(w);
    if (how === 'raw' || how === 'float32' || !w.values) {
      parts.push(w.bytes);
    } else if (how === 'float16') {
      parts.push(new Uint8Array(encodeFloat16(w.values).buffer));
      entry.quantization = { dtype: 'float16' };
    } else {
      const p = affineParams(w.values, how);
      const q = quantizeAffine(w.values, p);
      parts.push(new Uint8Array(q.buffer, q.byteOffset, q.byteLength));
      entry.quantization = { dtype: p.dtype, scale: p.scale, min: p.min };
    }
    entries.push(entry);
  }
  const all = concat(parts);
  const shards: Uint8Array[] = [];
  for (let start = 0; start < all.byteLength; start += shardBytes) shards.push(all.slice(start, start + shardBytes));
  if (shards.length === 0) shards.push(new Uint8Array(0)); // a weightless model still gets one (empty) shard
  const paths = shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
  const modelJson: TfjsModelJson = {
    format: 'layers-model',
    generatedBy: generatedBy ?? artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: null,
    modelTopology: artifacts.modelTopology as object,
    weightsManifest: [{ paths, weights: entries }],
  };
  if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
  return { modelJson, shards, weightBytes: all.byteLength };
}

/**
 * Loads candidate exports back with the stock loader and compares them with `model` on the
 * calibration inputs (the float answers computed once).
 */
function calibrationMeasurer(model: tf.LayersModel, calibration: Float32Array) {
  const shape = model.inputs[0].shape.slice(1).map((d) => d ?? 1);
  const per = shape.reduce((a, b) => a * b, 1);
  if (calibration.length === 0 || calibration.length % per !== 0) {
    throw new ConfigError(`tfjs calibration holds ${calibration.length} values, not a whole number of samples of shape [${shape.join(', ')}] (${per} values each)`);
  }
  const n = calibration.length / per;
  const x = tf.tensor(calibration, [n, ...shape], 'float32');
  const ref = tf.tidy(() => (model.predict(x) as tf.Tensor).reshape([n, -1]));
  const refTop = tf.tidy(() => ref.argMax(1).dataSync());
  const measure = async (out: Omit<TfjsExport, 'float32Kept' | 'uint16Raised'>): Promise<RaiseMeasure> => {
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    try {
      const [maxAbsDiff, meanAbsDiff, top] = tf.tidy(() => {
        const y = (back.predict(x) as tf.Tensor).reshape([n, -1]);
        const d = y.sub(ref).abs();
        return [d.max().dataSync()[0], d.mean().dataSync()[0], y.argMax(1).dataSync()];
      }) as unknown as [number, number, Int32Array];
      let agree = 0;
      for (let i = 0; i < n; i++) if (top[i] === refTop[i]) agree++;
      return { top1Agreement: agree / n, maxAbsDiff, meanAbsDiff };
    } finally {
      back.dispose();
    }
  };
  return Object.assign(measure, { dispose: () => { x.dispose(); ref.dispose(); } });
}

/** The files of a tfjs model folder: `model.json` then the shards, ready for the bundle writer. */
export function tfjsFolderFiles(out: TfjsExport): { name: string; bytes: Uint8Array }[] {
  const paths = out.modelJson.weightsManifest[0].paths;
  return [
    { name: 'model.json', bytes: new TextEncoder().encode(JSON.stringify(out.modelJson)) },
    ...out.shards.map((bytes, i) => ({ name: paths[i], bytes })),
  ];
}

/**
 * Raw and gzip sizes of a set of files: what a disk stores and what a web server with gzip sends
 * (fflate level 9, each file compressed on its own as a server would).
 * @example sizeReport(tfjsFolderFiles(out).map((f) => f.bytes)) // {rawBytes: 4321, gzipBytes: 2100}
 */
export function sizeReport(files: Uint8Array[]): { rawBytes: number; gzipBytes: number } {
  let rawBytes = 0;
  let gzipBytes = 0;
  for (const f of files) {
    rawBytes += f.byteLength;
    gzipBytes += gzipSync(f, { level: 9 }).byteLength;
  }
  return { rawBytes, gzipBytes };
}

/**
 * An IOHandler that serves exported content to stock `tf.loadLayersModel`, so an export can be
 * loaded back without touching disk (used for verification).
 * @example const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
 */
export function tfjsMemoryHandler(out: Pick<TfjsExport, 'modelJson' | 'shards'>): tf.io.IOHandler {
  const json = JSON.parse(JSON.stringify(out.modelJson)) as TfjsModelJson;
  const data = concat(out.shards);
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
  });
}

function concatWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (Array.isArray(data)) return concat(data.map((b) => new Uint8Array(b)));
  return new Uint8Array(data as ArrayBuffer);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Pass thresholds per quant mode: the largest output difference and smallest top-1 agreement accepted. */
export const TFJS_VERIFY_TOLERANCE: Record<TfjsQuant, { maxAbsDiff: number; top1Agreement: number }> = {
  none: { maxAbsDiff: 1e-4, top1Agreement: 0.999 },
  float16: { maxAbsDiff: 1e-2, top1Agreement: 0.99 },
  uint16: { maxAbsDiff: 1e-2, top1Agreement: 0.99 },
  uint8: { maxAbsDiff: 0.1, top1Agreement: 0.95 },
};

export interface TfjsVerifyOptions {
  /** Class index per sample of `x`; enables the artifact's own accuracy. */
  labels?: ArrayLike<number>;
  batchSize?: number;
  /** Single-sample predictions timed for latency (after one warm-up). */
  latencySamples?: number;
  /** Override the per-mode thresholds in TFJS_VERIFY_TOLERANCE. */
  tolerance?: { maxAbsDiff: number; top1Agreement: number };
  /** 'regression': judged by error (./verify-regression.ts), not top-1; `labels` are then float targets [n * k]. */
  task?: Task;
}

/**
 * Loads an export back through stock `tf.loadLayersModel` (the runtime a web page would use) and
 * compares it with the in-app model on `x`: max |y_export - y_app|, top-1 agreement, the
 * artifact's own accuracy (with labels) and mean single-sample latency. `passed` applies the
 * thresholds of the export's quant mode; `reason` says which one failed.
 * @example const v = await verifyTfjsExport(model, out, xTest, { labels: yTest }); v.passed
 */
export async function verifyTfjsExport(model: tf.LayersModel, out: TfjsExport, x: tf.Tensor, opts: TfjsVerifyOptions = {}): Promise<Verification> {
  const n = x.shape[0] ?? 0;
  if (n === 0) throw new ConfigError('tfjs verification needs at least one sample');
  const quant = quantOf(out);
  if (opts.task === 'regression') return verifyTfjsRegression(model, out, x, quant, opts);
  if (opts.labels && opts.labels.length !== n) throw new ConfigError(`tfjs verification: ${opts.labels.length} labels for ${n} samples`);
  const tol = opts.tolerance ?? TFJS_VERIFY_TOLERANCE[quant];
  const exported = await tf.loadLayersModel(tfjsMemoryHandler(out));
  try {
    const batch = opts.batchSize ?? 256;
    let maxAbsDiff = 0;
    let agree = 0;
    let correct = 0;
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      const [diff, topA, topB] = tf.tidy(() => {
        const xb = x.slice(start, size);
        const a = model.predict(xb) as tf.Tensor;
        const b = exported.predict(xb) as tf.Tensor;
        const flatA = a.reshape([size, -1]);
        const flatB = b.reshape([size, -1]);
        return [a.sub(b).abs().max().dataSync()[0], flatA.argMax(1).dataSync(), flatB.argMax(1).dataSync()];
      }) as unknown as [number, Int32Array, Int32Array];
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      for (let i = 0; i < size; i++) {
        if (topA[i] === topB[i]) agree++;
        if (opts.labels && topB[i] === opts.labels[start + i]) correct++;
      }
    }
    const latencyMs = timeSingleSample(exported, x, opts.latencySamples ?? 20);
    const top1Agreement = agree / n;
    const problems: string[] = [];
    if (!(maxAbsDiff <= tol.maxAbsDiff)) problems.push(`max |diff| ${maxAbsDiff.toExponential(2)} > ${tol.maxAbsDiff}`);
    if (top1Agreement < tol.top1Agreement) problems.push(`top-1 agreement ${(top1Agreement * 100).toFixed(2)}% < ${(tol.top1Agreement * 100).toFixed(2)}%`);
    return {
      runtime: `tfjs ${tf.version.tfjs} (${tf.getBackend()})`,
      samples: n,
      maxAbsDiff,
      top1Agreement,
      accuracy: opts.labels ? correct / n : null,
      latencyMs,
      passed: problems.length === 0,
      reason: problems.length ? problems.join('; ') : null,
    };
  } finally {
    exported.dispose();
  }
}

/** verifyTfjsExport for a regressor: all outputs of both models, then compareRegression. */
async function verifyTfjsRegression(model: tf.LayersModel, out: TfjsExport, x: tf.Tensor, quant: TfjsQuant, opts: TfjsVerifyOptions): Promise<Verification> {
  const n = x.shape[0] ?? 0;
  const exported = await tf.loadLayersModel(tfjsMemoryHandler(out));
  try {
    const batch = opts.batchSize ?? 256;
    const refs: Float32Array[] = [];
    const gots: Float32Array[] = [];
    for (let start = 0; start < n; start += batch) {
      const size = Math.min(batch, n - start);
      const [a, b] = tf.tidy(() => {
        const xb = x.slice(start, size);
        return [(model.predict(xb) as tf.Tensor).dataSync() as Float32Array, (exported.predict(xb) as tf.Tensor).dataSync() as Float32Array];
      });
      refs.push(a);
      gots.push(b);
    }
    const flat = (parts: Float32Array[]): Float32Array => {
      const all = new Float32Array(parts.reduce((k, p) => k + p.length, 0));
      let at = 0;
      for (const p of parts) {
        all.set(p, at);
        at += p.length;
      }
      return all;
    };
    const ref = flat(refs);
    const targets = opts.labels && opts.labels.length ? opts.labels : undefined;
    if (targets && targets.length !== ref.length) throw new ConfigError(`tfjs verification: ${targets.length} targets for ${ref.length} outputs`);
    const c = compareRegression(ref, flat(gots), targets, quant, n);
    return {
      runtime: `tfjs ${tf.version.tfjs} (${tf.getBackend()})`,
      samples: n,
      maxAbsDiff: c.maxAbsDiff,
      top1Agreement: null,
      accuracy: null,
      task: 'regression',
      meanAbsDiff: c.meanAbsDiff,
      mae: c.mae,
      referenceMae: c.referenceMae,
      scale: c.scale,
      rule: c.rule,
      latencyMs: timeSingleSample(exported, x, opts.latencySamples ?? 20),
      passed: c.passed,
      reason: c.reason,
    };
  } finally {
    exported.dispose();
  }
}

function quantOf(out: TfjsExport): TfjsQuant {
  // A uint8 export may hold some uint16 tensors (see needsUint16): it is still judged as uint8.
  const dtypes = out.modelJson.weightsManifest.flatMap((g) => g.weights).map((w) => w.quantization?.dtype);
  if (dtypes.includes('uint8')) return 'uint8';
  return dtypes.find((d) => d !== undefined) ?? 'none';
}

function timeSingleSample(m: tf.LayersModel, x: tf.Tensor, count: number): number | null {
  const k = Math.min(count, x.shape[0] ?? 0);
  if (k === 0) return null;
  tf.tidy(() => (m.predict(x.slice(0, 1)) as tf.Tensor).dataSync()); // warm-up: kernel setup is not latency
  const t0 = performance.now();
  for (let i = 0; i < k; i++) tf.tidy(() => (m.predict(x.slice(i, 1)) as tf.Tensor).dataSync());
  return (performance.now() - t0) / k;
}

/**
 * What crosses between a run (Node) and the GPU window that trains it: the whole `runPruning` call
 * as data. Poly schedules re-prune during training and structured pruning builds a new model, so the
 * window runs the engine's own runPruning, not just its training loop. Big data (weights, samples)
 * travels as typed arrays: structured clone keeps them between threads, and over HTTP `packParts`
 * frames them as raw bytes after one small JSON header (no number[] JSON for megabytes of floats).
 * Pure: imported by the GPU page (browser) and by the app (Node).
 */
import type * as tf from '@tensorflow/tfjs';
import type { Divergence, EpochRecord } from '../finetune/trainer';
import type { RunPruningResult, TrainingRecord } from '../prune/run';
import type { PruneConfig, PruneProgress, PruningPlan } from '../prune/types';
import type { GpuBackendName } from '../../common/contract/gpu';

/** A LayersModel as tfjs saves it: topology JSON, weight specs, and the weights' bytes. */
export interface WireModel {
  topology: unknown;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weights: Uint8Array;
}

/** The training split, materialized: `y` Int32Array = class labels, Float32Array = `yPer` targets a sample. */
export interface WireTrain {
  x: Float32Array;
  y: Int32Array | Float32Array;
  yPer: number;
  sampleShape: number[];
  name: string;
  source: string;
  classNames: string[];
  targetNames?: string[];
}

export interface GpuPruningRequest {
  model: WireModel;
  train: WireTrain;
  /** Validated (validatePruneConfig) in the run; the window validates it again against the model. */
  config: PruneConfig;
  /** The settings' GPU memory limit (gpuMemoryLimitMiB, in bytes): the window fits its batch under it. */
  gpuMemoryLimitBytes?: number;
}

/** Which GPU trained the weights, as a run records it (summary.training). */
export interface GpuTrainingDevice {
  backend: GpuBackendName;
  adapter?: string;
  software: boolean;
}

/** What RunPruningResult needs, the model as artifacts, and the device that trained it. */
export interface GpuPruningResponse {
  model: WireModel;
  plan: PruningPlan;
  history: EpochRecord[];
  stoppedEarly: boolean;
  structured?: RunPruningResult['structured'];
  training: TrainingRecord[];
  diverged?: Divergence;
  device: GpuTrainingDevice;
}

/**
 * One progress event from the window: runPruning's own, plus each kernel's sparsity at a prune
 * (the run shows it per layer while the model it would read is still the unpruned one in Node).
 */
export type GpuProgress = PruneProgress & { layerSparsity?: Record<string, number> };

/** The GPU peer's wire format is malformed (a truncated body, a header that does not parse). */
export class GpuWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuWireError';
  }
}

/**
 * Frames a JSON header and named byte blobs as one body: u32 (little endian) header length, the
 * header (UTF-8 JSON with `parts: [name, byteLength][]` added), then the blobs back to back.
 * @example unpackParts(packParts({ a: 1 }, { w: new Float32Array([1]) })).blobs.w.byteLength // 4
 */
export function packParts(meta: Record<string, unknown>, blobs: Record<string, ArrayBufferView>): Uint8Array {
  const parts = Object.entries(blobs).map(([name, v]) => [name, v.byteLength] as const);
  const header = new TextEncoder().encode(JSON.stringify({ ...meta, parts }));
  const total = 4 + header.byteLength + parts.reduce((a, [, n]) => a + n, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 4);
  let at = 4 + header.byteLength;
  for (const v of Object.values(blobs)) {
    out.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
    at += v.byteLength;
  }
  return out;
}

/** Reads what packParts wrote; every blob is a fresh copy (aligned, so typed views of it work). */
export function unpackParts(bytes: Uint8Array): { meta: Record<string, unknown>; blobs: Record<string, Uint8Array> } {
  if (bytes.byteLength < 4) throw new GpuWireError(`GPU message: ${bytes.byteLength} bytes, too short for its header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + headerLength > bytes.byteLength) throw new GpuWireError(`GPU message: header of ${headerLength} bytes runs past the body's ${bytes.byteLength}`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength))) as Record<string, unknown>;
  } catch {
    throw new GpuWireError('GPU message: the header is not valid JSON');
  }
  const parts = meta.parts;
  if (!Array.isArray(parts)) throw new GpuWireError('GPU message: the header lists no parts');
  delete meta.parts;
  const blobs: Record<string, Uint8Array> = {};
  let at = 4 + headerLength;
  for (const p of parts as unknown[]) {
    const [name, length] = Array.isArray(p) ? p : [];
    if (typeof name !== 'string' || !Number.isInteger(length) || length < 0) throw new GpuWireError(`GPU message: bad part entry ${JSON.stringify(p)}`);
    if (at + length > bytes.byteLength) throw new GpuWireError(`GPU message: part "${name}" (${length} bytes) runs past the body's end`);
    blobs[name] = bytes.slice(at, at + length);
    at += length;
  }
  if (at !== bytes.byteLength) throw new GpuWireError(`GPU message: ${bytes.byteLength - at} bytes after the last part`);
  return { meta, blobs };
}

const f32 = (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
const i32 = (b: Uint8Array) => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);

function blob(blobs: Record<string, Uint8Array>, name: string): Uint8Array {
  const b = blobs[name];
  if (!b) throw new GpuWireError(`GPU message: no "${name}" part`);
  return b;
}

/** A request as one HTTP body, `jobId` in its header. */
export function encodeRequest(jobId: string, req: GpuPruningRequest): Uint8Array {
  const { model, train, config, gpuMemoryLimitBytes } = req;
  const { x, y, ...trainMeta } = train;
  return packParts(
    { jobId, topology: model.topology, weightSpecs: model.weightSpecs, config, train: { ...trainMeta, yKind: y instanceof Int32Array ? 'int32' : 'float32' }, ...(gpuMemoryLimitBytes ? { gpuMemoryLimitBytes } : {}) },
    { weights: model.weights, x, y },
  );
}

export function decodeRequest(bytes: Uint8Array): { jobId: string; request: GpuPruningRequest } {
  const { meta, blobs } = unpackParts(bytes);
  const train = meta.train as Omit<WireTrain, 'x' | 'y'> & { yKind: 'int32' | 'float32' };
  const { yKind, ...trainMeta } = train;
  const y = blob(blobs, 'y');
  return {
    jobId: String(meta.jobId),
    request: {
      model: { topology: meta.topology, weightSpecs: meta.weightSpecs as tf.io.WeightsManifestEntry[], weights: blob(blobs, 'weights') },
      train: { ...trainMeta, x: f32(blob(blobs, 'x')), y: yKind === 'int32' ? i32(y) : f32(y) },
      config: meta.config as PruneConfig,
      ...(typeof meta.gpuMemoryLimitBytes === 'number' && meta.gpuMemoryLimitBytes > 0 ? { gpuMemoryLimitBytes: meta.gpuMemoryLimitBytes } : {}),
    },
  };
}

export function encodeResponse(res: GpuPruningResponse): Uint8Array {
  const { model, ...rest } = res;
  return packParts({ ...rest, topology: model.topology, weightSpecs: model.weightSpecs }, { weights: model.weights });
}

export function decodeResponse(bytes: Uint8Array): GpuPruningResponse {
  const { meta, blobs } = unpackParts(bytes);
  const { topology, weightSpecs, ...rest } = meta as Record<string, unknown>;
  return { ...(rest as Omit<GpuPruningResponse, 'model'>), model: { topology, weightSpecs: weightSpecs as tf.io.WeightsManifestEntry[], weights: blob(blobs, 'weights') } };
}

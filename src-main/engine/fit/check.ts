/**
 * Fit check: does a model, exported the way a device profile needs it, meet the profile's budgets?
 * Sizes come from really exporting (exportTflite / exportTfjs), never from a formula; the arena is
 * a lifetime-aware estimate over the exported op graph; latency is an estimate from MACs.
 */
import type * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { bytes } from '../../common/format';
import type { ArenaEstimate, ConstraintResult, FitReport, NumericType, Profile, UnsupportedOp } from '../../common/profiles';
import { seededRandom } from '../data';
import { analyzeModel } from '../analyze';
import { exportTfjs, tfjsFolderFiles, type TfjsQuant } from '../export/tfjs';
import { exportTflite, readTflite, tfliteOpsFor, type TfliteQuant } from '../export/tflite';
import { arenaEstimate } from './arena';

/** The exporter's mode for a profile numeric type. @example tfliteQuantFor('float32') // 'none' */
export function tfliteQuantFor(t: NumericType): TfliteQuant {
  return t === 'float32' ? 'none' : t;
}

/** tfjs has no int8 kernels: 8-bit types map to uint8 affine weights (float32 compute). @example tfjsQuantFor('dynamic-int8') // 'uint8' */
export function tfjsQuantFor(t: NumericType): TfjsQuant {
  if (t === 'float32') return 'none';
  if (t === 'float16') return 'float16';
  return 'uint8';
}

/** The file format a profile's runtime loads. @example formatFor(builtinProfile('web-browser')!) // 'tfjs' */
export function formatFor(profile: Profile): 'tflite' | 'tfjs' {
  return profile.runtime === 'tfjs' ? 'tfjs' : 'tflite';
}

/** Bytes per weight of each type, to order candidates from small to large. */
const WEIGHT_BYTES: Record<NumericType, number> = { int8: 1, 'dynamic-int8': 1.01, float16: 2, float32: 4 };

/**
 * The profile's numeric types the export can produce: preferred first, then the rest smallest first.
 * @example numericTypesFor(builtinProfile('mobile-midrange')!) // ['float16', 'int8', 'dynamic-int8', 'float32']
 */
export function numericTypesFor(profile: Profile): NumericType[] {
  const possible = profile.numericTypes.allowed.filter((t) => formatFor(profile) === 'tflite' || t !== 'int8');
  const rest = possible.filter((t) => !profile.numericTypes.preferred.includes(t)).sort((a, b) => WEIGHT_BYTES[a] - WEIGHT_BYTES[b]);
  return [...profile.numericTypes.preferred.filter((t) => possible.includes(t)), ...rest];
}

export interface FitCheckOptions {
  /** Default: the profile's first preferred type. */
  numericType?: NumericType;
  /** Representative inputs (row-major) for int8 calibration; seeded noise when absent (sizes stay exact). */
  calibration?: Float32Array;
  /** Skip computing MACs/params again when the caller has them. */
  analysis?: { macs: number; params: number };
}

export interface FitCheck {
  report: FitReport;
  /** The exported .tflite file (tflite runtimes), for measuring host latency. */
  tflite?: Uint8Array;
  /** The exported tfjs folder content (tfjs runtime). */
  tfjsFiles?: { name: string; bytes: Uint8Array }[];
}

function noiseCalibration(model: tf.LayersModel, samples = 16): Float32Array {
  const per = model.inputs[0].shape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  const rand = seededRandom(3);
  return Float32Array.from({ length: per * samples }, () => rand());
}

function constraint(
  name: ConstraintResult['constraint'],
  value: number | null,
  budget: number,
  unit: ConstraintResult['unit'],
  estimate: boolean,
  detail: string,
): ConstraintResult {
  const margin = value === null ? null : budget - value;
  return {
    constraint: name,
    passed: value !== null && value <= budget,
    value,
    budget,
    margin,
    marginFraction: margin === null || budget === 0 ? null : margin / budget,
    unit,
    estimate,
    detail,
  };
}

const msText = (ms: number): string => (ms >= 0.1 ? ms.toFixed(2) : ms.toPrecision(2));


/** Unsupported ops by layer, from the exported op list. */
function unsupportedFromOps(ops: readonly { layer: string; op: string }[], profile: Profile, classOf: (layer: string) => string): UnsupportedOp[] {
  const supported = new Set(profile.supportedOps);
  const byLayer = new Map<string, Set<string>>();
  for (const o of ops) {
    if (supported.has(o.op)) continue;
    const key = o.layer || '(graph edge)';
    byLayer.set(key, (byLayer.get(key) ?? new Set()).add(o.op));
  }
  return [...byLayer].map(([layer, set]) => ({
    layer,
    className: classOf(layer),
    ops: [...set],
    reason: `${[...set].join(', ')} ${set.size > 1 ? 'are' : 'is'} not in the ${profile.runtime} op set of profile ${profile.id}`,
  }));
}

export interface TfliteFileMeta {
  numericType: NumericType;
  macs: number;
  params: number;
  /** The exporter's op list (execution order, with layer names); read from the file when absent. */
  ops?: readonly { layer: string; op: string }[];
  classOf?: (layer: string) => string;
  notes?: string[];
}

/**
 * Judges an exported .tflite file against a profile: file size vs storage, arena estimate vs RAM,
 * ops vs the runtime's op set, numeric type vs the allowed ones, MACs / referenceMacsPerSecond vs
 * the latency target (an estimate). Used for a fresh export and for a run's artifact on disk.
 * @example checkTfliteFile(fs.readFileSync('model.tflite'), profile, { numericType: 'int8', macs, params }).fits
 */
export function checkTfliteFile(bytes: Uint8Array, profile: Profile, meta: TfliteFileMeta): FitReport {
  const info = readTflite(bytes);
  // Without the exporter's op list, the writer's tensor names (`<layer>` or `<layer>/<part>`) name the layer.
  const ops = meta.ops ?? info.operators.map((o) => ({ layer: info.tensors[o.outputs[0]]?.name.split('/')[0] ?? '', op: o.op }));
  const arena = arenaEstimate(info, profile.runtimeOverhead, ops.map((o) => o.layer));
  const gzipBytes = gzipSync(bytes, { level: 9 }).byteLength;
  const unsupported = unsupportedFromOps(ops, profile, meta.classOf ?? (() => ''));
  return assemble(profile, meta, { sizeBytes: bytes.byteLength, gzipBytes, arena, unsupported, format: 'tflite' });
}

function assemble(
  profile: Profile,
  meta: TfliteFileMeta,
  m: { sizeBytes: number | null; gzipBytes: number | null; arena: ArenaEstimate | null; unsupported: UnsupportedOp[]; format: 'tflite' | 'tfjs' },
): FitReport {
  const notes = [...(meta.notes ?? [])];
  const measured = profile.storageMeasure === 'gzip' ? m.gzipBytes : m.sizeBytes;
  const estimateMs = (1000 * meta.macs) / profile.referenceMacsPerSecond;
  const allowed = profile.numericTypes.allowed.includes(meta.numericType);
  const constraints: ConstraintResult[] = [
    constraint(
      'storage',
      measured,
      profile.storageBytes,
      'bytes',
      false,
      measured === null
        ? 'the model could not be exported for this runtime (see unsupported ops)'
        : `${m.format} ${meta.numericType} file is ${bytes(measured)}${profile.storageMeasure === 'gzip' ? ' gzipped' : ''}; budget ${bytes(profile.storageBytes)}`,
    ),
    constraint(
      'ram',
      m.arena?.totalBytes ?? null,
      profile.ramBytes,
      'bytes',
      true,
      m.arena === null
        ? 'no op graph to estimate the arena from'
        : `arena ~${bytes(m.arena.totalBytes)} (activations ${bytes(m.arena.activationBytes)}${m.arena.peakAt ? ` peak at ${m.arena.peakAt.op} of ${m.arena.peakAt.layer || 'graph edge'}` : ''}, runtime ${bytes(m.arena.overheadBytes)}${m.arena.weightBytes ? `, weights ${bytes(m.arena.weightBytes)}` : ''}); budget ${bytes(profile.ramBytes)}`,
    ),
    constraint(
      'ops',
      m.unsupported.length,
      0,
      'ops',
      false,
      m.unsupported.length === 0 ? `every op is in the ${profile.runtime} op set` : m.unsupported.map((u) => `${u.layer}: ${u.ops.join(', ') || u.reason}`).join('; '),
    ),
    constraint('numeric', allowed ? 0 : 1, 0, 'type', false, allowed ? `${meta.numericType} is allowed` : `${meta.numericType} is not allowed (allowed: ${profile.numericTypes.allowed.join(', ')})`),
    constraint('latency', estimateMs, profile.latencyTargetMs, 'ms', true, `estimate ${msText(estimateMs)} ms = ${meta.macs} MACs / ${profile.referenceMacsPerSecond.toExponential(2)} MAC/s; target ${profile.latencyTargetMs} ms`),
  ];
  return {
    profileId: profile.id,
    profileName: profile.name,
    format: m.format,
    numericType: meta.numericType,
    fits: constraints.every((c) => c.passed),
    constraints,
    unsupportedOps: m.unsupported,
    sizeBytes: m.sizeBytes,
    gzipBytes: m.gzipBytes,
    arena: m.arena,
    params: meta.params,
    macs: meta.macs,
    latency: { estimateMs, hostMs: null, hostRuntime: null },
    notes,
  };
}

/**
 * Checks `model` against `profile` by exporting it in the profile's format and numeric type.
 * Constraints: storage (exported file bytes, or gzip bytes for download budgets), ram (arena
 * estimate, see arenaEstimate; tfjs adds every weight as float32 since tfjs dequantizes on load),
 * ops (per layer), numeric type, latency (MACs / referenceMacsPerSecond, labelled an estimate).
 * @example
 * const { report } = await checkFit(model, builtinProfile('mcu-cortex-m4')!, { calibration });
 * report.constraints.filter((c) => !c.passed)
 */
export async function checkFit(model: tf.LayersModel, profile: Profile, opts: FitCheckOptions = {}): Promise<FitCheck> {
  const numericType = opts.numericType ?? numericTypesFor(profile)[0] ?? profile.numericTypes.preferred[0];
  const { macs, params } = opts.analysis ?? analyzeModel(model, { gzip: false });
  const classOf = (layer: string): string => {
    if (layer === '' || layer.startsWith('(')) return '';
    try {
      return model.getLayer(layer).getClassName();
    } catch {
      return '';
    }
  };
  const notes: string[] = [];
  const meta: TfliteFileMeta = { numericType, macs, params, classOf, notes };

  if (formatFor(profile) === 'tfjs') {
    const supported = new Set(profile.supportedOps);
    const unsupported: UnsupportedOp[] = model.layers
      .filter((l) => !supported.has(l.getClassName()))
      .map((l) => ({ layer: l.name, className: l.getClassName(), ops: [l.getClassName()], reason: `layer class ${l.getClassName()} is not in the tfjs layer set of profile ${profile.id}` }));
    const out = await exportTfjs(model, { quant: tfjsQuantFor(numericType) });
    const files = tfjsFolderFiles(out);
    const sizeBytes = files.reduce((a, f) => a + f.bytes.byteLength, 0);
    const gzipBytes = files.reduce((a, f) => a + gzipSync(f.bytes, { level: 9 }).byteLength, 0);
    const a = analyzeModel(model, { gzip: false });
    const o = profile.runtimeOverhead;
    const overheadBytes = o.baseBytes + o.perTensorBytes * (model.weights.length + model.layers.length) + o.perOpBytes * model.layers.length;
    const arena: ArenaEstimate = {
      activationBytes: a.peakActivationBytes,
      overheadBytes,
      weightBytes: 4 * a.params,
      totalBytes: a.peakActivationBytes + overheadBytes + 4 * a.params,
      peakAt: null,
    };
    if (numericType !== 'float32') notes.push(`tfjs stores ${numericType} as ${tfjsQuantFor(numericType)} weights and computes in float32`);
    return { report: assemble(profile, meta, { sizeBytes, gzipBytes, arena, unsupported, format: 'tfjs' }), tfjsFiles: files };
  }

  const quant = tfliteQuantFor(numericType);
  const sparse = profile.supportedOps.includes('DENSIFY') ? 'auto' : 'never';
  const unlowerable = tfliteOpsFor(model, { quant }).filter((r) => !r.supported);
  if (unlowerable.length > 0) {
    const unsupported = unlowerable.map((r) => ({ layer: r.layer, className: r.className, ops: [], reason: r.reason ?? 'no TFLite lowering' }));
    return { report: assemble(profile, meta, { sizeBytes: null, gzipBytes: null, arena: null, unsupported, format: 'tflite' }) };
  }
  let calibration = opts.calibration;
  if (quant === 'int8' && !calibration) {
    calibration = noiseCalibration(model);
    notes.push('int8 calibrated on seeded noise (no data given): sizes and arena are exact, accuracy is not judged');
  }
  const out = exportTflite(model, { quant, calibration, sparse });
  notes.push(...out.notes);
  return { report: checkTfliteFile(out.bytes, profile, { ...meta, ops: out.ops }), tflite: out.bytes };
}

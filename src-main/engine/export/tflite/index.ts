/**
 * TF Lite export written in TypeScript: a tf.LayersModel becomes .tflite FlatBuffer bytes
 * (schema v3, "TFL3"), optionally quantized or with sparse weights. Pure engine code: no IO.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../../common/errors';
import { observeRanges } from './interpret';
import { SUPPORTED_LAYER_CLASSES, lowerModel } from './lower';
import { finalizeBytes, setInt8Weight, sparsifyDense, sparsifyInt8, toDynamicInt8, toFloat16, toFullInt8, type IoType } from './quantize';
import { writeTflite } from './writer';

export { readTflite, type TfliteInfo, type TfliteTensorInfo } from './reader';
export { countTfliteZeros, type TfliteWeightZeros } from './zeros';
export { toFloat16Bits } from '../quantize';

export type TfliteQuant = 'none' | 'float16' | 'dynamic-int8' | 'int8';
export const TFLITE_QUANT_MODES: readonly TfliteQuant[] = ['none', 'float16', 'dynamic-int8', 'int8'];

export interface TfliteExportOptions {
  quant: TfliteQuant;
  /** Representative input samples, row-major [n, ...inputShape]; required for 'int8'. */
  calibration?: Float32Array;
  /** Model I/O type in 'int8' mode; default float32 (QUANTIZE/DEQUANTIZE at the edges). */
  ioType?: IoType;
  /**
   * CSR weights + DENSIFY for float32 dense layers and 1x1 convs ('auto', the default: when
   * smaller; never; always), and for int8 dense layers (DENSIFY -> RESHAPE, see sparsifyInt8) only
   * with 'always', and then only where smaller: LiteRT runs those on slower builtin kernels.
   */
  sparse?: 'auto' | 'never' | 'always';
  /** Samples per calibration batch (memory bound); default 64. */
  calibrationBatch?: number;
  /**
   * The file's fixed batch dimension; default 1 (what devices run and verification feeds). LiteRT.js
   * cannot resize inputs, so batch-N latency needs a batch-N file (test/bench/modern-nets.ts).
   */
  batch?: number;
}

export interface TfliteExport {
  bytes: Uint8Array;
  /** Every op in execution order with the Keras layer it came from ('' for graph-edge ops). */
  ops: { layer: string; op: string }[];
  tensors: number;
  notes: string[];
}

function validate(opts: TfliteExportOptions): void {
  if (!TFLITE_QUANT_MODES.includes(opts.quant)) {
    throw new ConfigError(`quant must be one of ${TFLITE_QUANT_MODES.join(', ')}, got "${String(opts.quant)}"`);
  }
  if (opts.ioType !== undefined && !['float32', 'int8', 'uint8'].includes(opts.ioType)) {
    throw new ConfigError(`ioType must be float32, int8 or uint8, got "${String(opts.ioType)}"`);
  }
  if (opts.ioType !== undefined && opts.ioType !== 'float32' && opts.quant !== 'int8') {
    throw new ConfigError(`ioType ${opts.ioType} needs quant int8, got quant ${opts.quant}`);
  }
  if (opts.batch !== undefined && !(Number.isInteger(opts.batch) && opts.batch >= 1 && opts.batch <= 65536)) {
    throw new ConfigError(`batch must be a whole number from 1 to 65536, got ${String(opts.batch)}`);
  }
  if (opts.sparse !== undefined && !['auto', 'never', 'always'].includes(opts.sparse)) {
    throw new ConfigError(`sparse must be auto, never or always, got "${String(opts.sparse)}"`);
  }
}

/** Runs the float graph over the calibration samples in batches and collects per-tensor ranges. */
function calibrate(graph: ReturnType<typeof lowerModel>['graph'], calibration: Float32Array, batch: number): Map<number, [number, number]> {
  const inShape = graph.tensors[graph.inputs[0]].shape.slice(1);
  const per = inShape.reduce((a, d) => a * d, 1);
  if (calibration.length === 0 || calibration.length % per !== 0) {
    throw new ConfigError(`calibration holds ${calibration.length} values, not a whole number of samples of shape [${inShape.join(', ')}] (${per} values each)`);
  }
  const n = calibration.length / per;
  const ranges = new Map<number, [number, number]>();
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const x = tf.tensor(calibration.subarray(s * per, (s + m) * per), [m, ...inShape], 'float32');
    try {
      observeRanges(graph, [x], ranges);
    } finally {
      x.dispose();
    }
  }
  return ranges;
}

/**
 * Exports a Keras-style model to TFLite bytes.
 *
 * Modes: 'none' float32; 'float16' FLOAT16 weights + DEQUANTIZE; 'dynamic-int8' int8 per-channel
 * weights with float activations (hybrid kernels); 'int8' full-integer per the TFLite quantization
 * spec, activations calibrated as min/max over `calibration` (Jacob et al. 2018, "Quantization and
 * Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference").
 *
 * @example
 * const { bytes, ops } = exportTflite(model, { quant: 'int8', calibration: xTrain.subarray(0, 100 * 784) });
 */
export function exportTflite(model: tf.LayersModel, opts: TfliteExportOptions): TfliteExport {
  validate(opts);
  const { graph } = lowerModel(model, { batch: opts.batch ?? 1 });
  const sparse = opts.sparse ?? 'auto';
  switch (opts.quant) {
    case 'none':
      if (sparse !== 'never') sparsifyDense(graph, sparse);
      break;
    case 'float16':
      toFloat16(graph);
      break;
    case 'dynamic-int8':
      toDynamicInt8(graph);
      break;
    case 'int8': {
      if (!opts.calibration) throw new ConfigError('quant int8 needs calibration samples (representative inputs)');
      if (graph.inputs.length !== 1) throw new ConfigError(`quant int8 supports single-input models; this one has ${graph.inputs.length} inputs`);
      const ranges = calibrate(graph, opts.calibration, opts.calibrationBatch ?? 64);
      toFullInt8(graph, ranges, opts.ioType ?? 'float32');
      // Opt-in: sparse int8 weights make the file smaller but LiteRT then runs those layers on its
      // builtin kernels (~3x the dense int8 latency at batch 1), so 'auto' keeps int8 weights dense.
      if (sparse === 'always') sparsifyInt8(graph, 'auto');
      if (opts.ioType === 'int8') graph.notes.push('int8 model I/O: LiteRT.js cannot feed int8 tensors, so this file cannot be verified in-app');
      break;
    }
  }
  if (opts.quant !== 'none' && opts.quant !== 'int8' && sparse === 'always') graph.notes.push(`sparse weights apply to float32 and int8 exports only; ignored for ${opts.quant}`);
  finalizeBytes(graph);
  const { bytes, tensors } = writeTflite(graph);
  return { bytes, ops: graph.ops.map((o) => ({ layer: o.layer, op: o.op })), tensors, notes: graph.notes };
}

export interface TfliteLayerOps {
  layer: string;
  className: string;
  ops: string[];
  supported: boolean;
  reason?: string;
}

/**
 * Which TFLite builtin ops each layer needs, without serializing anything (device profiles check
 * these against the ops their runtime supports). Mode-specific ops are included: DEQUANTIZE for
 * float16 weights, QUANTIZE/DEQUANTIZE at the edges for int8, DENSIFY (+ RESHAPE for int8) for sparse weights (same
 * `sparse` default as exportTflite: 'auto').
 * @example tfliteOpsFor(model).filter((l) => !l.supported)
 */
export function tfliteOpsFor(model: tf.LayersModel, opts: Partial<TfliteExportOptions> = {}): TfliteLayerOps[] {
  const { graph, unsupported } = lowerModel(model, { tolerant: true });
  const quant = opts.quant ?? 'none';
  if (quant === 'float16') toFloat16(graph);
  const sparse = opts.sparse ?? 'auto';
  if (quant === 'none' && unsupported.length === 0 && sparse !== 'never') sparsifyDense(graph, sparse);
  if (quant === 'int8' && unsupported.length === 0 && sparse === 'always') {
    // Whether int8 dense weights go sparse depends on their int8 zeros only (not on calibration).
    for (const op of graph.ops) {
      const w = op.op === 'FULLY_CONNECTED' ? graph.tensors[op.inputs[1]] : undefined;
      if (w?.value && w.dtype === 'float32') setInt8Weight(w);
    }
    sparsifyInt8(graph, 'auto');
  }
  const byLayer = new Map<string, string[]>();
  for (const op of graph.ops) byLayer.set(op.layer, [...(byLayer.get(op.layer) ?? []), op.op]);
  const rows: TfliteLayerOps[] = [];
  for (const layer of model.layers) {
    const className = layer.getClassName();
    const bad = unsupported.find((u) => u.layer === layer.name);
    if (bad) {
      rows.push({ layer: layer.name, className, ops: [], supported: false, reason: bad.reason });
      continue;
    }
    rows.push({ layer: layer.name, className, ops: [...new Set(byLayer.get(layer.name) ?? [])], supported: true });
  }
  if (quant === 'int8' && opts.ioType !== 'int8') {
    rows.unshift({ layer: '(input)', className: 'Quantize', ops: ['QUANTIZE'], supported: true });
    rows.push({ layer: '(output)', className: 'Dequantize', ops: [opts.ioType === 'uint8' ? 'QUANTIZE' : 'DEQUANTIZE'], supported: true });
  }
  return rows;
}

/** Keras layer classes the exporter can lower. */
export const TFLITE_LAYER_CLASSES: readonly string[] = SUPPORTED_LAYER_CLASSES;


/**
 * Numeric-mode passes over a float32 IrGraph. Each pass decides how every constant is stored and
 * sets its `bytes`; `finalizeFloat32` then serializes whatever is still float32.
 *
 * Quantization follows the TFLite int8 spec (https://ai.google.dev/edge/litert/models/quantization_spec):
 * real = scale * (q - zero_point); weights int8 symmetric per output channel (zero point 0);
 * bias int32 with scale = input_scale * weight_scale[c]; activations int8 per tensor, asymmetric.
 */
import type { IrGraph, IrOp, IrTensor, QuantParams } from './ir';
import { toFloat16Bits } from '../quantize';

const WEIGHT_OPS = new Set(['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'TRANSPOSE_CONV']);
/** Where a weight op keeps its data input, weights and bias (TRANSPOSE_CONV leads with its output shape). */
const WEIGHT_SLOTS: Record<string, { input: number; weight: number; bias: number }> = {
  TRANSPOSE_CONV: { input: 2, weight: 1, bias: 3 },
};
const DEFAULT_SLOTS = { input: 0, weight: 1, bias: 2 };

export function f32Bytes(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}

export function i32Bytes(v: Int32Array): Uint8Array {
  return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
}


/** Serializes remaining float32/int32 constants as little-endian bytes. */
export function finalizeBytes(g: IrGraph): void {
  for (const t of g.tensors) {
    if (t.bytes) continue;
    if (t.value && t.dtype === 'float32') t.bytes = f32Bytes(t.value);
    else if (t.intValue && t.dtype === 'int32') t.bytes = i32Bytes(t.intValue);
  }
}

/** Inserts `op` right before the first op that reads `firstReaderOf`, so it runs before its consumer. */
function insertBefore(g: IrGraph, op: IrOp, firstReaderOf: number): void {
  const at = g.ops.findIndex((o) => o.inputs.includes(firstReaderOf));
  g.ops.splice(at < 0 ? g.ops.length : at, 0, op);
}

function replaceInput(g: IrGraph, from: number, to: number, except?: IrOp): void {
  for (const o of g.ops) if (o !== except) o.inputs = o.inputs.map((i) => (i === from ? to : i));
}

/**
 * float16 weights: each float constant becomes a FLOAT16 tensor read through DEQUANTIZE, so the
 * file halves while the runtime still computes in float32.
 */
export function toFloat16(g: IrGraph): void {
  const n = g.tensors.length;
  for (let i = 0; i < n; i++) {
    const t = g.tensors[i];
    if (!t.value || t.dtype !== 'float32') continue;
    const bits = new Uint16Array(t.value.length);
    for (let k = 0; k < bits.length; k++) bits[k] = toFloat16Bits(t.value[k]);
    const dense = g.activation(`${t.name}/dequantized`, t.shape);
    t.dtype = 'float16';
    t.bytes = new Uint8Array(bits.buffer);
    t.name = `${t.name}/float16`;
    replaceInput(g, i, dense);
    const readerLayer = g.ops.find((o) => o.inputs.includes(dense))?.layer ?? '';
    insertBefore(g, { op: 'DEQUANTIZE', inputs: [i], outputs: [dense], options: { kind: 'none' }, layer: readerLayer }, dense);
  }
}

/** Per-channel symmetric int8: scale_c = max|w_c| / 127 (never 0: XNNPACK rejects zero scales). */
export function quantizePerChannel(t: IrTensor): { q: Int8Array; scales: number[] } {
  const v = t.value as Float32Array;
  const axis = t.channelAxis ?? 0;
  const channels = t.shape[axis];
  const inner = t.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < v.length; i++) {
    const c = Math.floor(i / inner) % channels;
    maxAbs[c] = Math.max(maxAbs[c], Math.abs(v[i]));
  }
  const scales = Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1 / 127));
  const q = new Int8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = Math.floor(i / inner) % channels;
    q[i] = Math.max(-127, Math.min(127, Math.round(v[i] / scales[c])));
  }
  return { q, scales };
}

/** Stores a float weight as per-channel symmetric int8 (bytes, scales); returns the scales. */
export function setInt8Weight(t: IrTensor): number[] {
  const { q, scales } = quantizePerChannel(t);
  t.dtype = 'int8';
  t.bytes = new Uint8Array(q.buffer);
  t.quant = { scale: scales, zeroPoint: scales.map(() => 0), dim: t.channelAxis ?? 0 };
  return scales;
}

/**
 * Dynamic-range int8: conv/dense weights int8 per channel, everything else float. The runtime's
 * hybrid kernels quantize activations on the fly.
 */
export function toDynamicInt8(g: IrGraph): void {
  for (const op of g.ops) {
    // TF Lite has no hybrid (float activations, int8 weights) TRANSPOSE_CONV kernel.
    if (!WEIGHT_OPS.has(op.op) || op.op === 'TRANSPOSE_CONV') continue;
    const w = g.tensors[op.inputs[1]];
    if (w.value && w.dtype === 'float32') setInt8Weight(w);
  }
}

/** Affine int8 parameters for [min, max], widened to include 0 so that 0.0 is exact (padding, ReLU). */
export function affineParams(min: number, max: number, qmin = -128, qmax = 127): QuantParams {
  const lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  const scale = (hi - lo) / (qmax - qmin);
  const zp = Math.max(qmin, Math.min(qmax, Math.round(qmin - lo / scale)));
  return { scale: [scale], zeroPoint: [zp], dim: 0 };
}

function sameParams(a: QuantParams, b: QuantParams): boolean {
  return a.scale[0] === b.scale[0] && a.zeroPoint[0] === b.zeroPoint[0];
}

function quantizeConstPerTensor(t: IrTensor): void {
  const v = t.value as Float32Array;
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of v) {
    lo = Math.min(lo, x);
    hi = Math.max(hi, x);
  }
  const p = affineParams(lo, hi);
  const q = new Int8Array(v.length);
  for (let i = 0; i < v.length; i++) q[i] = Math.max(-128, Math.min(127, Math.round(v[i] / p.scale[0]) + p.zeroPoint[0]));
  t.dtype = 'int8';
  t.quant = p;
  t.bytes = new Uint8Array(q.buffer);
}

export type IoType = 'float32' | 'int8' | 'uint8';

/**
 * Full-integer int8. `ranges` holds the calibrated [min, max] of every activation tensor of the float
 * graph. Kernel constraints respected here: SOFTMAX/LOGISTIC output 1/256 zp -128, TANH 1/128 zp 0;
 * MAX/AVERAGE_POOL, RESHAPE and PAD keep their input's parameters; CONCATENATION inputs and output
 * share parameters (inputs that differ are requantized with an int8->int8 QUANTIZE).
 */
export function toFullInt8(g: IrGraph, ranges: Map<number, [number, number]>, ioType: IoType): void {
  const params = new Map<number, QuantParams>();
  const fromRange = (i: number): QuantParams => {
    const r = ranges.get(i);
    if (!r) throw new Error(`no calibration range for tensor "${g.tensors[i].name}"`);
    return affineParams(r[0], r[1]);
  };
  for (const i of g.inputs) params.set(i, fromRange(i));

  for (const op of [...g.ops]) {
    const out = op.outputs[0];
    const inP = params.get(op.inputs[0]);
    switch (op.op) {
      case 'SOFTMAX':
      case 'LOGISTIC':
        params.set(out, { scale: [1 / 256], zeroPoint: [-128], dim: 0 });
        break;
      case 'TANH':
        params.set(out, { scale: [1 / 128], zeroPoint: [0], dim: 0 });
        break;
      case 'MAX_POOL_2D':
      case 'AVERAGE_POOL_2D':
      case 'RESHAPE':
      case 'PAD':
      // Kernels that move or pick values without arithmetic require the input's parameters.
      case 'REDUCE_MAX':
      case 'TRANSPOSE':
      case 'RESIZE_NEAREST_NEIGHBOR':
        params.set(out, inP ?? fromRange(out));
        break;
      case 'CONCATENATION': {
        let lo = Infinity;
        let hi = -Infinity;
        for (const i of op.inputs) {
          const p = params.get(i) as QuantParams;
          lo = Math.min(lo, p.scale[0] * (-128 - p.zeroPoint[0]));
          hi = Math.max(hi, p.scale[0] * (127 - p.zeroPoint[0]));
        }
        const shared = affineParams(lo, hi);
        params.set(out, shared);
        op.inputs = op.inputs.map((i) => {
          if (sameParams(params.get(i) as QuantParams, shared)) return i;
          const r = g.activation(`${g.tensors[i].name}/requantized`, g.tensors[i].shape);
          params.set(r, shared);
          g.ops.splice(g.ops.indexOf(op), 0, { op: 'QUANTIZE', inputs: [i], outputs: [r], options: { kind: 'none' }, layer: op.layer });
          return r;
        });
        break;
      }
      default:
        params.set(out, fromRange(out));
    }
    if (WEIGHT_OPS.has(op.op)) {
      const slots = WEIGHT_SLOTS[op.op] ?? DEFAULT_SLOTS;
      const inScale = (params.get(op.inputs[slots.input]) as QuantParams).scale[0];
      const w = g.tensors[op.inputs[slots.weight]];
      const scales = setInt8Weight(w);
      const b = g.tensors[op.inputs[slots.bias]];
      const bv = b.value as Float32Array;
      const q = new Int32Array(bv.length);
      const bScales = scales.map((s) => s * inScale);
      for (let c = 0; c < bv.length; c++) q[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(bv[c] / bScales[c])));
      b.dtype = 'int32';
      b.intValue = q;
      b.bytes = new Uint8Array(q.buffer);
      b.quant = { scale: bScales, zeroPoint: bScales.map(() => 0), dim: 0 };
    } else if (op.op === 'MUL' || op.op === 'ADD' || op.op === 'SUB' || op.op === 'PRELU') {
      for (const i of op.inputs) if (g.tensors[i].value) quantizeConstPerTensor(g.tensors[i]);
    }
  }

  for (const [i, p] of params) {
    const t = g.tensors[i];
    t.dtype = 'int8';
    t.quant = p;
  }

  // Graph edges: LiteRT.js only feeds float32/int32/uint8 tensors, so float I/O is the default.
  if (ioType === 'int8') return;
  // The float32 (or uint8, zero point shifted by 128) tensor the outside world sees at an edge.
  const edgeFor = (i: number): number => {
    const t = g.tensors[i];
    const p = t.quant as QuantParams;
    return ioType === 'float32'
      ? g.activation(`${t.name}/float`, t.shape)
      : g.addTensor({ name: `${t.name}/uint8`, shape: [...t.shape], dtype: 'uint8', quant: { ...p, zeroPoint: [p.zeroPoint[0] + 128] } });
  };
  g.inputs = g.inputs.map((i) => {
    const edge = edgeFor(i);
    g.ops.unshift({ op: 'QUANTIZE', inputs: [edge], outputs: [i], options: { kind: 'none' }, layer: '' });
    return edge;
  });
  g.outputs = g.outputs.map((i) => {
    const edge = edgeFor(i);
    g.ops.push({ op: ioType === 'float32' ? 'DEQUANTIZE' : 'QUANTIZE', inputs: [i], outputs: [edge], options: { kind: 'none' }, layer: '' });
    return edge;
  });
}

/** Bytes a CSR encoding of a [rows, cols] matrix with `nnz` non-zeros takes (values + indices). */
function csrBytes(rows: number, cols: number, nnz: number): number {
  const idx = (max: number): number => (max < 256 ? 1 : max < 65536 ? 2 : 4);
  return nnz * 4 + (rows + 1) * idx(nnz) + nnz * idx(cols - 1) + 256;
}

/** A 1x1 CONV_2D filter ([out, 1, 1, in]): the kernels XNNPACK's sparse inference runs sparse. */
function isPointwiseFilter(shape: number[]): boolean {
  return shape.length === 4 && shape[1] === 1 && shape[2] === 1;
}

/**
 * CSR-encodes float32 FULLY_CONNECTED weights and 1x1 CONV_2D filters (rows = output channels)
 * and reads them through DENSIFY (fed straight into FULLY_CONNECTED, LiteRT gave wrong results).
 * 'auto' only when the encoding is smaller. Sparse-stored weights are also what makes the TFLite
 * XNNPACK delegate ask XNNPACK for sparse inference (see sparse-check.ts).
 */
export function sparsifyDense(g: IrGraph, mode: 'auto' | 'always'): number {
  let count = 0;
  for (const op of [...g.ops]) {
    if (op.op !== 'FULLY_CONNECTED' && op.op !== 'CONV_2D') continue;
    const wi = op.inputs[1];
    const w = g.tensors[wi];
    if (!w.value || w.dtype !== 'float32' || w.bytes) continue;
    if (op.op === 'CONV_2D' && !isPointwiseFilter(w.shape)) continue;
    const rows = w.shape[0];
    const cols = w.shape[w.shape.length - 1];
    const v = w.value;
    const nnz = nonZeros(v);
    if (mode === 'auto' && csrBytes(rows, cols, nnz) >= v.length * 4) continue;
    const { segments, indices, values } = csr(v, rows, cols, nnz, new Float32Array(nnz));
    w.sparse = { rows, segments, indices };
    w.bytes = f32Bytes(values);
    const dense = g.activation(`${w.name}/densified`, w.shape);
    op.inputs[1] = dense;
    g.ops.splice(g.ops.indexOf(op), 0, { op: 'DENSIFY', inputs: [wi], outputs: [dense], options: { kind: 'none' }, layer: op.layer });
    g.notes.push(`${op.layer}: weights stored sparse (CSR, ${nnz}/${v.length} non-zeros)`);
    count++;
  }
  return count;
}

function nonZeros(v: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) n++;
  return n;
}

/**
 * A row-major [rows, cols] matrix in CSR (TF Lite's sparsity format with a dense row dimension and a
 * sparse column one): row start offsets, column indices, and the non-zero values written into `values`.
 */
function csr<T extends Float32Array | Int8Array>(v: ArrayLike<number>, rows: number, cols: number, nnz: number, values: T): { segments: Int32Array; indices: Int32Array; values: T } {
  const segments = new Int32Array(rows + 1);
  const indices = new Int32Array(nnz);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = v[r * cols + c];
      if (x !== 0) {
        indices[k] = c;
        values[k++] = x;
      }
    }
    segments[r + 1] = k;
  }
  return { segments, indices, values };
}

/**
 * CSR-encodes int8 FULLY_CONNECTED weights (after toFullInt8 gave them bytes and per-channel
 * scales) as DENSIFY -> RESHAPE -> FULLY_CONNECTED; 'auto' only when the encoding is smaller.
 * Why the RESHAPE: fed from DENSIFY directly, LiteRT's XNNPACK delegate claims the int8
 * FULLY_CONNECTED, cannot unpack an int8 DENSIFY, and fails to prepare ("failed to delegate
 * FULLY_CONNECTED node", "Failed to allocate tensors") while run() still returns wrong numbers. A
 * RESHAPE to the same shape makes the filter a computed tensor, so the builtin kernels run that
 * FULLY_CONNECTED (checked in LiteRT: outputs identical to the dense int8 file). The DENSIFY output
 * carries no quantization (RESHAPE does not read it; saves 12 bytes per channel); the RESHAPE
 * output carries the weight's per-channel scales, which FULLY_CONNECTED reads.
 * @returns how many weights were stored sparse
 */
export function sparsifyInt8(g: IrGraph, mode: 'auto' | 'always'): number {
  let count = 0;
  for (const op of [...g.ops]) {
    if (op.op !== 'FULLY_CONNECTED') continue;
    const wi = op.inputs[1];
    const w = g.tensors[wi];
    if (w.dtype !== 'int8' || !w.bytes || w.sparse || !w.quant) continue;
    const v = new Int8Array(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength);
    const rows = w.shape[0];
    const cols = w.shape[w.shape.length - 1];
    const nnz = nonZeros(v);
    // Values, indices, and the RESHAPE's shape constant + two tensors and two ops (~300 bytes).
    const idx = (max: number): number => (max < 256 ? 1 : max < 65536 ? 2 : 4);
    if (mode === 'auto' && nnz + (rows + 1) * idx(nnz) + nnz * idx(cols - 1) + 300 >= v.length) continue;
    const { segments, indices, values } = csr(v, rows, cols, nnz, new Int8Array(nnz));
    w.sparse = { rows, segments, indices };
    w.bytes = new Uint8Array(values.buffer);
    const densified = g.activation(`${w.name}/densified`, w.shape, 'int8');
    const filter = g.addTensor({ name: `${w.name}/filter`, shape: [...w.shape], dtype: 'int8', quant: w.quant });
    const shape = g.constInt(`${w.name}/filter_shape`, [w.shape.length], Int32Array.from(w.shape));
    op.inputs[1] = filter;
    const at = g.ops.indexOf(op);
    g.ops.splice(
      at,
      0,
      { op: 'DENSIFY', inputs: [wi], outputs: [densified], options: { kind: 'none' }, layer: op.layer },
      { op: 'RESHAPE', inputs: [densified, shape], outputs: [filter], options: { kind: 'reshape', newShape: [...w.shape] }, layer: op.layer },
    );
    g.notes.push(`${op.layer}: int8 weights stored sparse (CSR, ${nnz}/${v.length} non-zeros)`);
    count++;
  }
  if (count > 0) {
    g.notes.push(
      `${count} int8 dense layers stored sparse for size: LiteRT runs them with its builtin kernels, not XNNPACK ` +
        '(LeNet-5 batch 1: ~3x the dense int8 latency, test/bench/int8-sparse-layout.ts); sparse: never keeps them dense and fast',
    );
  }
  return count;
}

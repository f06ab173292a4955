/**
 * Zeros a .tflite file keeps in its weights, read back from the file itself (not from the model
 * that wrote it): the proof that pruning survived export and quantization.
 */
import { readTflite } from './reader';

export interface TfliteWeightZeros {
  /** Weight elements of every conv / depthwise / dense / transpose-conv filter, dense-shape count. */
  weights: number;
  /** Of those, zero: stored zeros plus the ones a sparse (CSR) tensor leaves out. */
  zeros: number;
  /** Elements held by sparse tensors that the file does not store at all. */
  implicitZeros: number;
  /** Filters stored sparse (CSR + DENSIFY). */
  sparseTensors: number;
}

const FILTER_SLOT: Record<string, number> = { CONV_2D: 1, DEPTHWISE_CONV_2D: 1, FULLY_CONNECTED: 1, TRANSPOSE_CONV: 1 };
/** Ops between a stored filter and the op that reads it (sparse, float16 and int8-sparse layouts). */
const PASS_THROUGH = new Set(['DENSIFY', 'DEQUANTIZE', 'RESHAPE']);
const BYTES: Record<string, number> = { float32: 4, float16: 2, int8: 1, uint8: 1, int32: 4 };

/** Is the element at byte `i` of a buffer of `dtype` a zero (float16: either signed zero)? */
function isZero(view: DataView, i: number, dtype: string): boolean {
  switch (dtype) {
    case 'float32':
      return view.getFloat32(i, true) === 0;
    case 'float16':
      return (view.getUint16(i, true) & 0x7fff) === 0;
    case 'int32':
      return view.getInt32(i, true) === 0;
    default:
      return view.getUint8(i) === 0;
  }
}

/**
 * Counts the zeros of every weight filter in a .tflite file, following DENSIFY / DEQUANTIZE /
 * RESHAPE back to the stored constant. Symmetric int8 (zero point 0) stores real 0 as byte 0.
 * @example const { zeros, weights } = countTfliteZeros(bytes); console.log(zeros / weights)
 */
export function countTfliteZeros(bytes: Uint8Array, file?: string): TfliteWeightZeros {
  const info = readTflite(bytes, file);
  const producer = new Map<number, (typeof info.operators)[number]>();
  for (const op of info.operators) for (const o of op.outputs) producer.set(o, op);
  const seen = new Set<number>();
  const out: TfliteWeightZeros = { weights: 0, zeros: 0, implicitZeros: 0, sparseTensors: 0 };
  for (const op of info.operators) {
    const slot = FILTER_SLOT[op.op];
    if (slot === undefined) continue;
    let t = op.inputs[slot];
    for (let p = producer.get(t); p && PASS_THROUGH.has(p.op); p = producer.get(t)) t = p.inputs[0];
    if (t < 0 || seen.has(t)) continue;
    seen.add(t);
    const tensor = info.tensors[t];
    const buf = info.buffers[tensor.buffer];
    const size = BYTES[tensor.dtype];
    if (!buf || buf.offset < 0 || size === undefined) continue;
    const dense = tensor.shape.reduce((a, d) => a * d, 1);
    const stored = Math.floor(buf.length / size);
    const view = new DataView(bytes.buffer, bytes.byteOffset + buf.offset, buf.length);
    let zeros = 0;
    for (let i = 0; i < stored; i++) if (isZero(view, i * size, tensor.dtype)) zeros++;
    const implicit = tensor.sparse ? Math.max(0, dense - stored) : 0;
    out.weights += dense;
    out.zeros += zeros + implicit;
    out.implicitZeros += implicit;
    if (tensor.sparse) out.sparseTensors++;
  }
  return out;
}

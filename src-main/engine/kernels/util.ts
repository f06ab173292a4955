/**
 * Helpers for kernels written in terms of other tfjs ops. A kernelFunc receives bare TensorInfos;
 * wrapping them as Tensors lets us call ops (which run on the active backend, here wasm). A kernel
 * may return a Tensor made by those ops: the engine adopts any output that is already a Tensor.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * A Tensor view of the kernel input `name`; dispose it (or create it inside tf.tidy) when done.
 * @example const x = asTensor<tf.Rank.R4>(inputs, 'x', 'Conv2DBackpropFilter')
 */
export function asTensor<R extends tf.Rank = tf.Rank>(
  inputs: tf.NamedTensorInfoMap,
  name: string,
  kernelName: string,
): tf.Tensor<R> {
  const info = inputs[name];
  if (info === undefined) throw new Error(`${kernelName}: missing input "${name}"`);
  // The engine does not count this second Tensor as a reference to the data; without incRef,
  // disposing the view would free the caller's input (a gradient's saved activation).
  const engine = tf.engine();
  engine.backend.incRef(info.dataId);
  return engine.makeTensorFromTensorInfo(info) as tf.Tensor<R>;
}

/** The parts of BackendWasm that kernels working on its heap use (public members in 4.22). */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/**
 * The kernel's backend as a WasmHeap, or undefined for backends without one (cpu, tensorflow).
 * Views from typedArrayFromHeap are valid until the next allocation (which may grow the memory).
 */
export function wasmHeapOf(backend: unknown): WasmHeap | undefined {
  const b = backend as Partial<WasmHeap> | undefined;
  return typeof b?.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function' ? (b as WasmHeap) : undefined;
}

/** [h, w] form of a stride/dilation/size attribute: a number, [n] or [h, w] (tfjs accepts each). */
export function pair(v: number | readonly number[] | undefined, fallback = 1): [number, number] {
  if (v === undefined) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  return [v[0], v[1] ?? v[0]];
}

/**
 * Pads (positive amounts) or crops (negative amounts) each axis: `amounts[axis] = [before, after]`.
 * Transposed convolutions need both: the implicit padding of the forward conv can exceed what the
 * gradient's correlation needs, and stride leftovers leave rows the forward pass never read.
 */
export function padOrCrop<T extends tf.Tensor>(x: T, amounts: [number, number][], constant = 0): T {
  const needsCrop = amounts.some(([b, a]) => b < 0 || a < 0);
  const needsPad = amounts.some(([b, a]) => b > 0 || a > 0);
  let out: tf.Tensor = x;
  if (needsCrop) {
    const begin = amounts.map(([b]) => Math.max(0, -b));
    const size = amounts.map(([b, a], axis) => x.shape[axis] - Math.max(0, -b) - Math.max(0, -a));
    out = tf.slice(out, begin, size);
  }
  if (needsPad) {
    const padded = tf.pad(out, amounts.map(([b, a]) => [Math.max(0, b), Math.max(0, a)] as [number, number]), constant);
    if (out !== x) out.dispose();
    out = padded;
  }
  return out as T;
}

/** NCHW -> NHWC for the rare kernels called with dataFormat NCHW (tfjs layers always use NHWC). */
export function toChannelsLast(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [0, 2, 3, 1]);
}

/** NHWC -> NCHW, the inverse of toChannelsLast. */
export function toChannelsFirst(x: tf.Tensor4D): tf.Tensor4D {
  return tf.transpose(x, [0, 3, 1, 2]);
}


/**
 * Inserts s-1 zeros after each row/column of an NHWC tensor (trailing zeros included), the
 * "fractional stride" of a transposed convolution.
 */
export function spreadByStride(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, oh, ow, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [n, oh, 1, ow, 1, c]), [
    [0, 0],
    [0, 0],
    [0, sh - 1],
    [0, 0],
    [0, sw - 1],
    [0, 0],
  ]);
  return tf.reshape(spread, [n, oh * sh, ow * sw, c]);
}

/**
 * Pads/crops a stride-spread gradient so that a stride-1 'valid' correlation with the flipped
 * kernel yields exactly the forward input's rows: out[h] = Σ_i spread[h + pt - i·d]·w[i].
 */
export function padForTransposedConv(spread: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { inHeight: h, inWidth: w, padInfo, effectiveFilterHeight: eh, effectiveFilterWidth: ew } = info;
  const top = eh - 1 - padInfo.top;
  const left = ew - 1 - padInfo.left;
  return padOrCrop(spread, [
    [0, 0],
    [top, h + eh - 1 - top - spread.shape[1]],
    [left, w + ew - 1 - left - spread.shape[2]],
    [0, 0],
  ]);
}

/**
 * BatchMatMul / _FusedMatMul for wasm that keep transposed products on XNNPACK.
 *
 * tfjs-backend-wasm 4.22 sends a matMul to XNNPACK's fully-connected operator only when neither
 * operand is transposed and there is one batch; everything else runs a scalar triple loop at
 * ~2 GFLOP/s. Training a Dense layer needs exactly those cases (dW = xᵀ·dy, dx = dy·Wᵀ), so we
 * materialize the transpose (one cheap pass over the operand) and call the original kernel with
 * transposeA = transposeB = false, which XNNPACK runs at 15–30 GFLOP/s on the same machine.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor } from './util';

const batchOf = (info: tf.TensorInfo): number => info.shape.slice(0, -2).reduce((a, b) => a * b, 1);

function swapLastTwo(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/**
 * XNNPACK's fully-connected operator packs B (the "weights") when it is created, and tfjs caches
 * the operator per B tensor. In training B is a freshly updated weight every step, so the packing
 * is paid every call: for LeNet-300-100's 64x784 · 784x300 it takes the product from ~1.0 ms
 * (cached) to ~1.8-2.3 ms. When B is much larger than A, A·B = (Bᵀ·Aᵀ)ᵀ packs the small operand
 * instead (1.3-1.6 ms with the transposes; LeNet-300-100 training 1.04-1.15x). A B seen before
 * takes the direct path, whose operator tfjs then caches: inference with fixed weights pays the
 * packing once, as before.
 */
const SWAP_MIN_B = 65536;
const SWAP_MIN_RATIO = 4;
const seenB = new WeakSet<object>();

function shouldSwap(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  const aSize = a.shape.reduce((x, y) => x * y, 1);
  const bSize = b.shape.reduce((x, y) => x * y, 1);
  if (bSize < SWAP_MIN_B || bSize < SWAP_MIN_RATIO * aSize) return false;
  if (seenB.has(b.dataId)) return false;
  seenB.add(b.dataId);
  return true;
}

/** A·B as (Bᵀ·Aᵀ)ᵀ for single-batch operands, keeping A's rank. */
function swappedMatMul(inputs: tf.NamedTensorInfoMap, kernelName: string): tf.Tensor {
  return tf.tidy(() => {
    const a = asTensor(inputs, 'a', kernelName);
    const b = asTensor(inputs, 'b', kernelName);
    const [m, k] = a.shape.slice(-2);
    const n = b.shape[b.shape.length - 1];
    const a2 = tf.reshape(a, [m, k]);
    const b2 = tf.reshape(b, [k, n]);
    const out = tf.transpose(tf.matMul(tf.transpose(b2), tf.transpose(a2)));
    return a.rank === 2 ? out : tf.reshape(out, [1, m, n]);
  });
}

/** Wraps the backend's own matMul kernel so that transposed single-batch products reach XNNPACK. */
export function untransposingMatMul(kernelName: string, original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const a = inputs.a;
    const b = inputs.b;
    if (
      kernelName === 'BatchMatMul' &&
      !transposeA &&
      !transposeB &&
      a !== undefined &&
      b !== undefined &&
      a.dtype === 'float32' &&
      b.dtype === 'float32' &&
      a.shape.length === b.shape.length &&
      batchOf(a) === 1 &&
      batchOf(b) === 1 &&
      shouldSwap(a, b)
    ) {
      return swappedMatMul(inputs, kernelName);
    }
    if (
      (!transposeA && !transposeB) ||
      a === undefined ||
      b === undefined ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      batchOf(a) !== 1 ||
      batchOf(b) !== 1
    ) {
      return original(args);
    }
    const at = transposeA ? tf.tidy(() => swapLastTwo(asTensor(inputs, 'a', kernelName))) : undefined;
    const bt = transposeB ? tf.tidy(() => swapLastTwo(asTensor(inputs, 'b', kernelName))) : undefined;
    try {
      return original({
        ...args,
        inputs: { ...inputs, a: at ?? a, b: bt ?? b },
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      at?.dispose();
      bt?.dispose();
    }
  };
}

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

/** Wraps the backend's own matMul kernel so that transposed single-batch products reach XNNPACK. */
export function untransposingMatMul(kernelName: string, original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, attrs } = args;
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const a = inputs.a;
    const b = inputs.b;
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

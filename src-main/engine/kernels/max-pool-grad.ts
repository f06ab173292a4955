/**
 * MaxPoolGrad for wasm when the pooling windows tile the input (stride = window, no padding), the
 * usual `maxPooling2d({poolSize: k})`. tfjs-backend-wasm's own kernel is scalar loops and was the
 * largest single cost of a LeNet-5 training step (~13 ms of ~100 ms at batch 64).
 *
 * Tiled windows make the gradient a scatter within each window: dx = onehot(argmax(window)) · dy.
 * Group each window's k_h·k_w values on the last axis, take argMax (first maximum on ties, as the
 * cpu and wasm kernels do), one-hot it, scale by dy and ungroup. Overlapping or padded pooling
 * goes to the original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor } from './util';

const KERNEL = 'MaxPoolGrad';

/** Wraps the backend's MaxPoolGrad with the tiled-window fast path. */
export function tiledMaxPoolGrad(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs } = args;
    const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
    const x = inputs.input;
    if (x === undefined || x.dtype !== 'float32' || x.shape.length !== 4) return original(args);
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const { filterHeight: ph, filterWidth: pw, strideHeight: sh, strideWidth: sw, padInfo } = info;
    const tiled = sh === ph && sw === pw && padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom === 0 && padInfo.right === 0;
    if (!tiled || ph * pw === 1) return original(args);
    const { batchSize: n, outHeight: oh, outWidth: ow, inChannels: c, inHeight: h, inWidth: w } = info;
    return tf.tidy(() => {
      const input = asTensor<tf.Rank.R4>(inputs, 'input', KERNEL);
      const dy = asTensor<tf.Rank.R4>(inputs, 'dy', KERNEL);
      // Rows/columns past the last whole window never reach the output (valid padding).
      const used = oh * ph === h && ow * pw === w ? input : tf.slice(input, [0, 0, 0, 0], [n, oh * ph, ow * pw, c]);
      // [N·Ho, ph, Wo, pw, C] -> [N·Ho, Wo, C, ph, pw]: each window's values become contiguous.
      const windows = tf.reshape(tf.transpose(tf.reshape(used, [n * oh, ph, ow, pw, c]), [0, 2, 4, 1, 3]), [-1, ph * pw]);
      // tfjs-backend-wasm 4.22's OneHot ignores dtype and writes int32 bits: cast instead.
      const winner = tf.cast(tf.oneHot(tf.argMax(windows, 1), ph * pw), 'float32');
      const scattered = tf.mul(winner, tf.reshape(dy, [-1, 1]));
      const dx = tf.reshape<tf.Rank.R4>(tf.transpose(tf.reshape(scattered, [n * oh, ow, c, ph, pw]), [0, 3, 1, 4, 2]), [n, oh * ph, ow * pw, c]);
      return oh * ph === h && ow * pw === w ? dx : tf.pad(dx, [[0, 0], [0, h - oh * ph], [0, w - ow * pw], [0, 0]]);
    });
  };
}

/**
 * Fake int8 quantization for quantization-aware training (Jacob et al. 2018, "Quantization and
 * Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"): the forward pass
 * sees values rounded to the int8 grid the TF Lite int8 export will use, the backward pass treats
 * the rounding as the identity (straight-through estimator, Bengio et al. 2013).
 *
 * Grids, as in export/tflite/quantize.ts:
 * - weights symmetric, zero point 0, scale = max|w| / 127 per output channel (or per tensor),
 *   q in [-127, 127]; 0 stays exactly 0, so pruned weights stay pruned;
 * - activations affine over [min, max] widened to include 0: scale = (hi - lo) / 255,
 *   zero_point = round(-128 - lo / scale), q in [-128, 127].
 */
import * as tf from '@tensorflow/tfjs';

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * Output-channel count of a tfjs kernel: the last axis (Conv2D HWIO, Dense [in, out]), or the last
 * two for DepthwiseConv2D [H, W, C, multiplier] (TF Lite's channel is C * multiplier).
 */
export function kernelChannels(shape: readonly number[], depthwise = false): number {
  return depthwise ? shape[shape.length - 2] * shape[shape.length - 1] : shape[shape.length - 1];
}

/**
 * A kernel on the symmetric int8 grid, per output channel (`channels` trailing values share a
 * scale) or per tensor (channels = 1). Gradient: identity (STE; the range is max|w|, so nothing clips).
 * @example const wq = fakeQuantWeight(kernel, kernelChannels(kernel.shape))
 */
export function fakeQuantWeight(w: tf.Tensor, channels: number): tf.Tensor {
  // The forward ops inside customGrad are not taped: the gradient is exactly dy (STE).
  const f = tf.customGrad(((x: tf.Tensor) => ({ value: quantizeSymmetric(x, channels), gradFunc: (dy: tf.Tensor) => dy })) as unknown as CustomGradFn);
  return (f as unknown as (x: tf.Tensor) => tf.Tensor)(w);
}

function quantizeSymmetric(w: tf.Tensor, channels: number): tf.Tensor {
  return tf.tidy(() => {
    const flat = tf.reshape(w, [-1, channels]);
    const maxAbs = tf.max(tf.abs(flat), 0);
    // All-zero channels get 1/127 (never a zero scale: XNNPACK rejects it; 0/s is still 0).
    const scale = tf.where(tf.greater(maxAbs, 0), tf.div(maxAbs, 127), tf.fill(maxAbs.shape, 1 / 127));
    const q = tf.clipByValue(tf.round(tf.div(flat, scale)), -127, 127);
    return tf.reshape(tf.mul(q, scale), w.shape);
  });
}

/** Scale and zero point of the affine int8 grid over [min, max] widened to include 0 (as tensors). */
export function activationGrid(min: tf.Scalar, max: tf.Scalar): { scale: tf.Scalar; zeroPoint: tf.Scalar } {
  return tf.tidy(() => {
    const lo = tf.minimum(min, 0);
    const hi = tf.maximum(tf.maximum(max, 0), tf.add(lo, 1e-8));
    const scale = tf.div(tf.sub(hi, lo), 255) as tf.Scalar;
    const zeroPoint = tf.clipByValue(tf.round(tf.sub(-128, tf.div(lo, scale))), -128, 127) as tf.Scalar;
    return { scale, zeroPoint };
  });
}

/**
 * An activation on the affine int8 grid of [min, max]. Gradient: passed through where x lies inside
 * the representable range, 0 where it was clipped (as TF's FakeQuantWithMinMaxVars).
 * @example const y = fakeQuantActivation(x, tf.scalar(0), tf.scalar(6))
 */
export function fakeQuantActivation(x: tf.Tensor, min: tf.Scalar, max: tf.Scalar): tf.Tensor {
  const f = tf.customGrad(((v: tf.Tensor, lo: tf.Scalar, hi: tf.Scalar, save: tf.GradSaveFunc) => {
    const { value, inside } = tf.tidy(() => {
      const { scale, zeroPoint } = activationGrid(lo, hi);
      // The zero point is an integer, so (round(x / s) + zp - zp) * s = round(x / s) * s.
      const a = tf.mul(tf.sub(-128, zeroPoint), scale);
      const b = tf.mul(tf.sub(127, zeroPoint), scale);
      const clipped = tf.minimum(tf.maximum(v, a), b);
      return { value: tf.mul(tf.round(tf.div(clipped, scale)), scale), inside: tf.logicalAnd(tf.greaterEqual(v, a), tf.lessEqual(v, b)).toFloat() };
    });
    save([inside]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0]), tf.zerosLike(lo), tf.zerosLike(hi)],
    };
  }) as unknown as CustomGradFn);
  return (f as unknown as (v: tf.Tensor, lo: tf.Scalar, hi: tf.Scalar) => tf.Tensor)(x, min, max);
}

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

/*
 * The rounding runs in JS over the tensor's values rather than as tfjs ops: it is the export's own
 * arithmetic (Math.round, as export/tflite/quantize.ts), and on the wasm backend a read-back is a
 * copy, while the ~10 elementwise ops per quantization point it replaces made a LeNet-5 step 15x
 * slower than the float step. The gradient is applied with one tfjs op.
 */

/**
 * Output-channel count of a tfjs kernel: the last axis (Conv2D HWIO, Dense [in, out]), or the last
 * two for DepthwiseConv2D [H, W, C, multiplier] (TF Lite's channel is C * multiplier).
 */
export function kernelChannels(shape: readonly number[], depthwise = false): number {
  return depthwise ? shape[shape.length - 2] * shape[shape.length - 1] : shape[shape.length - 1];
}

/**
 * Kernel values on the symmetric int8 grid: element i belongs to channel i % channels (channels
 * trail in tfjs kernels; 1 = per tensor); scale_c = max|w_c| / 127, 1/127 for an all-zero channel.
 */
export function quantizeWeightValues(v: Float32Array, channels: number): Float32Array {
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < v.length; i++) {
    const c = i % channels;
    const a = Math.abs(v[i]);
    if (a > maxAbs[c]) maxAbs[c] = a;
  }
  const scale = Float64Array.from(maxAbs, (m) => (m > 0 ? m / 127 : 1 / 127));
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const c = i % channels;
    out[i] = Math.max(-127, Math.min(127, Math.round(v[i] / scale[c]))) * scale[c];
  }
  return out;
}

/**
 * A kernel on the symmetric int8 grid, per output channel (`channels` trailing values share a
 * scale) or per tensor (channels = 1). Gradient: identity (STE; the range is max|w|, so nothing clips).
 * @example const wq = fakeQuantWeight(kernel, kernelChannels(kernel.shape))
 */
export function fakeQuantWeight(w: tf.Tensor, channels: number): tf.Tensor {
  const f = tf.customGrad(((x: tf.Tensor) => ({
    value: tf.tensor(quantizeWeightValues(x.dataSync() as Float32Array, channels), x.shape, 'float32'),
    gradFunc: (dy: tf.Tensor) => dy,
  })) as unknown as CustomGradFn);
  return (f as unknown as (x: tf.Tensor) => tf.Tensor)(w);
}

/** Scale and zero point of the affine int8 grid over [min, max] widened to include 0 (as export/tflite/quantize.ts affineParams). */
export function activationGrid(min: number, max: number): { scale: number; zeroPoint: number } {
  const lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  const scale = (hi - lo) / 255;
  return { scale, zeroPoint: Math.max(-128, Math.min(127, Math.round(-128 - lo / scale))) };
}

/** The range to quantize with: fixed, or computed from the batch's own [min, max]. */
export type ActivationRange = [number, number] | ((batch: [number, number]) => [number, number]);

/**
 * An activation on the affine int8 grid of a range. Gradient: passed through where x lies inside
 * the representable range, 0 where it was clipped (as TF's FakeQuantWithMinMaxVars).
 * @example const y = fakeQuantActivation(x, [0, 6])
 */
export function fakeQuantActivation(x: tf.Tensor, range: ActivationRange): tf.Tensor {
  const f = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const v = input.dataSync() as Float32Array;
    let r: [number, number];
    if (typeof range === 'function') {
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < v.length; i++) {
        if (v[i] < lo) lo = v[i];
        if (v[i] > hi) hi = v[i];
      }
      r = range([lo, hi]);
    } else {
      r = range;
    }
    const { scale, zeroPoint } = activationGrid(r[0], r[1]);
    // The zero point is an integer, so (round(x / s) + zp - zp) * s = round(x / s) * s on [qmin, qmax].
    const qmin = -128 - zeroPoint;
    const qmax = 127 - zeroPoint;
    const a = qmin * scale;
    const b = qmax * scale;
    const out = new Float32Array(v.length);
    const inside = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const q = Math.round(v[i] / scale);
      out[i] = (q < qmin ? qmin : q > qmax ? qmax : q) * scale;
      inside[i] = v[i] >= a && v[i] <= b ? 1 : 0;
    }
    const mask = tf.tensor(inside, input.shape, 'float32');
    save([mask]);
    return { value: tf.tensor(out, input.shape, 'float32'), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
  }) as unknown as CustomGradFn);
  return (f as unknown as (v: tf.Tensor) => tf.Tensor)(x);
}

/**
 * The FusedBatchNorm gradient without full-size tiles.
 *
 * y = (x - mean) * r * scale + offset, r = 1 / sqrt(variance + eps), per channel (the last axis):
 *   dx      = dy * scale * r
 *   dmean   = -sum(dy * scale) * r
 *   dvar    = sum(dy * scale * (x - mean)) * (-1/2) r^3
 *   dscale  = sum(dy * (x - mean)) * r
 *   doffset = sum(dy)
 * (sums over every axis but the channel's; mean and variance are inputs: tfjs-layers computes the
 * batch moments with ops whose own gradients carry the dependence on x). tfjs-core 4.22's gradient
 * materializes r tiled to x's full shape before multiplying (a Tile kernel per BN layer and step:
 * 27% of a MobileNetV2-28 tfjs step's kernel time on wasm, tf.profile); broadcasting the
 * per-channel factors gives the same numbers without the copy.
 */
import * as tf from '@tensorflow/tfjs';

let registered = false;

function perChannel(t: tf.Tensor, x: tf.Tensor): tf.Tensor {
  // Rank-1 statistics broadcast along the last axis as they are; others already have x's rank.
  return t.rank === 1 || t.rank === x.rank ? t : tf.reshape(t, [t.size]);
}

/** Axes to sum a gradient over so it takes `shape` (broadcast's inverse). */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

/** Installs the gradient above for FusedBatchNorm (every backend; idempotent). */
export function registerBatchNormGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean0, variance0, scale0] = saved;
      const g = Array.isArray(dy) ? dy[0] : dy;
      const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
      const mean = perChannel(mean0, x);
      const variance = perChannel(variance0, x);
      const scale = scale0 == null ? tf.scalar(1) : perChannel(scale0, x);
      const r = tf.rsqrt(tf.add(variance, eps));
      const gScaled = tf.mul(g, scale);
      const centred = tf.sub(x, mean);
      return {
        x: () => tf.mul(gScaled, r),
        mean: () => reduceTo(tf.mul(tf.neg(gScaled), r), mean0.shape),
        variance: () => reduceTo(tf.mul(tf.mul(gScaled, centred), tf.mul(tf.pow(r, 3), -0.5)), variance0.shape),
        scale: () => reduceTo(tf.mul(tf.mul(g, centred), r), (scale0 ?? tf.scalar(1)).shape),
        offset: () => reduceTo(g, mean0.shape),
      };
    },
  });
}

/**
 * DepthwiseConv2dNativeBackpropInput for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 * Forward: y[n,oh,ow,c·M+m] = Σ_{i,j} x[n, oh·s + i·d - pt, ow·s + j·d - pl, c] · w[i,j,c,m].
 * Gradient: dx[n,h,w,c] = Σ_{m} (dy_s[·,·,·,c·M+m] ⋆ rot180(w)[·,·,c,m])[n,h,w], where dy_s is dy
 * with s-1 zeros between rows/columns (a transposed convolution). The correlation is one XNNPACK
 * depthwise conv with dilation d; the channel multiplier is then summed out.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, pair, padForTransposedConv, spreadByStride } from './util';

const KERNEL = 'DepthwiseConv2dNativeBackpropInput';

export function depthwiseConv2dBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs;
  return tf.tidy(() => {
    const dy = asTensor<tf.Rank.R4>(args.inputs, 'dy', KERNEL);
    const filter = asTensor<tf.Rank.R4>(args.inputs, 'filter', KERNEL);
    const [fh, fw, c, mult] = filter.shape;
    const info = tf.backend_util.computeConv2DInfo(
      inputShape as [number, number, number, number],
      filter.shape,
      pair(strides),
      pair(dilations),
      pad,
      dimRoundingMode,
      true,
    );
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
    const { inHeight: h, inWidth: w } = info;
    const padded = padForTransposedConv(spreadByStride(dy, sh, sw), info);
    const flipped = tf.reshape<tf.Rank.R4>(tf.reverse(filter, [0, 1]), [fh, fw, c * mult, 1]);
    const dx: tf.Tensor4D = tf.depthwiseConv2d(padded, flipped, 1, 'valid', 'NHWC', [dh, dw]);
    if (mult === 1) return dx;
    return tf.sum(tf.reshape(dx, [dx.shape[0], h, w, c, mult]), 4);
  });
}

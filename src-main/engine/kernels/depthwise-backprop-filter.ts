/**
 * DepthwiseConv2dNativeBackpropFilter for the wasm backend (missing in tfjs-backend-wasm 4.22).
 *
 * dW[i,j,c,m] = Σ_{n,oh,ow} x[n, oh·s + i·d - pt, ow·s + j·d - pl, c] · dy[n,oh,ow,c·M+m].
 * Per channel c that is a (K × P)·(P × M) product with K = fh·fw taps and P = N·Ho·Wo positions:
 * stack the K strided views of x per channel (im2col, channel-major) and run one batched matMul
 * over the C channels.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, pair, padOrCrop } from './util';

const KERNEL = 'DepthwiseConv2dNativeBackpropFilter';

export function depthwiseConv2dBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs;
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(args.inputs, 'x', KERNEL);
    const dy = asTensor<tf.Rank.R4>(args.inputs, 'dy', KERNEL);
    const [fh, fw, c, mult] = filterShape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      [fh, fw, c, mult],
      pair(strides),
      pair(dilations),
      pad,
      dimRoundingMode,
      true,
    );
    const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
    const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w, padInfo, batchSize: n } = info;
    const needH = (fh - 1) * dh + (oh - 1) * sh + 1;
    const needW = (fw - 1) * dw + (ow - 1) * sw + 1;
    const xT = padOrCrop(tf.transpose(x, [3, 0, 1, 2]), [
      [0, 0],
      [0, 0],
      [padInfo.top, needH - h - padInfo.top],
      [padInfo.left, needW - w - padInfo.left],
    ]);
    const positions = n * oh * ow;
    const taps: tf.Tensor3D[] = [];
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const view = tf.stridedSlice(
          xT,
          [0, 0, i * dh, j * dw],
          [c, n, i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1],
          [1, 1, sh, sw],
        );
        taps.push(tf.reshape(view, [c, 1, positions]));
      }
    }
    const patches = taps.length === 1 ? taps[0] : tf.concat(taps, 1); // [C, K, P]
    const dyT = tf.transpose(tf.reshape(dy, [positions, c, mult]), [1, 2, 0]); // [C, M, P]
    const dW = tf.matMul(patches, dyT, false, true); // [C, K, M]
    return tf.reshape(tf.transpose(dW, [1, 0, 2]), [fh, fw, c, mult]);
  });
}

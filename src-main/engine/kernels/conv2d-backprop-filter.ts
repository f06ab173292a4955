/**
 * Conv2DBackpropFilter for the wasm backend (tfjs-backend-wasm 4.22 has no kernel for it).
 *
 * Forward: y[n,oh,ow,co] = Σ_{i,j,ci} x[n, oh·s + i - pt, ow·s + j - pl, ci] · w[i,j,ci,co].
 * Gradient: dW[i,j,ci,co] = Σ_{n,oh,ow} x[n, oh·s + i - pt, ow·s + j - pl, ci] · dy[n,oh,ow,co].
 * Read with ci as the batch, n as the channel and dy as an (Ho×Wo) filter dilated by s, that is
 * itself a stride-1 correlation, so it runs on XNNPACK's conv2d instead of scalar loops:
 *   dW = transpose(conv2d(transpose(x,[3,1,2,0]), transpose(dy,[1,2,0,3]), dilation=s), [1,2,0,3]).
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, pair, padOrCrop, toChannelsLast } from './util';

const KERNEL = 'Conv2DBackpropFilter';

export function conv2dBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  return tf.tidy(() => {
    let x = asTensor<tf.Rank.R4>(args.inputs, 'x', KERNEL);
    let dy = asTensor<tf.Rank.R4>(args.inputs, 'dy', KERNEL);
    if (dataFormat === 'NCHW') {
      x = toChannelsLast(x);
      dy = toChannelsLast(dy);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape,
      filterShape as [number, number, number, number],
      pair(strides),
      1,
      pad,
      dimRoundingMode,
    );
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
    const { outHeight: oh, outWidth: ow, inHeight: h, inWidth: w, padInfo } = info;
    // Rows the correlation must see: fh taps plus (oh-1) strides; the rest of x is cropped.
    const needH = fh + (oh - 1) * sh;
    const needW = fw + (ow - 1) * sw;
    const xT = padOrCrop(tf.transpose(x, [3, 1, 2, 0]), [
      [0, 0],
      [padInfo.top, needH - h - padInfo.top],
      [padInfo.left, needW - w - padInfo.left],
      [0, 0],
    ]);
    const dyT = tf.transpose(dy, [1, 2, 0, 3]);
    const dW = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [sh, sw]);
    return tf.transpose(dW, [1, 2, 0, 3]);
  });
}

/**
 * Conv2DBackpropInput for wasm on XNNPACK. tfjs-backend-wasm 4.22 has this kernel, but as scalar
 * loops (~20 ms for LeNet-5's second conv at batch 64); this one is a single XNNPACK conv2d.
 *
 * dx[n,h,w,ci] = Σ_{i,j,co} dy_s[n, h + pt - i, w + pl - j, co] · W[i,j,ci,co], where dy_s is dy
 * with s-1 zeros between rows/columns: a stride-1 correlation of the padded dy_s with the kernel
 * flipped in space and transposed in channels, W'[i,j,co,ci] = W[fh-1-i, fw-1-j, ci, co].
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, pair, padForTransposedConv, spreadByStride, toChannelsFirst, toChannelsLast } from './util';

const KERNEL = 'Conv2DBackpropInput';

export function conv2dBackpropInput(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  return tf.tidy(() => {
    let dy = asTensor<tf.Rank.R4>(args.inputs, 'dy', KERNEL);
    const filter = asTensor<tf.Rank.R4>(args.inputs, 'filter', KERNEL);
    let shape = inputShape as [number, number, number, number];
    const channelsFirst = dataFormat === 'NCHW';
    if (channelsFirst) {
      dy = toChannelsLast(dy);
      shape = [shape[0], shape[2], shape[3], shape[1]];
    }
    const info = tf.backend_util.computeConv2DInfo(shape, filter.shape, pair(strides), 1, pad, dimRoundingMode);
    const padded = padForTransposedConv(spreadByStride(dy, info.strideHeight, info.strideWidth), info);
    const flipped = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
    const dx = tf.conv2d(padded, flipped as tf.Tensor4D, 1, 'valid');
    return channelsFirst ? toChannelsFirst(dx) : dx;
  });
}

/**
 * MaxPoolGrad for wasm. tfjs-backend-wasm 4.22's own kernel is scalar loops (~13 ms of a ~100 ms
 * LeNet-5 training step at batch 64) and, worse, wrong whenever a window holds only negative
 * values (it routes every such gradient to element 0), so this replaces it outright.
 *
 * dx = Σ over windows of onehot(first argmax of the window) · dy — the cpu kernel's semantics,
 * where padding never wins and ties go to the first maximum in row-major window order.
 *  - Tiled windows (stride = window, no padding; the usual maxPooling2d({poolSize: k})): group
 *    each window's values on the last axis with one transpose, argMax, one-hot, scale, ungroup.
 *  - Otherwise: stack the K = k_h·k_w strided views of the (-∞ padded) input, argMax over the
 *    stack, and scatter each tap's share back with a stride spread and a shift.
 * On wasm itself a single JavaScript pass over the heap does it faster (loopGrad); the op forms
 * serve any backend without heap access.
 */
import * as tf from '@tensorflow/tfjs';
import { asTensor, padOrCrop, spreadByStride, wasmHeapOf } from './util';

const KERNEL = 'MaxPoolGrad';

/** One-hot of the first maximum along the last axis, as float32. */
function firstMaxMask(values: tf.Tensor, depth: number): tf.Tensor {
  // tfjs-backend-wasm 4.22's OneHot ignores its dtype argument and writes int32 bits: cast instead.
  return tf.cast(tf.oneHot(tf.argMax(values, -1), depth), 'float32');
}

function tiledGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { batchSize: n, outHeight: oh, outWidth: ow, inChannels: c, inHeight: h, inWidth: w } = info;
  const { filterHeight: ph, filterWidth: pw } = info;
  // Rows/columns past the last whole window never reach the output (valid padding).
  const used = oh * ph === h && ow * pw === w ? x : tf.slice(x, [0, 0, 0, 0], [n, oh * ph, ow * pw, c]);
  // [N·Ho, ph, Wo, pw, C] -> [N·Ho, Wo, C, ph, pw]: each window's values become contiguous.
  const windows = tf.reshape(tf.transpose(tf.reshape(used, [n * oh, ph, ow, pw, c]), [0, 2, 4, 1, 3]), [-1, ph * pw]);
  const scattered = tf.mul(firstMaxMask(windows, ph * pw), tf.reshape(dy, [-1, 1]));
  const dx = tf.reshape<tf.Rank.R4>(tf.transpose(tf.reshape(scattered, [n * oh, ow, c, ph, pw]), [0, 3, 1, 4, 2]), [n, oh * ph, ow * pw, c]);
  return oh * ph === h && ow * pw === w ? dx : tf.pad(dx, [[0, 0], [0, h - oh * ph], [0, w - ow * pw], [0, 0]]);
}

function generalGrad(x: tf.Tensor4D, dy: tf.Tensor4D, info: tf.backend_util.Conv2DInfo): tf.Tensor4D {
  const { batchSize: n, outHeight: oh, outWidth: ow, inChannels: c, inHeight: h, inWidth: w, padInfo } = info;
  const { filterHeight: ph, filterWidth: pw, strideHeight: sh, strideWidth: sw } = info;
  const needH = (oh - 1) * sh + ph;
  const needW = (ow - 1) * sw + pw;
  const padded = padOrCrop(
    x,
    [
      [0, 0],
      [padInfo.top, needH - h - padInfo.top],
      [padInfo.left, needW - w - padInfo.left],
      [0, 0],
    ],
    -Infinity,
  );
  const taps: tf.Tensor[] = [];
  for (let i = 0; i < ph; i++) {
    for (let j = 0; j < pw; j++) {
      taps.push(tf.stridedSlice(padded, [0, i, j, 0], [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, c], [1, sh, sw, 1]));
    }
  }
  const shares = tf.mul(firstMaxMask(tf.stack(taps, 4), ph * pw), tf.expandDims(dy, 4)); // [N,Ho,Wo,C,K]
  const parts = tf.unstack(shares, 4).map((share, k) => {
    const top = Math.floor(k / pw) - padInfo.top;
    const left = (k % pw) - padInfo.left;
    const spread = spreadByStride(tf.reshape<tf.Rank.R4>(share, [n, oh, ow, c]), sh, sw);
    return padOrCrop(spread, [
      [0, 0],
      [top, h - top - spread.shape[1]],
      [left, w - left - spread.shape[2]],
      [0, 0],
    ]);
  });
  return tf.addN(parts) as tf.Tensor4D;
}

/**
 * The same gradient as one pass of JavaScript over the wasm heap: for each output position and
 * channel, the window's first maximum gets dx += dy.
 * The op formulation's transposes, argMax and one-hot each make a pass over memory; this loop
 * (with pool2x2Grad for the common 2x2/2 pooling) is ~3x faster on LeNet-5's first pool and ~7x
 * on its second (`npx tsx test/bench/speed.ts --parts`). Both give the cpu kernel's result.
 */
function loopGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, padInfo } = info;
  const { filterHeight: ph, filterWidth: pw, strideHeight: sh, strideWidth: sw } = info;
  dx.fill(0);
  const unpadded = padInfo.top === 0 && padInfo.left === 0;
  if (ph === 2 && pw === 2 && sh === 2 && sw === 2 && unpadded && 2 * oh <= h && 2 * ow <= w) {
    pool2x2Grad(x, dy, dx, n, h, w, c, oh, ow);
    return;
  }
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - padInfo.top;
      const yFrom = Math.max(0, y0);
      const yTo = Math.min(h, y0 + ph);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - padInfo.left;
        const xFrom = Math.max(0, x0);
        const xTo = Math.min(w, x0 + pw);
        const out = ((b * oh + oy) * ow + ox) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          // Row-major window order and a strict '>' keep the first maximum, as the cpu kernel does.
          for (let yy = yFrom; yy < yTo; yy++) {
            for (let i = ((b * h + yy) * w + xFrom) * c + ch, end = i + (xTo - xFrom) * c; i < end; i += c) {
              const v = x[i];
              if (v > best || at < 0) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] += dy[out + ch];
        }
      }
    }
  }
}

/**
 * loopGrad for maxPooling2d({poolSize: 2}), the common case, without the window bookkeeping:
 * four fixed offsets per output, compared in the same row-major order (1.5-4x the general loop).
 */
function pool2x2Grad(x: Float32Array, dy: Float32Array, dx: Float32Array, n: number, h: number, w: number, c: number, oh: number, ow: number): void {
  const row = w * c;
  let out = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      let i00 = (b * h + 2 * oy) * row;
      for (let ox = 0; ox < ow; ox++, i00 += 2 * c) {
        for (let ch = 0; ch < c; ch++, out++) {
          const p = i00 + ch;
          let at = p;
          let best = x[p];
          if (x[p + c] > best) {
            best = x[p + c];
            at = p + c;
          }
          if (x[p + row] > best) {
            best = x[p + row];
            at = p + row;
          }
          if (x[p + row + c] > best) at = p + row + c;
          dx[at] += dy[out];
        }
      }
    }
  }
}

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend?: unknown }): tf.TensorInfo {
  const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
  const { input, dy } = args.inputs;
  if (!input || !dy) throw new Error(`${KERNEL}: inputs "input" and "dy" are required`);
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const wasm = wasmHeapOf(args.backend);
  if (input.dtype === 'float32' && dy.dtype === 'float32' && wasm) {
    const out = wasm.makeOutput(input.shape, 'float32');
    // Views only after the allocation: growing the wasm memory detaches earlier views.
    loopGrad(wasm.typedArrayFromHeap(input), wasm.typedArrayFromHeap(dy), wasm.typedArrayFromHeap(out), info);
    return out;
  }
  return tf.tidy(() => {
    const x = asTensor<tf.Rank.R4>(args.inputs, 'input', KERNEL);
    const dyT = asTensor<tf.Rank.R4>(args.inputs, 'dy', KERNEL);
    const { filterHeight: ph, filterWidth: pw, strideHeight: sh, strideWidth: sw, padInfo } = info;
    const unpadded = padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom === 0 && padInfo.right === 0;
    return sh === ph && sw === pw && unpadded ? tiledGrad(x, dyT, info) : generalGrad(x, dyT, info);
  });
}

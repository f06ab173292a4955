/**
 * Matrix products and convolutions on a native compute library, for the wasm backend.
 *
 * The wasm backend keeps every tensor in its WebAssembly heap. A native library (the node layer
 * loads Topiary's own addon, native/: a packed GEMM with AVX2/FMA and OpenMP threads) can work on
 * views of that heap in place, with no copies: 60-120 GFLOP/s against XNNPACK's ~10 on one wasm
 * thread. These kernels replace BatchMatMul, _FusedMatMul, Conv2D, FusedConv2D and the two conv
 * gradients and Topiary's fused Adam step; every case they do not cover (other dtypes, NCHW, broadcast batches, activations
 * other than linear/relu, backends without a heap) goes to the kernel they replaced.
 *
 * The engine only knows the NativeCompute interface; it never loads anything itself.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_ADAM, registerFusedAdam, setWasmFusedAdamMaxSize, type FusedAdamAttrs } from './fused-adam';
import { pair, wasmHeapOf } from './util';

/**
 * What the native library offers. Arrays are row-major float32; `lda`/`ldb`/`ldc` are row strides.
 * gemm: C = op(A)·op(B) (+ C when accumulate) (+ bias per column) (relu), op(X) = Xᵀ when transX.
 * conv shape: [batch, inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW,
 * dilationH, dilationW, padTop, padLeft]; tensors NHWC, filters [fh, fw, inC, outC].
 */
export interface NativeCompute {
  gemm(
    transA: number,
    transB: number,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    c: Float32Array,
    ldc: number,
    accumulate: number,
    bias: Float32Array | null,
    relu: number,
  ): void;
  conv2d(shape: number[], x: Float32Array, filter: Float32Array, bias: Float32Array | null, relu: number, y: Float32Array): void;
  conv2dBackpropInput(shape: number[], dy: Float32Array, filter: Float32Array, dx: Float32Array): void;
  conv2dBackpropFilter(shape: number[], x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /**
   * Depthwise filter gradient dw[fh, fw, C, M] (conv shape with outC = C * M; native/depthwise.c).
   * Optional: addons built before it lack it, and the wasm kernel then stays.
   */
  depthwiseBackpropFilter?(shape: number[], multiplier: number, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /** One Adam step (tf.train.adam's formula) writing w1, m1, v1; `step` is 1-based. */
  adam(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    w1: Float32Array,
    m1: Float32Array,
    v1: Float32Array,
    learningRate: number,
    beta1: number,
    beta2: number,
    epsilon: number,
    step: number,
  ): void;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  attrs?: tf.NamedAttrMap;
  backend?: unknown;
}

/**
 * Below these sizes the wasm kernels stay: XNNPACK keeps the packed weights of an inference
 * product between calls, which beats repacking them for a handful of rows (batch-1 inference:
 * LeNet-300-100 0.15 ms on XNNPACK vs 0.34 ms native, both measured by test/bench/speed.ts).
 */
export const NATIVE_MIN_ROWS = 16;
export const NATIVE_MIN_CONV_PIXELS = 2048;
let minRows = NATIVE_MIN_ROWS;
let minConvPixels = NATIVE_MIN_CONV_PIXELS;

/** Changes the sizes above (tests use 0 to run every shape natively); no argument restores them. */
export function setNativeMinimums(limits: { rows?: number; convPixels?: number } = {}): void {
  minRows = limits.rows ?? NATIVE_MIN_ROWS;
  minConvPixels = limits.convPixels ?? NATIVE_MIN_CONV_PIXELS;
}

const allFloat = (...infos: (tf.TensorInfo | undefined)[]): boolean => infos.every((t) => t === undefined || t.dtype === 'float32');
const sizeOf = tf.util.sizeFromShape;
const sameShape = tf.util.arraysEqual;

/** The activations the native epilogue applies; undefined when it cannot. */
function nativeActivation(activation: unknown): 0 | 1 | undefined {
  if (activation === undefined || activation === null || activation === 'linear') return 0;
  if (activation === 'relu') return 1;
  return undefined;
}

/** A bias that adds one value per output channel/column (shape [n], [1, n], ...), else false. */
function isPerColumnBias(bias: tf.TensorInfo | undefined, n: number): boolean {
  if (bias === undefined) return true;
  return sizeOf(bias.shape) === n && (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] === n);
}

/** Batched C = op(A)·op(B) (+ bias) (relu) on the heap; undefined when the shapes are not covered. */
function nativeMatMul(native: NativeCompute, args: KernelArgs, fused: boolean): tf.TensorInfo | undefined {
  const heap = wasmHeapOf(args.backend);
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: unknown };
  if (!heap || !a || !b || a.shape.length < 2 || b.shape.length < 2 || !allFloat(a, b, bias)) return undefined;
  const relu = fused ? nativeActivation(attrs.activation) : 0;
  if (relu === undefined || preluActivationWeights !== undefined) return undefined;
  const ta = attrs.transposeA === true;
  const tb = attrs.transposeB === true;
  const [a0, a1] = a.shape.slice(-2);
  const [b0, b1] = b.shape.slice(-2);
  const m = ta ? a1 : a0;
  const k = ta ? a0 : a1;
  const n = tb ? b0 : b1;
  if ((tb ? b1 : b0) !== k || !isPerColumnBias(fused ? bias : undefined, n)) return undefined;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const countA = sizeOf(batchA);
  const countB = sizeOf(batchB);
  // Equal batches, or one operand shared by every batch of the other (no general broadcasting).
  let batchShape: number[];
  if (sameShape(batchA, batchB)) batchShape = batchA;
  else if (countB === 1 && batchA.length >= batchB.length) batchShape = batchA;
  else if (countA === 1 && batchB.length >= batchA.length) batchShape = batchB;
  else return undefined;
  const batches = sizeOf(batchShape);
  if (m * batches < minRows) return undefined;
  const out = heap.makeOutput([...batchShape, m, n], 'float32');
  // Views only after the allocation: growing the wasm memory detaches earlier views.
  const av = heap.typedArrayFromHeap(a);
  const bv = heap.typedArrayFromHeap(b);
  const cv = heap.typedArrayFromHeap(out);
  const biasView = fused && bias !== undefined ? heap.typedArrayFromHeap(bias) : null;
  for (let i = 0; i < batches; i++) {
    const aAt = countA === 1 ? 0 : i * m * k;
    const bAt = countB === 1 ? 0 : i * k * n;
    native.gemm(
      ta ? 1 : 0,
      tb ? 1 : 0,
      m,
      n,
      k,
      batches === 1 ? av : av.subarray(aAt, aAt + m * k),
      a1,
      batches === 1 ? bv : bv.subarray(bAt, bAt + k * n),
      b1,
      batches === 1 ? cv : cv.subarray(i * m * n, (i + 1) * m * n),
      n,
      0,
      biasView,
      relu,
    );
  }
  return out;
}

const channelsLast = (dataFormat: unknown): boolean => dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';

function convShape(info: tf.backend_util.Conv2DInfo): number[] {
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

type ConvAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: string;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: unknown;
};

function nativeConv2d(native: NativeCompute, args: KernelArgs, fused: boolean): tf.TensorInfo | undefined {
  const heap = wasmHeapOf(args.backend);
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const attrs = args.attrs as unknown as ConvAttrs;
  if (!heap || !x || !filter || x.shape.length !== 4 || filter.shape.length !== 4 || !allFloat(x, filter, bias)) return undefined;
  if (!channelsLast(attrs.dataFormat) || preluActivationWeights !== undefined) return undefined;
  const relu = fused ? nativeActivation(attrs.activation) : 0;
  if (relu === undefined) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    pair(attrs.strides),
    pair(attrs.dilations),
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (info.inChannels !== filter.shape[2] || !isPerColumnBias(fused ? bias : undefined, info.outChannels)) return undefined;
  if (info.batchSize * info.outHeight * info.outWidth < minConvPixels) return undefined;
  const out = heap.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
  const biasView = fused && bias !== undefined ? heap.typedArrayFromHeap(bias) : null;
  native.conv2d(convShape(info), heap.typedArrayFromHeap(x), heap.typedArrayFromHeap(filter), biasView, relu, heap.typedArrayFromHeap(out));
  return out;
}

/**
 * The forward conv's geometry for a gradient kernel (tfjs conv gradients have dilation 1), or
 * undefined when dy does not have the shape that conv produces.
 */
function gradientConvInfo(xShape: number[], filterShape: number[], attrs: ConvAttrs, dy: tf.TensorInfo): tf.backend_util.Conv2DInfo | undefined {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    pair(attrs.strides),
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return sameShape(dy.shape, [info.batchSize, info.outHeight, info.outWidth, info.outChannels]) ? info : undefined;
}

function nativeConvBackpropInput(native: NativeCompute, args: KernelArgs): tf.TensorInfo | undefined {
  const heap = wasmHeapOf(args.backend);
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as ConvAttrs & { inputShape: number[] };
  if (!heap || !dy || !filter || !allFloat(dy, filter) || !channelsLast(attrs.dataFormat) || attrs.inputShape?.length !== 4) return undefined;
  const info = gradientConvInfo(attrs.inputShape, filter.shape, attrs, dy);
  if (!info) return undefined;
  const out = heap.makeOutput(attrs.inputShape, 'float32');
  native.conv2dBackpropInput(convShape(info), heap.typedArrayFromHeap(dy), heap.typedArrayFromHeap(filter), heap.typedArrayFromHeap(out));
  return out;
}

function nativeConvBackpropFilter(native: NativeCompute, args: KernelArgs): tf.TensorInfo | undefined {
  const heap = wasmHeapOf(args.backend);
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as ConvAttrs & { filterShape: number[] };
  if (!heap || !x || !dy || x.shape.length !== 4 || !allFloat(x, dy) || !channelsLast(attrs.dataFormat) || attrs.filterShape?.length !== 4) return undefined;
  const info = gradientConvInfo(x.shape, attrs.filterShape, attrs, dy);
  if (!info) return undefined;
  const out = heap.makeOutput(attrs.filterShape, 'float32');
  native.conv2dBackpropFilter(convShape(info), heap.typedArrayFromHeap(x), heap.typedArrayFromHeap(dy), heap.typedArrayFromHeap(out));
  return out;
}

/**
 * DepthwiseConv2dNativeBackpropFilter in one native pass over dy (native/depthwise.c) instead of
 * the wasm fallback's fh*fw strided slices + batched matMul (~60% of a MobileNetV2 tfjs step).
 */
function nativeDepthwiseBackpropFilter(native: NativeCompute, args: KernelArgs): tf.TensorInfo | undefined {
  const heap = wasmHeapOf(args.backend);
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const fs = attrs.filterShape as number[] | undefined;
  if (!native.depthwiseBackpropFilter || !heap || !x || !dy || x.shape.length !== 4 || fs?.length !== 4 || !allFloat(x, dy)) return undefined;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    fs as [number, number, number, number],
    pair(attrs.strides),
    pair(attrs.dilations),
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  // tfjs computes no depthwise gradients with dilation > 1 (its gradient asserts so); not covered here.
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) return undefined;
  if (fs[2] !== info.inChannels || !sameShape(dy.shape, [info.batchSize, info.outHeight, info.outWidth, info.outChannels])) return undefined;
  const out = heap.makeOutput(fs, 'float32');
  native.depthwiseBackpropFilter(convShape(info), fs[3], heap.typedArrayFromHeap(x), heap.typedArrayFromHeap(dy), heap.typedArrayFromHeap(out));
  return out;
}

function nativeAdam(native: NativeCompute, args: KernelArgs): tf.TensorInfo[] | undefined {
  const heap = wasmHeapOf(args.backend);
  const { w, g, m, v } = args.inputs;
  if (!heap || !w || !g || !m || !v || !allFloat(w, g, m, v)) return undefined;
  const size = sizeOf(w.shape);
  if ([g, m, v].some((t) => sizeOf(t.shape) !== size)) return undefined;
  const a = args.attrs as unknown as FusedAdamAttrs;
  const outs = [heap.makeOutput(w.shape, 'float32'), heap.makeOutput(w.shape, 'float32'), heap.makeOutput(w.shape, 'float32')];
  const [w1, m1, v1] = outs.map((o) => heap.typedArrayFromHeap(o));
  const view = (t: tf.TensorInfo) => heap.typedArrayFromHeap(t);
  native.adam(view(w), view(g), view(m), view(v), w1, m1, v1, a.learningRate, a.beta1, a.beta2, a.epsilon, a.step);
  return outs;
}

type NativeKernel = (native: NativeCompute, args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | undefined;

/** The kernels this module replaces, by tfjs kernel name. */
export const NATIVE_KERNELS: Readonly<Record<string, NativeKernel>> = {
  BatchMatMul: (native, args) => nativeMatMul(native, args, false),
  _FusedMatMul: (native, args) => nativeMatMul(native, args, true),
  Conv2D: (native, args) => nativeConv2d(native, args, false),
  FusedConv2D: (native, args) => nativeConv2d(native, args, true),
  Conv2DBackpropInput: nativeConvBackpropInput,
  Conv2DBackpropFilter: nativeConvBackpropFilter,
  DepthwiseConv2dNativeBackpropFilter: nativeDepthwiseBackpropFilter,
  [FUSED_ADAM]: nativeAdam,
};

const replaced = new Map<string, tf.KernelConfig>();

/**
 * Routes the kernels above to `native` on backend `backendName` (default 'wasm'), each falling back
 * to the kernel registered before it. Call after the wasm training kernels are registered so that
 * the fallbacks are the fast ones. Idempotent per process until unregisterNativeKernels.
 * @returns the kernel names replaced by this call.
 */
export function registerNativeKernels(native: NativeCompute, backendName = 'wasm'): string[] {
  registerFusedAdam();
  const added: string[] = [];
  for (const [kernelName, kernel] of Object.entries(NATIVE_KERNELS)) {
    const previous = tf.getKernel(kernelName, backendName);
    if (previous === undefined || replaced.has(kernelName)) continue;
    replaced.set(kernelName, previous);
    tf.unregisterKernel(kernelName, backendName);
    // Keep the previous setup/dispose hooks: fallbacks call into its wasm bindings.
    tf.registerKernel({
      ...previous,
      kernelFunc: (args) => kernel(native, args as KernelArgs) ?? (previous.kernelFunc(args) as tf.TensorInfo),
    });
    added.push(kernelName);
  }
  // The native Adam is vectorized: it beats the op form at every size.
  if (backendName === 'wasm' && replaced.has(FUSED_ADAM)) setWasmFusedAdamMaxSize(Number.POSITIVE_INFINITY);
  return added;
}

/** Puts back the kernels registerNativeKernels replaced (benchmarks compare both). */
export function unregisterNativeKernels(): string[] {
  const restored = [...replaced.keys()];
  for (const [kernelName, previous] of replaced) {
    tf.unregisterKernel(kernelName, previous.backendName);
    tf.registerKernel(previous);
  }
  replaced.clear();
  setWasmFusedAdamMaxSize();
  return restored;
}

/** Whether registerNativeKernels is in effect. */
export function nativeKernelsActive(): boolean {
  return replaced.size > 0;
}

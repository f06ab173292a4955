/**
 * Makes training work, and run fast, on tfjs-backend-wasm 4.22.
 *
 * Missing kernels. Training a net with Dense, Conv2D (bias + relu), DepthwiseConv2D,
 * BatchNormalization, Max/Average/GlobalAveragePooling2D, Flatten, Dropout and softmax under Adam
 * on wasm and collecting every "Kernel 'X' not registered for backend 'wasm'" gives exactly:
 * Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropInput, DepthwiseConv2dNativeBackpropFilter.
 *
 * Slow (or wrong) kernels. wasm has BatchMatMul/_FusedMatMul, Conv2DBackpropInput and
 * MaxPoolGrad, but transposed matMuls, the input gradient of conv2d and max-pool gradients run as
 * scalar loops, and MaxPoolGrad sends the gradient of an all-negative window to element 0;
 * replacements route them to XNNPACK or to a few vectorized ops.
 *
 * Every kernel is written in terms of ops wasm does have (XNNPACK conv2d / depthwise conv /
 * fully-connected, transpose, pad), except MaxPoolGrad, a single JavaScript pass over the wasm
 * heap (faster than any op sequence for it); results match the cpu backend to float rounding.
 */
import * as tf from '@tensorflow/tfjs';
import { registerBatchNormGradient } from './batchnorm-grad';
import { conv2dBackpropFilter } from './conv2d-backprop-filter';
import { conv2dBackpropInput } from './conv2d-backprop-input';
import { depthwiseConv2dBackpropFilter } from './depthwise-backprop-filter';
import { depthwiseConv2dBackpropInput } from './depthwise-backprop-input';
import { untransposingMatMul } from './fast-matmul';
import { maxPoolGrad } from './max-pool-grad';

const BACKEND = 'wasm';

/** Kernels wasm lacks, by tfjs kernel name. */
export const WASM_TRAINING_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  Conv2DBackpropFilter: conv2dBackpropFilter as tf.KernelFunc,
  DepthwiseConv2dNativeBackpropInput: depthwiseConv2dBackpropInput as tf.KernelFunc,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dBackpropFilter as tf.KernelFunc,
};

/** Faster (MaxPoolGrad: also correct) versions of kernels wasm has; each gets the original kernel. */
export const WASM_FAST_KERNELS: Readonly<Record<string, (original: tf.KernelFunc) => tf.KernelFunc>> = {
  BatchMatMul: (original) => untransposingMatMul('BatchMatMul', original),
  _FusedMatMul: (original) => untransposingMatMul('_FusedMatMul', original),
  Conv2DBackpropInput: () => conv2dBackpropInput as tf.KernelFunc,
  MaxPoolGrad: () => maxPoolGrad as tf.KernelFunc,
};

/** The wasm kernel configs we replaced, so they can be put back. */
const replaced = new Map<string, tf.KernelConfig>();

export interface WasmKernelOptions {
  /** Also replace slow wasm kernels with XNNPACK-based ones (default true). */
  fast?: boolean;
}

/**
 * Registers the missing gradient kernels (and, unless `fast: false`, the faster replacements) for
 * backend 'wasm'. Idempotent. A kernel tfjs itself provides is never replaced by a missing-kernel
 * entry, so a later tfjs-backend-wasm that ships native ones keeps them. Replacements need the
 * wasm package loaded (it registers its kernels on import); before that they are skipped and a
 * later call adds them. Call before or after `tf.setBackend('wasm')`.
 * @example registerWasmTrainingKernels(); await tf.setBackend('wasm'); await model.fit(x, y)
 * @returns the kernel names that this call registered or replaced (empty when already done).
 */
export function registerWasmTrainingKernels(options: WasmKernelOptions = {}): string[] {
  const added: string[] = [];
  // A gradient, not a kernel (gradients are shared by all backends): BN without full-size tiles.
  if (options.fast !== false) registerBatchNormGradient();
  for (const [kernelName, kernelFunc] of Object.entries(WASM_TRAINING_KERNELS)) {
    if (tf.getKernel(kernelName, BACKEND) !== undefined) continue;
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc });
    added.push(kernelName);
  }
  if (options.fast === false) return added;
  for (const [kernelName, makeFast] of Object.entries(WASM_FAST_KERNELS)) {
    const original = tf.getKernel(kernelName, BACKEND);
    if (original === undefined || replaced.has(kernelName)) continue;
    replaced.set(kernelName, original);
    tf.unregisterKernel(kernelName, BACKEND);
    // Keep the original setup/dispose hooks: the delegating kernels call into the original's
    // wasm bindings, which its setupFunc creates when the backend initializes.
    tf.registerKernel({ ...original, kernelFunc: makeFast(original.kernelFunc) });
    added.push(kernelName);
  }
  return added;
}

/**
 * Puts back the wasm kernels that registerWasmTrainingKernels replaced (the missing-kernel
 * additions stay). For benchmarks that compare against stock tfjs-backend-wasm.
 * @returns the kernel names restored.
 */
export function restoreWasmKernels(): string[] {
  const restored = [...replaced.keys()];
  for (const [kernelName, original] of replaced) {
    tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel(original);
  }
  replaced.clear();
  return restored;
}

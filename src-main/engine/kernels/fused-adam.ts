/**
 * One Adam update of a variable as a single kernel, for the CPU backends (wasm, cpu).
 *
 * tf.train.adam spends ~15 kernels per variable per step (mul, add, square, div, sqrt, ...), each a
 * full pass over memory plus engine bookkeeping; on wasm that is ~25% of a LeNet-300-100 training
 * step and about half of its batch-size-independent cost. This kernel reads w, g, m, v once and
 * writes w', m', v' once, in one JavaScript loop over the backend's own memory (no copies on wasm:
 * views into the wasm heap). Backends without it get the same update from tf ops (fusedAdamUpdate).
 */
import * as tf from '@tensorflow/tfjs';
import type { WasmHeap } from './util';

export const FUSED_ADAM = 'TopiaryFusedAdam';

export interface FusedAdamAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** 1-based step count, for the bias corrections 1 - beta^t. */
  step: number;
}

/** The parts of MathBackendCPU this kernel uses. */
interface CpuLike {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

/**
 * m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2;
 * w' = w - lr * (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps)   (Kingma & Ba 2015, as tf.train.adam)
 */
function adamLoop(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, w1: Float32Array, m1: Float32Array, v1: Float32Array, a: FusedAdamAttrs): void {
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, step: t } = a;
  const c1 = 1 / (1 - b1 ** t);
  const c2 = 1 / (1 - b2 ** t);
  const ob1 = 1 - b1;
  const ob2 = 1 - b2;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = b1 * m[i] + ob1 * gi;
    const vi = b2 * v[i] + ob2 * gi * gi;
    m1[i] = mi;
    v1[i] = vi;
    w1[i] = w[i] - (lr * mi * c1) / (Math.sqrt(vi * c2) + eps);
  }
}

function checkInputs(inputs: tf.NamedTensorInfoMap): [tf.TensorInfo, tf.TensorInfo, tf.TensorInfo, tf.TensorInfo] {
  const { w, g, m, v } = inputs;
  if (!w || !g || !m || !v) throw new Error(`${FUSED_ADAM}: inputs w, g, m, v are required`);
  const size = tf.util.sizeFromShape(w.shape);
  for (const t of [w, g, m, v]) {
    if (t.dtype !== 'float32') throw new Error(`${FUSED_ADAM}: float32 inputs only, got ${t.dtype}`);
    if (tf.util.sizeFromShape(t.shape) !== size) throw new Error(`${FUSED_ADAM}: shapes differ (${w.shape} vs ${t.shape})`);
  }
  return [w, g, m, v];
}

const wasmFusedAdam: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const [w, g, m, v] = checkInputs(inputs);
  const b = backend as unknown as WasmHeap;
  const outs = [b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32')];
  // Views only after every allocation: growing the wasm memory detaches earlier views.
  const [w1, m1, v1] = outs.map((o) => b.typedArrayFromHeap(o));
  adamLoop(b.typedArrayFromHeap(w), b.typedArrayFromHeap(g), b.typedArrayFromHeap(m), b.typedArrayFromHeap(v), w1, m1, v1, attrs as unknown as FusedAdamAttrs);
  return outs;
};

const cpuFusedAdam: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const [w, g, m, v] = checkInputs(inputs);
  const b = backend as unknown as CpuLike;
  const size = tf.util.sizeFromShape(w.shape);
  const [w1, m1, v1] = [new Float32Array(size), new Float32Array(size), new Float32Array(size)];
  const read = (t: tf.TensorInfo) => b.readSync(t.dataId) as Float32Array;
  adamLoop(read(w), read(g), read(m), read(v), w1, m1, v1, attrs as unknown as FusedAdamAttrs);
  return [b.makeTensorInfo(w.shape, 'float32', w1), b.makeTensorInfo(w.shape, 'float32', m1), b.makeTensorInfo(w.shape, 'float32', v1)];
};

/**
 * Registers the fused Adam kernel for 'wasm' and 'cpu' (idempotent).
 * @example registerFusedAdam(); const [w1, m1, v1] = fusedAdamUpdate(w, g, m, v, attrs)
 */
export function registerFusedAdam(): void {
  for (const [backendName, kernelFunc] of [
    ['wasm', wasmFusedAdam],
    ['cpu', cpuFusedAdam],
  ] as const) {
    if (tf.getKernel(FUSED_ADAM, backendName) === undefined) tf.registerKernel({ kernelName: FUSED_ADAM, backendName, kernelFunc });
  }
}

/**
 * Largest variable the wasm kernel takes. Its loop is scalar JavaScript (~5-8 ns per element on
 * the dev box), while wasm's own elementwise kernels are SIMD (~0.4 ns per element per pass, ~14
 * passes, plus ~15 us per launch): the loop wins by launches below ~1e5 elements and loses above
 * (LeNet-300-100's 784x300 kernel: 3.4 ms fused vs 2.7 ms as ops).
 */
export const WASM_FUSED_MAX_SIZE = 65536;

let wasmFusedMaxSize = WASM_FUSED_MAX_SIZE;

/**
 * Raises (or restores) the size limit above, for when the wasm kernel is no longer the scalar loop
 * (native-kernels.ts replaces it with a vectorized one that wins at every size).
 */
export function setWasmFusedAdamMaxSize(size: number = WASM_FUSED_MAX_SIZE): void {
  wasmFusedMaxSize = size;
}

/**
 * New (w, m, v) after one Adam step, with tf.train.adam's formula: one kernel where registered for
 * the active backend (on wasm: for variables up to WASM_FUSED_MAX_SIZE unless raised), otherwise the same
 * formula in tf ops. The caller owns the outputs.
 * @example const [w1, m1, v1] = fusedAdamUpdate(w, g, m, v, { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, step: 1 })
 */
export function fusedAdamUpdate(w: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: FusedAdamAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const backend = tf.getBackend();
  if (tf.getKernel(FUSED_ADAM, backend) !== undefined && (backend !== 'wasm' || w.size <= wasmFusedMaxSize)) {
    const outs = tf.engine().runKernel(FUSED_ADAM, { w, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return [outs[0], outs[1], outs[2]];
  }
  return tf.tidy(() => {
    const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, step: t } = attrs;
    const m1 = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
    const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
    // lr m^ / (sqrt(v^) + eps) = [lr sqrt(1 - b2^t) / (1 - b1^t)] m / (sqrt(v) + eps sqrt(1 - b2^t)): one pass fewer.
    const s2 = Math.sqrt(1 - b2 ** t);
    const w1 = tf.sub(w, tf.mul(tf.div(m1, tf.add(tf.sqrt(v1), eps * s2)), (lr * s2) / (1 - b1 ** t)));
    return [w1, m1, v1] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
}

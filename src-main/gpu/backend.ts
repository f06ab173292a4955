/**
 * GPU backend choice in a browser window (Electron's renderer or a browser in web mode): WebGPU
 * (tfjs-backend-webgpu), else WebGL (tfjs-backend-webgl), the first that initializes and passes a
 * self-test — three Adam steps of a tiny masked net on it and on the cpu backend, same start, same
 * batches, losses and weights compared. `choice` forces one (`TOPIARY_BACKEND=webgl|webgpu`).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { GPU_BACKEND_NAMES, type GpuBackendChoice, type GpuBackendName, type GpuInfo, type GpuSelfTest } from '../common/contract/gpu';
import { compareTraces, startFor, syntheticSplit, trainOn, type CompareCase } from './train-compare';

/**
 * Self-test tolerance: relative, on every step's loss and on the weights' update (compareTraces).
 * Both sides compute in float32 and differ only in summation order: measured on SwiftShader WebGL,
 * losses agree to ~1e-7 and updates to ~1e-6. 100x that still tells a working backend from a broken
 * one (a wrong kernel, float16 textures, a driver bug), which is off by percents.
 */
export const SELF_TEST_TOLERANCE = { loss: 1e-5, update: 1e-4 };

const SELF_TEST: CompareCase = {
  name: 'self-test',
  steps: 3,
  batchSize: 16,
  learningRate: 1e-3,
  sparsity: 0.5,
  build: () => {
    const input = tf.input({ shape: [12] });
    const hidden = tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: tf.initializers.heNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }).apply(hidden) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  },
};

/** The self-test on `backend` (left active afterwards). */
export async function selfTest(backend: GpuBackendName): Promise<GpuSelfTest> {
  const t0 = performance.now();
  const start = await startFor(SELF_TEST, 1);
  const data = syntheticSplit([12], 3, SELF_TEST.steps * SELF_TEST.batchSize, 2);
  const cpu = await trainOn('cpu', SELF_TEST, start, data);
  const gpu = await trainOn(backend, SELF_TEST, start, data);
  const d = compareTraces(cpu, gpu, start);
  const leaks = gpu.maskLeaks.reduce((a, m) => a + m.nonZero, 0);
  return {
    steps: SELF_TEST.steps,
    cpuLoss: cpu.losses.at(-1) ?? NaN,
    gpuLoss: gpu.losses.at(-1) ?? NaN,
    relDiff: Math.max(d.lossRel, d.updateRel * (SELF_TEST_TOLERANCE.loss / SELF_TEST_TOLERANCE.update), leaks > 0 ? Infinity : 0),
    tolerance: SELF_TEST_TOLERANCE.loss,
    passed: d.lossRel <= SELF_TEST_TOLERANCE.loss && d.updateRel <= SELF_TEST_TOLERANCE.update && leaks === 0,
    ms: performance.now() - t0,
  };
}

interface WebGpuAdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
interface WebGpuAdapter {
  info?: WebGpuAdapterInfo;
  isFallbackAdapter?: boolean;
}

/** The adapter the active backend runs on, as the browser names it. */
async function adapterOf(backend: GpuBackendName): Promise<string | undefined> {
  if (backend === 'webgpu') {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    const adapter = (await gpu?.requestAdapter()) as WebGpuAdapter | null | undefined;
    const i = adapter?.info;
    if (!i) return undefined;
    return [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(' ') || 'unnamed adapter';
  }
  const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGLRenderingContext } }).gpgpu?.gl;
  if (!gl) return undefined;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
}

/** Why the browser offers no such backend, when it can say before tfjs tries. */
async function unavailable(backend: GpuBackendName): Promise<string | undefined> {
  if (backend === 'webgpu') {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return window.isSecureContext ? 'this browser exposes no WebGPU (navigator.gpu)' : 'WebGPU needs a secure context (https or localhost)';
    if (!(await gpu.requestAdapter().catch(() => null))) return 'the browser offers no WebGPU adapter (blocklisted GPU or driver; Chromium on Linux needs --enable-unsafe-webgpu)';
    return undefined;
  }
  const canvas = document.createElement('canvas');
  if (!canvas.getContext('webgl2') && !canvas.getContext('webgl')) return 'this browser gives no WebGL context (GPU blocked or disabled)';
  return undefined;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0];

/**
 * Picks and activates the GPU backend; with none usable, the cpu backend is left active and
 * `backend` is null, with every reason in `skipped`.
 * @example const info = await initGpu('auto'); console.log(info.backend, info.adapter)
 */
export async function initGpu(choice: GpuBackendChoice = 'auto'): Promise<GpuInfo> {
  const order: GpuBackendName[] = choice === 'auto' ? [...GPU_BACKEND_NAMES] : [choice];
  const skipped: GpuInfo['skipped'] = [];
  for (const name of order) {
    const why = await unavailable(name);
    if (why) {
      skipped.push({ name, reason: why });
      continue;
    }
    try {
      if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" did not initialize`);
      await tf.ready();
      const adapter = await adapterOf(name);
      const test = await selfTest(name);
      if (!test.passed) {
        skipped.push({ name, reason: `self-test failed: loss ${test.gpuLoss} vs cpu ${test.cpuLoss} after ${test.steps} Adam steps (relative difference ${test.relDiff.toExponential(2)}, tolerance ${test.tolerance})` });
        continue;
      }
      return { backend: name, adapter, software: isSoftware(adapter), selfTest: test, skipped, tfjsVersion: tf.version.tfjs };
    } catch (err) {
      skipped.push({ name, reason: message(err) });
    }
  }
  await tf.setBackend('cpu');
  return { backend: null, skipped, tfjsVersion: tf.version.tfjs };
}

/** SwiftShader, llvmpipe and friends: a GPU API on the CPU (fine for tests, slow for training). */
export function isSoftware(adapter: string | undefined): boolean {
  return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(adapter ?? '');
}

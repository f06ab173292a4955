/**
 * Compute backend selection: tfjs-node-gpu -> tfjs-node -> wasm -> cpu, first that loads wins.
 * `TOPIARY_BACKEND` (or the `force` option) picks one; forcing a backend that cannot load is an error.
 * `TOPIARY_WASM_THREADS=N` (or `wasmThreads`) opts in to the multi-threaded wasm build in Node.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, TopiaryError } from '../common/errors';
import { setMemoryCeiling } from '../engine/finetune/memory';
import { loadNativeAddon, requestedNativeThreads, type NativeStatus } from './native';
import { BACKEND_NAMES, type BackendChoice, type BackendInfo } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export { BACKEND_NAMES, type BackendChoice, type BackendInfo };

const require = createRequire(import.meta.url);

const PACKAGES: Record<BackendChoice, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let current: BackendInfo | undefined;

/**
 * tfjs-backend-wasm 4.22's heap maximum (its Emscripten getHeapMax(): 4 GiB minus one 64 KiB
 * page, the most a 32-bit wasm memory can address). Steps that need more trap with "memory
 * access out of bounds", so the trainer plans batches under it (engine/finetune/memory.ts).
 */
export const WASM_HEAP_MAX_BYTES = 4294901760;
setMemoryCeiling(() => (tf.getBackend() === 'wasm' ? WASM_HEAP_MAX_BYTES : undefined));

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

const WASM_PKG = '@tensorflow/tfjs-backend-wasm';
/** The line of the pthread worker that loads the main script from a Blob (see enableWasmThreads). */
const WORKER_BLOB_IMPORT =
  'var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)';

/**
 * Makes tfjs-backend-wasm's threaded build start in Node, which it refuses by default
 * (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired to false under Node, tfjs issue #3830). Three things
 * stand in the way, each worked around for the duration of the backend's initialization only:
 *  1. tfjs hands Emscripten the pthread worker as a `blob:` URL, which worker_threads cannot load:
 *     we write the worker script to a file and make URL.createObjectURL return its path.
 *  2. The worker then imports the main script from a Blob (again unreadable in Node): the written
 *     worker imports the package's own wasm-out/tfjs-backend-wasm-threaded-simd.js instead.
 *  3. The C++ side caps the pool at navigator.hardwareConcurrency / 2, which Emscripten reads in
 *     Node as os.cpus().length / 2 (so 1 on a 2-vCPU box): os.cpus reports 2 × the requested count.
 *  4. Workers inherit the parent's execArgv; flags such as `--input-type=module` (node -e) make the
 *     CommonJS worker fail, so our worker file starts with an empty execArgv.
 * Returns a function that undoes the global patches; call it once the backend has initialized.
 */
function enableWasmThreads(wasm: typeof import('@tensorflow/tfjs-backend-wasm'), threads: number): () => void {
  const workerModule = require(`${WASM_PKG}/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js`) as { wasmWorkerContents?: string };
  const source = workerModule.wasmWorkerContents;
  if (typeof source !== 'string' || !source.includes(WORKER_BLOB_IMPORT)) {
    throw new Error(`${WASM_PKG} ${packageVersion(WASM_PKG)}: unrecognized pthread worker script`);
  }
  const mainScript = require.resolve(`${WASM_PKG}/wasm-out/tfjs-backend-wasm-threaded-simd.js`);
  // The contents come from a template literal whose "\n" escapes are now real newlines inside
  // string literals; tfjs re-escapes them the same way before making its Blob.
  const patched = source.replace(/\n/g, '\\n').replace(WORKER_BLOB_IMPORT, `importScripts(${JSON.stringify(mainScript)})`);
  const digest = createHash('sha256').update(patched).digest('hex').slice(0, 16);
  const workerFile = path.join(os.tmpdir(), `topiary-tfjs-wasm-worker-${digest}.cjs`);
  if (!fs.existsSync(workerFile)) {
    const partial = `${workerFile}.${process.pid}.tmp`;
    fs.writeFileSync(partial, patched);
    fs.renameSync(partial, workerFile);
  }
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  // Emscripten takes the constructor from require('worker_threads') while it initializes.
  const threadsModule = require('node:worker_threads') as typeof import('node:worker_threads');
  const NodeWorker = threadsModule.Worker;
  threadsModule.Worker = class extends NodeWorker {
    constructor(file: string | URL, options?: import('node:worker_threads').WorkerOptions) {
      super(file, file === workerFile ? { ...options, execArgv: [] } : options);
    }
  };
  URL.createObjectURL = (obj: Blob) => (obj instanceof Blob && obj.type === 'application/javascript' ? workerFile : createObjectURL(obj));
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]);
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  return () => {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    threadsModule.Worker = NodeWorker;
  };
}

/** Idle pthread workers must not keep a CLI process alive (Emscripten ref()s them in Node). */
function unrefWasmWorkers(): void {
  const pthreads = (tf.findBackend('wasm') as unknown as { wasm?: { PThread?: { runningWorkers?: unknown[]; unusedWorkers?: unknown[] } } })
    ?.wasm?.PThread;
  for (const worker of [...(pthreads?.runningWorkers ?? []), ...(pthreads?.unusedWorkers ?? [])]) {
    (worker as { unref?: () => void }).unref?.();
  }
}

function requestedWasmThreads(option: number | undefined): number {
  const raw = option ?? (process.env.TOPIARY_WASM_THREADS ? Number(process.env.TOPIARY_WASM_THREADS) : 1);
  // tfjs-backend-wasm pre-creates 8 pthread workers; the pool can use no more.
  if (!Number.isInteger(raw) || raw < 1 || raw > 8) {
    throw new ConfigError(`TOPIARY_WASM_THREADS must be an integer from 1 to 8, got "${option ?? process.env.TOPIARY_WASM_THREADS}"`);
  }
  return raw;
}

let wasmThreadsRequested = 1;

async function tryLoad(name: BackendChoice): Promise<{ tfjsName: string; threads?: number; simd?: boolean; native?: NativeStatus; notes?: string[] }> {
  switch (name) {
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // The native packages register the "tensorflow" backend as a side effect of loading.
      require(PACKAGES[name]);
      if (!(await tf.setBackend('tensorflow'))) throw new Error('backend "tensorflow" did not initialize');
      return { tfjsName: 'tensorflow' };
    }
    case 'wasm': {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const notes: string[] = [];
      const { registerWasmTrainingKernels } = await import('../engine/kernels/wasm-training');
      registerWasmTrainingKernels();
      // The native addon wraps the wasm training kernels, which stay as its fallbacks.
      const { addon, status: native } = loadNativeAddon();
      if (addon) {
        const { registerNativeKernels } = await import('../engine/kernels/native-kernels');
        registerNativeKernels(addon);
        // Whole training steps too, for the models simple enough (the trainer says why not otherwise).
        const { setDefaultFusedTrainer } = await import('../engine/finetune/trainer');
        const { nativeFusedTrainer } = await import('./native-trainer');
        setDefaultFusedTrainer(nativeFusedTrainer(addon));
      }
      // The wasm module is instantiated once per process, on the first setBackend('wasm').
      const firstInit = !(tf.engine().registry as Record<string, unknown>).wasm;
      let undo = (): void => {};
      if (firstInit) {
        wasm.setWasmPaths(path.join(path.dirname(require.resolve(`${WASM_PKG}/package.json`)), 'dist') + path.sep);
        if (wasmThreadsRequested > 1) {
          try {
            undo = enableWasmThreads(wasm, wasmThreadsRequested);
          } catch (err) {
            notes.push(`wasm threads not enabled: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      } else if (wasmThreadsRequested > 1 && wasm.getThreadsCount() !== wasmThreadsRequested) {
        notes.push('wasm threads can only be chosen before the wasm backend first initializes');
      }
      try {
        if (!(await tf.setBackend('wasm'))) throw new Error('backend "wasm" did not initialize');
        await tf.ready();
      } finally {
        undo();
      }
      unrefWasmWorkers();
      return {
        tfjsName: 'wasm',
        threads: wasm.getThreadsCount(),
        simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
        native,
        ...(notes.length > 0 ? { notes } : {}),
      };
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error('backend "cpu" did not initialize');
      return { tfjsName: 'cpu', threads: 1 };
    }
  }
}

/** Backends only a browser window runs (src-main/gpu/); TOPIARY_BACKEND may name them. */
const WINDOW_BACKENDS = ['webgl', 'webgpu'] as const;
export type WindowBackend = (typeof WINDOW_BACKENDS)[number];

/** The browser GPU backend TOPIARY_BACKEND asks for (webgl, webgpu), if it names one. */
export function requestedWindowBackend(): WindowBackend | undefined {
  const raw = (process.env.TOPIARY_BACKEND ?? '').trim().toLowerCase();
  return (WINDOW_BACKENDS as readonly string[]).includes(raw) ? (raw as WindowBackend) : undefined;
}

/**
 * Reads the requested backend from the option or TOPIARY_BACKEND; undefined means "first that loads".
 * TOPIARY_BACKEND=webgl|webgpu picks the GPU window's backend; Node itself then takes the first that loads.
 */
function requestedBackend(force: string | undefined): BackendChoice | undefined {
  const fromEnv = force === undefined;
  const raw = (force ?? process.env.TOPIARY_BACKEND ?? '').trim().toLowerCase();
  if (raw === '' || raw === 'auto') return undefined;
  if (fromEnv && (WINDOW_BACKENDS as readonly string[]).includes(raw)) return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(raw)) {
    const source = fromEnv ? 'TOPIARY_BACKEND' : 'backend';
    const names = fromEnv ? [...BACKEND_NAMES, ...WINDOW_BACKENDS] : BACKEND_NAMES;
    throw new ConfigError(`${source} must be one of auto, ${names.join(', ')}; got "${force ?? process.env.TOPIARY_BACKEND}"`);
  }
  return raw as BackendChoice;
}

/**
 * Selects and initializes the compute backend and returns what was chosen. The first successful
 * choice is kept for the process; calling again re-activates it (tests switch backends freely).
 * Forcing a backend that cannot load throws a TopiaryError that says why.
 * @example const info = await initBackend(); console.log(info.name, info.version)
 * @example await initBackend({ force: 'wasm' }) // same as TOPIARY_BACKEND=wasm
 * @example await initBackend({ force: 'wasm', wasmThreads: 4 }) // same as TOPIARY_WASM_THREADS=4
 */
export async function initBackend(options: { force?: string; wasmThreads?: number } = {}): Promise<BackendInfo> {
  const forced = requestedBackend(options.force);
  wasmThreadsRequested = requestedWasmThreads(options.wasmThreads);
  // Checked here, not while loading wasm: a bad value must stop, not make the wasm backend "fail to load".
  requestedNativeThreads();
  if (current && (!forced || forced === current.name)) {
    if (tf.getBackend() !== current.tfjsName && !(await tf.setBackend(current.tfjsName))) {
      throw new TopiaryError(`backend "${current.name}" no longer initializes`);
    }
    return current;
  }
  const order: BackendChoice[] = forced ? [forced] : [...BACKEND_NAMES];
  const skipped: BackendInfo['skipped'] = [];
  for (const name of order) {
    try {
      const loaded = await tryLoad(name);
      current = {
        name,
        ...loaded,
        package: PACKAGES[name],
        version: packageVersion(PACKAGES[name]),
        tfjsVersion: tf.version.tfjs,
        skipped,
      };
      return current;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      skipped.push({ name, reason });
    }
  }
  const why = skipped.map((s) => `${s.name} (${s.reason})`).join('; ');
  throw new TopiaryError(forced ? `backend "${forced}" could not be loaded: ${why}` : `no compute backend could be loaded: ${why}`);
}

/** The backend chosen by initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/**
 * Compute backend selection: tfjs-node-gpu -> tfjs-node -> wasm -> cpu, first that loads wins.
 * `TOPIARY_BACKEND` (or the `force` option) picks one; forcing a backend that cannot load is an error.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ConfigError, TopiaryError } from '../common/errors';

const require = createRequire(import.meta.url);

export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** Topiary's name for it: tensorflow-gpu, tensorflow, wasm or cpu. */
  name: BackendChoice;
  /** tfjs's registered backend name (tfjs-node-gpu registers as "tensorflow" too). */
  tfjsName: string;
  /** npm package that provides it and its version. */
  package: string;
  version: string;
  tfjsVersion: string;
  threads?: number;
  simd?: boolean;
  /** Why the backends before it were skipped. */
  skipped: { name: BackendChoice; reason: string }[];
}

const PACKAGES: Record<BackendChoice, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let current: BackendInfo | undefined;

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function tryLoad(name: BackendChoice): Promise<{ tfjsName: string; threads?: number; simd?: boolean }> {
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
      const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
      wasm.setWasmPaths(dist);
      const { registerWasmTrainingKernels } = await import('../engine/kernels/wasm-training');
      registerWasmTrainingKernels();
      if (!(await tf.setBackend('wasm'))) throw new Error('backend "wasm" did not initialize');
      await tf.ready();
      return {
        tfjsName: 'wasm',
        threads: wasm.getThreadsCount(),
        simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      };
    }
    case 'cpu': {
      if (!(await tf.setBackend('cpu'))) throw new Error('backend "cpu" did not initialize');
      return { tfjsName: 'cpu', threads: 1 };
    }
  }
}

/**
 * Selects and initializes the compute backend once per process and returns what was chosen.
 * @example const info = await initBackend(); console.log(info.name, info.version)
 */
export async function initBackend(options: { force?: string } = {}): Promise<BackendInfo> {
  const forced = options.force ?? process.env.TOPIARY_BACKEND;
  if (current && (!forced || forced === current.name)) return current;
  let order: BackendChoice[] = [...BACKEND_NAMES];
  if (forced) {
    if (!(BACKEND_NAMES as readonly string[]).includes(forced)) {
      throw new ConfigError(`TOPIARY_BACKEND must be one of ${BACKEND_NAMES.join(', ')}, got "${forced}"`);
    }
    order = [forced as BackendChoice];
  }
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
  throw new TopiaryError(
    `no compute backend could be loaded: ${skipped.map((s) => `${s.name} (${s.reason})`).join('; ')}`,
  );
}

/** The backend chosen by initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

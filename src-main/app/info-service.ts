/** Facts about this installation: versions, backend, where data lives. */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fusedLayerKinds } from '../engine/finetune/fused-step';
import { initBackend, requestedWindowBackend, type BackendInfo } from '../node/backend';
import { appRoot, defaultDbPath, resourcesDir, topiaryHome } from './paths';
import { SettingsService } from './settings-service';
import type { ResolvedTrainingBackend } from '../common/settings';
import type { AppInfo } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { AppInfo };

export function appVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(appRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Versions of everything that can change a run's numbers; recorded with every run. */
export function versions(backend: BackendInfo): Record<string, string> {
  return {
    topiary: appVersion(),
    node: process.versions.node,
    tfjs: tf.version.tfjs,
    backend: `${backend.name} (${backend.package}@${backend.version})`,
    // Matrix products, convolutions and Adam ran natively: results agree with wasm to float rounding.
    ...(backend.native?.loaded ? { native: `topiary-native (${backend.native.isa}, ${backend.native.threads} threads)` } : {}),
  };
}

/** `home`: the data folder whose settings apply (the engine worker is given its front door's). */
export async function getInfo(opts: { home?: string } = {}): Promise<AppInfo> {
  const backend = await initBackend();
  const home = opts.home ?? topiaryHome();
  const settings = new SettingsService(home).view();
  return {
    app: { name: 'topiary', version: appVersion() },
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    tfjs: tf.version.tfjs,
    backend,
    dataDir: home,
    database: defaultDbPath(),
    resources: resourcesDir(),
    training: {
      nativeGraphStep: { available: backend.native?.loaded === true && backend.name === 'wasm', layers: fusedLayerKinds() },
      tfjsStep: 'every other model (any layer tfjs-layers trains), SGD, distillation, movement scores',
    },
    gpu: gpuStatus(backend, settings.training),
    settings,
  };
}

/**
 * The one line about the GPU. Node trains on a GPU only through tfjs-node-gpu (CUDA); WebGPU and
 * WebGL run in a browser window: web mode's /gpu.html picks one and checks it against the CPU.
 * `training`: the resolved training backend; a GPU chosen in the settings is said as such.
 */
export function gpuStatus(backend: BackendInfo, training?: ResolvedTrainingBackend): NonNullable<AppInfo['gpu']> {
  const requested = requestedWindowBackend();
  if (backend.name === 'tensorflow-gpu') return { used: true, detail: `CUDA through ${backend.package}@${backend.version}` };
  const window = 'WebGPU/WebGL run in a browser window: `topiary web`, then open /gpu.html';
  if (requested) {
    return { used: false, requested, detail: `none used here: TOPIARY_BACKEND=${requested} applies to the GPU window, the CLI trains on ${backend.name} (${window})` };
  }
  if (training?.source === 'settings' && (training.choice === 'webgl' || training.choice === 'webgpu')) {
    return { used: false, requested: training.choice, detail: `none used here: the settings choose ${training.choice} for the GPU window, the CLI trains on ${backend.name} (${window})` };
  }
  const cuda = backend.skipped.find((s) => s.name === 'tensorflow-gpu');
  return { used: false, detail: `none used (the CLI trains on the CPU${cuda ? '; tfjs-node-gpu not loaded' : ''}; ${window})` };
}

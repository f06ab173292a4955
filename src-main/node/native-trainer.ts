/**
 * The engine's FusedTrainer on Topiary's native addon (native/train.c): one call per batch runs
 * forward, loss, backward and masked Adam for the chain of layers fusedSpecOf described. Installed
 * as the fine-tuning default by initBackend when the addon is loaded and the backend is wasm;
 * `TOPIARY_FUSED_STEP=0` keeps every step in tfjs.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import type { FusedHyper, FusedModelSpec, FusedTrainer, FusedTrainerFactory } from '../engine/finetune/fused-step';
import { switchedOff, type NativeAddon } from './native';

/** Integers per layer in native/train.h's description (TP_LAYER_CODE). */
const LAYER_CODE = 24;
const KIND = { dense: 1, conv: 2, pool: 3, flatten: 4 } as const;

export interface NativeTrainerAddon extends NativeAddon {
  trainerCreate(codes: Int32Array, paramSizes: Float64Array, probs: number, learningRate: number, beta1: number, beta2: number, epsilon: number): object;
  trainerParam(trainer: object, index: number, values: Float32Array, write: number): void;
  trainerMask(trainer: object, index: number, mask: Float32Array | null): void;
  trainerStep(trainer: object, x: Float32Array, labels: Int32Array, n: number): [number, number];
  trainerFree(trainer: object): void;
}

/** native/train.h's layer description of a spec. */
export function layerCodes(spec: FusedModelSpec): Int32Array {
  const codes = new Int32Array(spec.layers.length * LAYER_CODE);
  spec.layers.forEach((l, i) => {
    const at = i * LAYER_CODE;
    codes.set([KIND[l.kind], l.relu ? 1 : 0, l.softmax ? 1 : 0, l.weight ?? -1, l.bias ?? -1, l.inSize, l.outSize, ...l.geometry], at);
  });
  return codes;
}

class NativeTrainer implements FusedTrainer {
  private handle: object | undefined;
  private readonly variables: tf.LayerVariable[];

  constructor(
    private readonly addon: NativeTrainerAddon,
    model: tf.LayersModel,
    private readonly spec: FusedModelSpec,
    hyper: FusedHyper,
    private readonly masks: Map<string, tf.Tensor>,
  ) {
    this.variables = model.trainableWeights;
    const sizes = Float64Array.from(spec.params.map((p) => p.size));
    this.handle = addon.trainerCreate(layerCodes(spec), sizes, spec.probs ? 1 : 0, hyper.learningRate, hyper.beta1, hyper.beta2, hyper.epsilon);
    this.pull();
  }

  private get trainer(): object {
    if (!this.handle) throw new Error('native trainer used after dispose');
    return this.handle;
  }

  step(x: Float32Array, y: Int32Array): [number, number] {
    try {
      return this.addon.trainerStep(this.trainer, x, y, y.length);
    } catch (err) {
      // Labels the model has no output for: the tfjs step would silently train on a zero one-hot row.
      if (err instanceof RangeError && /label/.test(err.message)) {
        throw new ConfigError(`dataset ${err.message.replace(/^topiary-native: /, '')}, but the model has ${this.spec.classes} outputs`);
      }
      throw err;
    }
  }

  pull(): void {
    this.variables.forEach((v, i) => {
      this.addon.trainerParam(this.trainer, i, v.read().dataSync() as Float32Array, 1);
      const mask = this.masks.get(v.name);
      this.addon.trainerMask(this.trainer, i, mask ? (mask.dataSync() as Float32Array) : null);
    });
  }

  push(): void {
    this.variables.forEach((v, i) => {
      const values = new Float32Array(this.spec.params[i].size);
      this.addon.trainerParam(this.trainer, i, values, 0);
      const t = tf.tensor(values, this.spec.params[i].shape);
      v.write(t);
      t.dispose();
    });
  }

  dispose(): void {
    if (this.handle) this.addon.trainerFree(this.handle);
    this.handle = undefined;
  }
}

/**
 * A FusedTrainerFactory on `addon`; it declines (with the reason) unless the active tfjs backend
 * is wasm, so other backends keep their own training path.
 * @example setDefaultFusedTrainer(nativeFusedTrainer(addon))
 */
export function nativeFusedTrainer(addon: NativeAddon): FusedTrainerFactory {
  const native = addon as NativeTrainerAddon;
  return (model, spec, hyper, masks) => {
    if (tf.getBackend() !== 'wasm') return `the fused native step runs with the wasm backend only (active: ${tf.getBackend()})`;
    if (switchedOff('TOPIARY_FUSED_STEP')) return 'disabled by TOPIARY_FUSED_STEP';
    if (typeof native.trainerCreate !== 'function') return 'the native addon predates the fused step (npm run build:native)';
    return new NativeTrainer(native, model, spec, hyper, masks);
  };
}

/**
 * The engine's FusedTrainer on Topiary's native addon (native/train.c): one call per batch runs
 * forward, loss, backward and masked Adam for the graph of layers fusedSpecOf described. Installed
 * as the fine-tuning default by initBackend when the addon is loaded and the backend is wasm;
 * `TOPIARY_FUSED_STEP=0` keeps every step in tfjs.
 *
 * Threads: the batch runs as one lane per native thread (TOPIARY_NATIVE_THREADS), the lanes
 * meeting at each BatchNorm to add up batch statistics. `TOPIARY_GRAPH_LANES=1` instead runs one
 * lane whose GEMMs/convolutions use the threads (parallel inside ops); measured on a shared 2-core
 * box that was 14x slower for the 28x28 MobileNetV2-style net (a fork/join per op instead of two
 * barriers per BatchNorm), so lanes are the default.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import type { FusedActivation, FusedHyper, FusedModelSpec, FusedNodeKind, FusedTrainer, FusedTrainerFactory } from '../engine/finetune/fused-step';
import { switchedOff, type NativeAddon } from './native';

/** native/train.h's node description: TP_NODE_CODE ints per node, inputs at 10, geometry at TP_GEOMETRY_AT. */
const NODE_CODE = 32;
const MAX_INPUTS = 8;
const GEOMETRY_AT = 18;
/** native/train.h's node kinds and activations; its table of what each kind means is the spec's FusedNode. */
const KIND: Record<FusedNodeKind, number> = { dense: 1, conv: 2, maxpool: 3, identity: 4, depthwise: 5, batchnorm: 6, activation: 7, add: 8, pad: 9, avgpool: 10, gap: 11 };
const ACTIVATION: Record<FusedActivation, number> = { linear: 0, relu: 1, relu6: 2 };

export interface NativeTrainerAddon extends NativeAddon {
  trainerCreate(codes: Int32Array, reals: Float64Array, paramSizes: Float64Array, probs: number, learningRate: number, beta1: number, beta2: number, epsilon: number): object;
  trainerParam(trainer: object, index: number, values: Float32Array, write: number): void;
  trainerMask(trainer: object, index: number, mask: Float32Array | null): void;
  trainerStep(trainer: object, x: Float32Array, labels: Int32Array, n: number): [number, number];
  trainerFree(trainer: object): void;
  trainerBytes(trainer: object): number;
  trainerPredict?(trainer: object, x: Float32Array, n: number, out: Float32Array): void;
}

/** native/train.h's node description of a spec: the int codes and the reals, or why it does not fit. */
export function nodeCodes(spec: FusedModelSpec): { codes: Int32Array; reals: Float64Array } | string {
  const codes = new Int32Array(spec.nodes.length * NODE_CODE);
  const reals = new Float64Array(spec.nodes.length * 2);
  for (const [i, n] of spec.nodes.entries()) {
    if (n.inputs.length > MAX_INPUTS) return `${n.name} adds more than ${MAX_INPUTS} inputs`;
    const at = i * NODE_CODE;
    codes.set([KIND[n.kind], ACTIVATION[n.activation], n.softmax ? 1 : 0, ...n.params, n.inSize, n.outSize, n.inputs.length], at);
    codes.set(n.inputs, at + 10);
    codes.set(n.geometry, at + GEOMETRY_AT);
    reals.set(n.reals, i * 2);
  }
  return { codes, reals };
}

class NativeTrainer implements FusedTrainer {
  readonly label = 'native graph step';
  private handle: object | undefined;
  private readonly variables: tf.LayerVariable[];
  readonly predict?: (x: Float32Array, n: number) => Float32Array;

  constructor(
    private readonly addon: NativeTrainerAddon,
    model: tf.LayersModel,
    private readonly spec: FusedModelSpec,
    hyper: FusedHyper,
    private readonly masks: Map<string, tf.Tensor>,
    { codes, reals }: { codes: Int32Array; reals: Float64Array },
  ) {
    // The spec's parameter order: trainable weights, then BatchNorm moving statistics.
    this.variables = [...model.trainableWeights, ...model.nonTrainableWeights];
    const sizes = Float64Array.from(spec.params.map((p) => p.size));
    // An addon built before trainerPredict trains but leaves inference to tfjs.
    const predict = addon.trainerPredict;
    if (predict) {
      this.predict = (x, n) => {
        const out = new Float32Array(n * spec.classes);
        predict.call(addon, this.trainer, x, n, out);
        return out;
      };
    }
    this.handle = addon.trainerCreate(codes, reals, sizes, spec.probs ? 1 : 0, hyper.learningRate, hyper.beta1, hyper.beta2, hyper.epsilon);
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
      if (err instanceof RangeError && /label|out of memory/.test(err.message)) {
        if (/out of memory/.test(err.message)) throw new ConfigError(err.message.replace(/^topiary-native: /, ''));
        throw new ConfigError(`dataset ${err.message.replace(/^topiary-native: /, '')}, but the model has ${this.spec.classes} outputs`);
      }
      throw err;
    }
  }

  pull(): void {
    this.variables.forEach((v, i) => {
      this.addon.trainerParam(this.trainer, i, v.read().dataSync() as Float32Array, 1);
      const mask = this.spec.params[i].trainable ? this.masks.get(v.name) : undefined;
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

  /** Bytes of activation memory the native trainer holds (outside the wasm heap). */
  bytes(): number {
    return this.addon.trainerBytes(this.trainer);
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
    if (typeof native.trainerBytes !== 'function') return 'the native addon predates the graph step (npm run build:native)';
    const described = nodeCodes(spec);
    if (typeof described === 'string') return described;
    return new NativeTrainer(native, model, spec, hyper, masks, described);
  };
}

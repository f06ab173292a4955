/**
 * Whole-step training outside tfjs, for models simple enough to describe as a chain of layers.
 *
 * A tfjs training step is ~100-170 kernel launches (forward, tape, gradients, Adam), each with
 * engine bookkeeping that costs more than the arithmetic on LeNet-sized models. A "fused trainer"
 * (Topiary's native addon provides one, src-main/node/native-trainer.ts) runs forward, softmax
 * cross-entropy, backward and masked Adam in one call per batch on its own copy of the weights,
 * which the fine-tuning loop copies back into the model whenever anything else needs them.
 * The engine only describes the model (fusedSpecOf) and drives the FusedTrainer interface.
 */
import * as tf from '@tensorflow/tfjs';
import { pair } from '../kernels/util';
import { allLayers } from '../prune/weights';
import { outputIsProbabilities } from './loss';

export type FusedLayerKind = 'dense' | 'conv' | 'pool' | 'flatten';

export interface FusedLayer {
  kind: FusedLayerKind;
  /** Layer name, for messages. */
  name: string;
  relu: boolean;
  /** Final Dense layer with softmax. */
  softmax: boolean;
  /** Indices into FusedModelSpec.params. */
  weight?: number;
  bias?: number;
  /** Values per sample in and out. */
  inSize: number;
  outSize: number;
  /**
   * conv: inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW, dilationH,
   * dilationW, padTop, padLeft. pool: inH, inW, C, outH, outW, poolH, poolW, strideH, strideW,
   * padTop, padLeft. Empty for dense and flatten.
   */
  geometry: number[];
}

export interface FusedModelSpec {
  layers: FusedLayer[];
  /** The model's trainable weights in order: the LayerVariable (its name keys the masks) and size. */
  params: { name: string; shape: number[]; size: number }[];
  /** The model ends in softmax (the loss then works on log-probabilities, as loss.ts does). */
  probs: boolean;
  inputSize: number;
  classes: number;
}

export interface FusedTrainer {
  /** One masked Adam step on a batch; the batch's mean loss and accuracy before the update. */
  step(x: Float32Array, y: Int32Array): [number, number];
  /** Copies the model's current weights and the current masks in (after something else changed them). */
  pull(): void;
  /** Writes the trained weights back into the model's variables. */
  push(): void;
  dispose(): void;
}

export interface FusedHyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Makes a trainer for `model` (described by `spec`), or says why it cannot. */
export type FusedTrainerFactory = (model: tf.LayersModel, spec: FusedModelSpec, hyper: FusedHyper, masks: Map<string, tf.Tensor>) => FusedTrainer | string;

/** The parts of a layer's getConfig() this file reads. */
interface LayerConfig {
  activation?: string;
  dataFormat?: string;
  dilationRate?: number | number[];
  kernelSize?: number | number[];
  strides?: number | number[];
  poolSize?: number | number[];
  padding?: 'valid' | 'same';
  filters?: number;
  rate?: number;
}


function shapeOf(layer: tf.layers.Layer, which: 'input' | 'output'): number[] | string {
  const tensor = which === 'input' ? layer.input : layer.output;
  if (Array.isArray(tensor)) return `${layer.name} has more than one ${which}`;
  const dims = tensor.shape.slice(1);
  if (dims.some((d) => d === null)) return `${layer.name} has an unknown ${which} size`;
  return dims as number[];
}

/**
 * The chain of layers a fused trainer runs, or the reason this model needs the tfjs path: only
 * single-input chains of Dense (linear/relu, softmax last), Conv2D (channels-last, linear/relu,
 * dilation 1), MaxPooling2D, Flatten and zero-rate Dropout, ending in Dense, all weights trainable.
 * @example const spec = fusedSpecOf(model); if (typeof spec === 'string') console.log(spec)
 */
export function fusedSpecOf(model: tf.LayersModel): FusedModelSpec | string {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return 'more than one input or output';
  if (model.nonTrainableWeights.length > 0) return `non-trainable weights (${model.nonTrainableWeights[0].name})`;
  const params = model.trainableWeights.map((w) => ({ name: w.name, shape: w.shape as number[], size: tf.util.sizeFromShape(w.shape as number[]) }));
  const paramIndex = new Map(model.trainableWeights.map((w, i) => [w, i]));
  const layers = allLayers(model).filter((l) => l.getClassName() !== 'InputLayer');
  if (layers.length !== model.layers.filter((l) => l.getClassName() !== 'InputLayer').length) return 'nested models';
  const out: FusedLayer[] = [];
  let prev: tf.layers.Layer | undefined;
  for (const [i, layer] of layers.entries()) {
    const inbound = layer.inboundNodes;
    if (inbound.length !== 1 || inbound[0].inboundLayers.length !== 1) return `${layer.name} is not part of a simple chain`;
    const from = inbound[0].inboundLayers[0];
    if (prev ? from !== prev : from.getClassName() !== 'InputLayer') return `${layer.name} is not part of a simple chain`;
    prev = layer;
    const inShape = shapeOf(layer, 'input');
    const outShape = shapeOf(layer, 'output');
    if (typeof inShape === 'string') return inShape;
    if (typeof outShape === 'string') return outShape;
    const config = layer.getConfig() as LayerConfig;
    const cls = layer.getClassName();
    const activation = config.activation ?? 'linear';
    const isLast = i === layers.length - 1;
    const base = { name: layer.name, inSize: tf.util.sizeFromShape(inShape), outSize: tf.util.sizeFromShape(outShape), relu: activation === 'relu', softmax: activation === 'softmax' };
    const weights = (): { weight?: number; bias?: number } | string => {
      const own = layer.trainableWeights;
      const kernel = (layer as unknown as { kernel?: tf.LayerVariable }).kernel;
      const bias = (layer as unknown as { bias?: tf.LayerVariable | null }).bias ?? undefined;
      if (!kernel || own.length !== (bias ? 2 : 1)) return `${layer.name} has weights other than a kernel and a bias`;
      return { weight: paramIndex.get(kernel), ...(bias ? { bias: paramIndex.get(bias) } : {}) };
    };
    if (!['linear', 'relu', 'softmax'].includes(activation)) return `${layer.name} uses activation ${activation}`;
    if (base.softmax && (!isLast || cls !== 'Dense')) return `${layer.name}: softmax only on the final Dense layer`;
    switch (cls) {
      case 'Dense': {
        if (inShape.length !== 1) return `${layer.name}: Dense on a rank-${inShape.length + 1} input`;
        const w = weights();
        if (typeof w === 'string') return w;
        out.push({ kind: 'dense', ...base, ...w, geometry: [] });
        break;
      }
      case 'Conv2D': {
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return `${layer.name} is channels-first`;
        const [dh, dw] = pair(config.dilationRate ?? 1);
        if (dh !== 1 || dw !== 1) return `${layer.name} is dilated`;
        const w = weights();
        if (typeof w === 'string') return w;
        const [h, wd, c] = inShape;
        const [kh, kw] = pair(config.kernelSize);
        const filters = Number(config.filters);
        const info = tf.backend_util.computeConv2DInfo([1, h, wd, c], [kh, kw, c, filters], pair(config.strides ?? 1), 1, config.padding ?? 'valid');
        out.push({
          kind: 'conv',
          ...base,
          ...w,
          geometry: [h, wd, c, kh, kw, filters, info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, 1, 1, info.padInfo.top, info.padInfo.left],
        });
        break;
      }
      case 'MaxPooling2D': {
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return `${layer.name} is channels-first`;
        const [h, wd, c] = inShape;
        const pool = pair(config.poolSize ?? 2);
        const info = tf.backend_util.computePool2DInfo([1, h, wd, c], pool, pair(config.strides ?? pool), 1, config.padding ?? 'valid');
        out.push({
          kind: 'pool',
          ...base,
          geometry: [h, wd, c, info.outHeight, info.outWidth, pool[0], pool[1], info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left],
        });
        break;
      }
      case 'Flatten':
        if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') return `${layer.name} is channels-first`;
        out.push({ kind: 'flatten', ...base, geometry: [] });
        break;
      case 'Dropout':
        if (Number(config.rate) > 0) return `${layer.name}: dropout is random in training`;
        out.push({ kind: 'flatten', ...base, geometry: [] });
        break;
      default:
        return `${layer.name} is a ${cls}`;
    }
  }
  const last = out[out.length - 1];
  if (!last || last.kind !== 'dense') return 'the model does not end in a Dense layer';
  const covered = new Set(out.flatMap((l) => [l.weight, l.bias]).filter((v) => v !== undefined));
  if (covered.size !== params.length) return 'some trainable weights belong to no supported layer';
  return { layers: out, params, probs: outputIsProbabilities(model), inputSize: out[0].inSize, classes: last.outSize };
}

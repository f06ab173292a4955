/**
 * Whole-step training outside tfjs, for models described as a graph of supported layers.
 *
 * A tfjs training step is ~100-2,500 kernel launches (forward, tape, gradients, Adam), each with
 * engine bookkeeping that costs more than the arithmetic on small models. A "fused trainer"
 * (Topiary's native addon provides one, src-main/node/native-trainer.ts) runs forward, softmax
 * cross-entropy, backward and masked Adam in one call per batch on its own copy of the weights,
 * which the fine-tuning loop copies back into the model whenever anything else needs them.
 *
 * The engine only describes the model (fusedSpecOf: one node per layer, in topological order, each
 * with its kind, geometry, input nodes and parameters, derived from the LayersModel itself through
 * the FUSED_LAYERS table) and drives the FusedTrainer interface. A plain chain (LeNet) is the graph
 * whose every node reads the one before it.
 */
import * as tf from '@tensorflow/tfjs';
import { pair } from '../kernels/util';
import { allLayers } from '../prune/weights';
import { outputIsProbabilities } from './loss';

export type FusedNodeKind = 'dense' | 'conv' | 'depthwise' | 'maxpool' | 'avgpool' | 'batchnorm' | 'activation' | 'add' | 'pad' | 'gap' | 'identity';

/** Activations a node may apply to its output (softmax only as the model's last step, in the loss). */
export type FusedActivation = 'linear' | 'relu' | 'relu6';

export interface FusedNode {
  kind: FusedNodeKind;
  /** Layer name, for messages. */
  name: string;
  activation: FusedActivation;
  /** The model's final softmax (the loss applies it; the node outputs its input). */
  softmax: boolean;
  /** Input node indices (-1: the model input), all before this node. */
  inputs: number[];
  /**
   * Indices into FusedModelSpec.params, by role (-1: none): dense/conv/depthwise [kernel, bias];
   * batchnorm [gamma, beta, moving mean, moving variance].
   */
  params: number[];
  /** Values per sample in (of the first input) and out. */
  inSize: number;
  outSize: number;
  /**
   * conv/depthwise: inH, inW, inC, filterH, filterW, outC, outH, outW, strideH, strideW, dilationH,
   * dilationW, padTop, padLeft. maxpool/avgpool: inH, inW, C, outH, outW, poolH, poolW, strideH,
   * strideW, padTop, padLeft. batchnorm: C. pad: inH, inW, C, top, bottom, left, right. gap: inH,
   * inW, C. Empty otherwise.
   */
  geometry: number[];
  /** batchnorm: 1 - momentum, epsilon. */
  reals: [number, number];
}

export interface FusedModelSpec {
  nodes: FusedNode[];
  /**
   * The weights the trainer holds: the model's trainable weights in order, then BatchNorm moving
   * statistics (trainable false: the forward pass updates them). The name keys the masks.
   */
  params: { name: string; shape: number[]; size: number; trainable: boolean }[];
  /** The model ends in softmax (the loss then works on log-probabilities, as loss.ts does). */
  probs: boolean;
  inputSize: number;
  classes: number;
}

export interface FusedTrainer {
  /** What ran the steps, for FinetuneResult.fused.note (e.g. "native graph step"). */
  readonly label?: string;
  /** One masked Adam step on a batch; the batch's mean loss and accuracy before the update. */
  step(x: Float32Array, y: Int32Array): [number, number];
  /** Copies the model's current weights and the current masks in (after something else changed them). */
  pull(): void;
  /** Writes the trained weights (and BatchNorm statistics) back into the model's variables. */
  push(): void;
  /**
   * The model's outputs (n x classes, what model.predict gives: probabilities when it ends in
   * softmax) for n samples, in inference mode (BatchNorm on its moving statistics), with the
   * weights as last pulled. Absent when the trainer has no forward of its own.
   */
  predict?(x: Float32Array, n: number): Float32Array;
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
  depthMultiplier?: number;
  maxValue?: number | null;
  axis?: number | number[];
  momentum?: number;
  epsilon?: number;
  center?: boolean;
  scale?: boolean;
}

/** What a layer's builder sees: the layer, its per-sample shapes, and how to name its weights. */
interface LayerContext {
  layer: tf.layers.Layer;
  config: LayerConfig;
  inShape: number[];
  outShape: number[];
  inputs: number[];
  /** Index of a weight in FusedModelSpec.params (undefined: not a weight of this model). */
  param: (w: tf.LayerVariable | null | undefined) => number | undefined;
}

/** The node for a layer (kind, geometry, parameters), or why it is not supported. */
type NodeBuilder = (c: LayerContext) => Omit<FusedNode, 'name' | 'inputs' | 'inSize' | 'outSize' | 'softmax'> & { softmax?: boolean } | string;

const ACTIVATIONS: Record<string, FusedActivation> = { linear: 'linear', relu: 'relu', relu6: 'relu6' };

const NO_REALS: [number, number] = [0, 0];

function channelsLast(c: LayerContext): string | undefined {
  if (c.config.dataFormat !== undefined && c.config.dataFormat !== 'channelsLast') return `${c.layer.name} is channels-first`;
  return undefined;
}

/** A layer's own activation; softmax is allowed (the caller checks it is the model's last step). */
function activationOf(c: LayerContext): { activation: FusedActivation; softmax?: boolean } | string {
  const name = c.config.activation ?? 'linear';
  if (name === 'softmax') return { activation: 'linear', softmax: true };
  const act = ACTIVATIONS[name];
  return act ? { activation: act } : `${c.layer.name} uses activation ${name}`;
}

/** [kernel, bias] parameter indices of a layer whose only weights are a kernel and maybe a bias. */
function kernelAndBias(c: LayerContext, kernelField = 'kernel'): number[] | string {
  const fields = c.layer as unknown as Record<string, tf.LayerVariable | null | undefined>;
  const kernel = c.param(fields[kernelField]);
  const bias = fields.bias ? c.param(fields.bias) : -1;
  if (kernel === undefined || bias === undefined || c.layer.weights.length !== (fields.bias ? 2 : 1)) return `${c.layer.name} has weights other than a kernel and a bias`;
  return [kernel, bias, -1, -1];
}

function rank4(c: LayerContext): string | undefined {
  return c.inShape.length === 3 ? channelsLast(c) : `${c.layer.name} expects an image input (rank 4), got rank ${c.inShape.length + 1}`;
}

function convolution(depthwise: boolean): NodeBuilder {
  return (c) => {
    const bad = rank4(c);
    if (bad) return bad;
    const [dh, dw] = pair(c.config.dilationRate ?? 1);
    if (dh !== 1 || dw !== 1) return `${c.layer.name} is dilated`;
    if (depthwise && (c.config.depthMultiplier ?? 1) !== 1) return `${c.layer.name} has depth multiplier ${c.config.depthMultiplier}`;
    const act = activationOf(c);
    if (typeof act === 'string') return act;
    const params = kernelAndBias(c, depthwise ? 'depthwiseKernel' : 'kernel');
    if (typeof params === 'string') return params;
    const [h, w, ch] = c.inShape;
    const [kh, kw] = pair(c.config.kernelSize);
    const filter: [number, number, number, number] = depthwise ? [kh, kw, ch, 1] : [kh, kw, ch, Number(c.config.filters)];
    const info = tf.backend_util.computeConv2DInfo([1, h, w, ch], filter, pair(c.config.strides ?? 1), 1, c.config.padding ?? 'valid', undefined, depthwise);
    const geometry = [h, w, ch, kh, kw, info.outChannels, info.outHeight, info.outWidth, info.strideHeight, info.strideWidth, 1, 1, info.padInfo.top, info.padInfo.left];
    return { kind: depthwise ? 'depthwise' : 'conv', ...act, params, geometry, reals: NO_REALS };
  };
}

function pooling(kind: 'maxpool' | 'avgpool'): NodeBuilder {
  return (c) => {
    const bad = rank4(c);
    if (bad) return bad;
    const [h, w, ch] = c.inShape;
    const pool = pair(c.config.poolSize ?? 2);
    const info = tf.backend_util.computePool2DInfo([1, h, w, ch], pool, pair(c.config.strides ?? pool), 1, c.config.padding ?? 'valid');
    const pad = info.padInfo;
    // tfjs averages over the window's pixels inside the image: only unpadded windows are plain means.
    if (kind === 'avgpool' && (pad.top || pad.left || pad.bottom || pad.right)) return `${c.layer.name}: average pooling over padded windows`;
    const geometry = [h, w, ch, info.outHeight, info.outWidth, pool[0], pool[1], info.strideHeight, info.strideWidth, pad.top, pad.left];
    return { kind, activation: 'linear', params: [-1, -1, -1, -1], geometry, reals: NO_REALS };
  };
}

const identity: NodeBuilder = () => ({ kind: 'identity', activation: 'linear', params: [-1, -1, -1, -1], geometry: [], reals: NO_REALS });

const elementwise = (activation: FusedActivation): ReturnType<NodeBuilder> =>
  activation === 'linear' ? (identity as () => ReturnType<NodeBuilder>)() : { kind: 'activation', activation, params: [-1, -1, -1, -1], geometry: [], reals: NO_REALS };

/**
 * Layer classes the fused step runs, by tfjs class name: what each becomes and what it refuses.
 * `topiary info` lists these keys (fusedLayerKinds), so the list cannot drift from the code.
 */
export const FUSED_LAYERS: Record<string, NodeBuilder> = {
  Dense: (c) => {
    if (c.inShape.length !== 1) return `${c.layer.name}: Dense on a rank-${c.inShape.length + 1} input`;
    const act = activationOf(c);
    if (typeof act === 'string') return act;
    const params = kernelAndBias(c);
    return typeof params === 'string' ? params : { kind: 'dense', ...act, params, geometry: [], reals: NO_REALS };
  },
  Conv2D: convolution(false),
  DepthwiseConv2D: convolution(true),
  MaxPooling2D: pooling('maxpool'),
  AveragePooling2D: pooling('avgpool'),
  GlobalAveragePooling2D: (c) => {
    const bad = rank4(c);
    if (bad) return bad;
    return { kind: 'gap', activation: 'linear', params: [-1, -1, -1, -1], geometry: c.inShape.slice(0, 3), reals: NO_REALS };
  },
  BatchNormalization: (c) => {
    const rank = c.inShape.length + 1;
    const axis = Array.isArray(c.config.axis) ? c.config.axis : [c.config.axis ?? -1];
    if (axis.length !== 1 || (axis[0] !== -1 && axis[0] !== rank - 1)) return `${c.layer.name} normalises an axis other than the last`;
    // tfjs-layers' training branch reads gamma and beta unconditionally: without them it cannot train at all.
    if (c.config.center === false || c.config.scale === false) return `${c.layer.name}: BatchNormalization without center/scale (tfjs-layers cannot train it either)`;
    const bn = c.layer as unknown as Record<'gamma' | 'beta' | 'movingMean' | 'movingVariance', tf.LayerVariable>;
    const params = [c.param(bn.gamma), c.param(bn.beta), c.param(bn.movingMean), c.param(bn.movingVariance)];
    if (params.some((p) => p === undefined) || c.layer.weights.length !== 4) return `${c.layer.name} has unexpected weights`;
    const momentum = c.config.momentum ?? 0.99;
    const epsilon = c.config.epsilon ?? 1e-3;
    return { kind: 'batchnorm', activation: 'linear', params: params as number[], geometry: [c.inShape[c.inShape.length - 1]], reals: [1 - momentum, epsilon] };
  },
  Activation: (c) => {
    const act = activationOf(c);
    if (typeof act === 'string') return act;
    return act.softmax ? { ...(identity(c) as FusedNode), softmax: true } : elementwise(act.activation);
  },
  ReLU: (c) => {
    const max = c.config.maxValue;
    if (max === undefined || max === null) return elementwise('relu');
    return max === 6 ? elementwise('relu6') : `${c.layer.name}: ReLU with maxValue ${max}`;
  },
  Softmax: (c) => {
    const axis = c.config.axis ?? -1;
    return axis === -1 || axis === c.inShape.length ? { ...(identity(c) as FusedNode), softmax: true } : `${c.layer.name}: softmax over axis ${String(axis)}`;
  },
  Add: (c) => {
    const first = c.layer.inboundNodes[0].inputShapes as tf.Shape[];
    if (first.some((s) => JSON.stringify(s) !== JSON.stringify(first[0]))) return `${c.layer.name} adds inputs of different shapes`;
    return { kind: 'add', activation: 'linear', params: [-1, -1, -1, -1], geometry: [], reals: NO_REALS };
  },
  ZeroPadding2D: (c) => {
    const bad = rank4(c);
    if (bad) return bad;
    const [[top, bottom], [left, right]] = (c.layer as unknown as { padding: [[number, number], [number, number]] }).padding;
    return { kind: 'pad', activation: 'linear', params: [-1, -1, -1, -1], geometry: [...c.inShape.slice(0, 3), top, bottom, left, right], reals: NO_REALS };
  },
  Flatten: (c) => channelsLast(c) ?? identity(c),
  Reshape: identity,
  Dropout: (c) => (Number(c.config.rate) > 0 ? `${c.layer.name}: dropout is random in training` : identity(c)),
};

/** The layer classes the fused step covers (for `topiary info`). */
export function fusedLayerKinds(): string[] {
  return Object.keys(FUSED_LAYERS);
}

function shapeOf(layer: tf.layers.Layer, which: 'input' | 'output'): number[] | string {
  const tensors = which === 'input' ? layer.input : layer.output;
  const first = Array.isArray(tensors) ? tensors[0] : tensors;
  if (which === 'output' && Array.isArray(tensors)) return `${layer.name} has more than one output`;
  const dims = first.shape.slice(1);
  if (dims.some((d) => d === null)) return `${layer.name} has an unknown ${which} size`;
  return dims as number[];
}

/** BatchNorm moving statistics: the only non-trainable weights the fused step handles (it updates them). */
function isBatchNormStatistic(model: tf.LayersModel, w: tf.LayerVariable): boolean {
  return allLayers(model).some((l) => {
    if (l.getClassName() !== 'BatchNormalization' || !l.trainable) return false;
    const bn = l as unknown as { movingMean?: tf.LayerVariable; movingVariance?: tf.LayerVariable };
    return bn.movingMean === w || bn.movingVariance === w;
  });
}

/**
 * The graph a fused trainer runs, or the reason this model needs the tfjs step: one input and
 * output, layers of the FUSED_LAYERS classes each called once, no frozen layers, ending in a
 * per-sample vector (softmax, if any, only as the very last step).
 * @example const spec = fusedSpecOf(model); if (typeof spec === 'string') console.log(spec)
 */
export function fusedSpecOf(model: tf.LayersModel): FusedModelSpec | string {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return 'more than one input or output';
  const layers = allLayers(model).filter((l) => l.getClassName() !== 'InputLayer');
  if (layers.length !== model.layers.filter((l) => l.getClassName() !== 'InputLayer').length) return 'nested models';
  const frozen = layers.find((l) => !l.trainable && l.weights.length > 0);
  if (frozen) return `${frozen.name} is frozen (trainable: false)`;
  const other = model.nonTrainableWeights.find((w) => !isBatchNormStatistic(model, w));
  if (other) return `non-trainable weights (${other.name})`;
  const variables = [...model.trainableWeights, ...model.nonTrainableWeights];
  const params = variables.map((w, i) => ({ name: w.name, shape: w.shape as number[], size: tf.util.sizeFromShape(w.shape as number[]), trainable: i < model.trainableWeights.length }));
  const paramIndex = new Map(variables.map((w, i) => [w, i]));
  const nodeIndex = new Map<tf.layers.Layer, number>();
  const nodes: FusedNode[] = [];
  for (const layer of layers) {
    const inbound = layer.inboundNodes;
    if (inbound.length !== 1) return `${layer.name} is called more than once (shared layer)`;
    const inputs: number[] = [];
    for (const from of inbound[0].inboundLayers) {
      const at = from.getClassName() === 'InputLayer' ? -1 : nodeIndex.get(from);
      if (at === undefined) return `${layer.name} reads a layer that comes after it`;
      inputs.push(at);
    }
    const cls = layer.getClassName();
    const build = FUSED_LAYERS[cls];
    if (!build) return `${layer.name} is a ${cls}`;
    if (inputs.length !== 1 && cls !== 'Add') return `${layer.name} has ${inputs.length} inputs`;
    const inShape = shapeOf(layer, 'input');
    const outShape = shapeOf(layer, 'output');
    if (typeof inShape === 'string') return inShape;
    if (typeof outShape === 'string') return outShape;
    const built = build({ layer, config: layer.getConfig() as LayerConfig, inShape, outShape, inputs, param: (w) => (w ? paramIndex.get(w) : undefined) });
    if (typeof built === 'string') return built;
    nodeIndex.set(layer, nodes.length);
    nodes.push({ ...built, softmax: built.softmax ?? false, name: layer.name, inputs, inSize: tf.util.sizeFromShape(inShape), outSize: tf.util.sizeFromShape(outShape) });
  }
  const last = nodes[nodes.length - 1];
  if (!last || layers[layers.length - 1] !== model.outputs[0].sourceLayer) return 'the output is not the last layer';
  const early = nodes.find((n, i) => n.softmax && i !== nodes.length - 1);
  if (early) return `${early.name}: softmax only as the model's last step`;
  if ((model.outputs[0].shape.length) !== 2) return `the output has rank ${model.outputs[0].shape.length} (a vector per sample is needed)`;
  const probs = outputIsProbabilities(model);
  if (probs !== last.softmax) return 'the output softmax is not where the loss expects it';
  const covered = new Set(nodes.flatMap((n) => n.params).filter((p) => p >= 0));
  if (covered.size !== params.length) return 'some weights belong to no supported layer';
  if (!nodes.some((n) => n.params.some((p) => p >= 0 && params[p].trainable))) return 'nothing to train';
  return { nodes, params, probs, inputSize: tf.util.sizeFromShape(model.inputs[0].shape.slice(1) as number[]), classes: last.outSize };
}

let installed: FusedTrainerFactory | undefined;

/** The fused trainer installed for the whole engine (trainer.ts's setDefaultFusedTrainer sets it). */
export function installFusedTrainer(factory: FusedTrainerFactory | undefined): void {
  installed = factory;
}

export function installedFusedTrainer(): FusedTrainerFactory | undefined {
  return installed;
}

/** Inference outside tfjs through the installed fused trainer's forward pass. */
export interface FastForward {
  /** What runs it, e.g. "native graph step". */
  readonly label: string;
  /** model.predict's values for n samples of x (NHWC, row-major). */
  predict(x: Float32Array, n: number): Float32Array;
  /** Bytes the trainer holds per sample of a batch (every node's output and its gradient buffer, float32). */
  sampleBytes: number;
  dispose(): void;
}

const NO_HYPER: FusedHyper = { learningRate: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

/**
 * A forward pass of `model` with its current weights outside tfjs (the graph the fused step
 * covers, one native call per batch instead of a kernel launch per op), or why there is none: the
 * caller then runs model.predict. It snapshots the weights: make a new one after training.
 * @example const ff = fastForward(model); if (typeof ff !== 'string') { const y = ff.predict(x, n); ff.dispose(); }
 */
export function fastForward(model: tf.LayersModel, factory: FusedTrainerFactory | undefined = installed): FastForward | string {
  if (!factory) return 'no fused trainer is installed';
  const spec = fusedSpecOf(model);
  if (typeof spec === 'string') return spec;
  const trainer = factory(model, spec, NO_HYPER, new Map());
  if (typeof trainer === 'string') return trainer;
  const predict = trainer.predict?.bind(trainer);
  if (!predict) {
    trainer.dispose();
    return `${trainer.label ?? 'the fused trainer'} has no forward pass of its own`;
  }
  const sampleBytes = 8 * spec.nodes.reduce((sum, node) => sum + node.outSize, 0);
  return { label: trainer.label ?? 'fused trainer', predict, sampleBytes, dispose: () => trainer.dispose() };
}

/**
 * Lowering: a tf.LayersModel (Sequential or functional) becomes a float32 IrGraph of TFLite ops.
 * One registry entry per Keras layer class; anything not in the registry is an UnsupportedLayerError
 * naming the layer and its class.
 *
 * Layout facts (TFLite is NHWC like tfjs, batch fixed at 1):
 *  - Conv2D filter OHWI = tfjs HWIO transposed [3, 0, 1, 2]
 *  - DepthwiseConv2D filter [1, H, W, C*m] = tfjs [H, W, C, m] reshaped (channel index c*m + j)
 *  - FullyConnected weights [out, in] = tfjs kernel [in, out] transposed
 *  - BatchNormalization lowers to MUL + ADD, folded afterwards into the preceding conv/dense
 *    (./fold): s = gamma / sqrt(var + eps), W' = W * s (per output channel), b' = (b - mean) * s + beta
 */
import * as tf from '@tensorflow/tfjs';
import { UnsupportedLayerError } from '../../../common/errors';
import { foldChannelAffine } from './fold';
import { IrGraph, type OpOptions } from './ir';
import { Act, type ActCode, type OpName } from './schema';
import { flattenModel, hasNestedModels } from '../../models/flatten';

type Layer = tf.layers.Layer;
type Config = Record<string, unknown>;

interface SymbolicLike {
  id: number;
  shape: (number | null)[];
  sourceLayer: Layer;
}
interface NodeLike {
  inputTensors: SymbolicLike[];
  outputTensors: SymbolicLike[];
}

export interface LowerContext {
  g: IrGraph;
  layer: Layer;
  name: string;
  className: string;
  config: Config;
  /** IR tensor indices of the layer's inputs, in call order. */
  inputs: number[];
  /** Static output shape with batch 1. */
  outShape: number[];
}

type Lowering = (ctx: LowerContext) => number;

/** Keras activation name -> fused code, or the standalone op that computes it. */
const ACTIVATIONS: Record<string, { fused: ActCode } | { op: OpName }> = {
  linear: { fused: Act.NONE },
  relu: { fused: Act.RELU },
  relu6: { fused: Act.RELU6 },
  softmax: { op: 'SOFTMAX' },
  sigmoid: { op: 'LOGISTIC' },
  tanh: { op: 'TANH' },
};

/** Ops a Keras activation needs when it cannot be fused. */
export function activationOps(name: string): OpName[] | undefined {
  const a = ACTIVATIONS[name];
  if (a === undefined) return undefined;
  return 'op' in a ? [a.op] : [];
}

function activationOf(ctx: LowerContext): { fused: ActCode; post?: OpName } {
  const name = String(ctx.config.activation ?? 'linear');
  const a = ACTIVATIONS[name];
  if (a === undefined) {
    throw new UnsupportedLayerError(
      `layer "${ctx.name}" (${ctx.className}) uses activation "${name}", which the TFLite exporter does not support (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return 'op' in a ? { fused: Act.NONE, post: a.op } : { fused: a.fused };
}

function standaloneActivation(g: IrGraph, op: OpName, input: number, output: number, layer: string): void {
  g.addOp(op, [input], [output], op === 'SOFTMAX' ? { kind: 'softmax', beta: 1.0 } : { kind: 'none' }, layer);
}

/** Emits `op` writing into the layer's output, with a separate activation op when it cannot be fused. */
function withActivation(ctx: LowerContext, emit: (out: number, act: ActCode) => void): number {
  const { fused, post } = activationOf(ctx);
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  if (post === undefined) {
    emit(out, fused);
    return out;
  }
  const pre = ctx.g.activation(`${ctx.name}/pre_activation`, ctx.outShape);
  emit(pre, Act.NONE);
  standaloneActivation(ctx.g, post, pre, out, ctx.name);
  return out;
}

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1] ?? v[0])];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

function requireChannelsLast(ctx: LowerContext): void {
  const fmt = ctx.config.dataFormat;
  if (fmt !== undefined && fmt !== 'channelsLast') {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (${ctx.className}) uses dataFormat ${String(fmt)}; TFLite export needs channelsLast`);
  }
}

function padding(ctx: LowerContext): 'same' | 'valid' {
  const p = ctx.config.padding;
  if (p === 'same' || p === 'valid') return p;
  throw new UnsupportedLayerError(`layer "${ctx.name}" (${ctx.className}) uses padding "${String(p)}"; TFLite supports same and valid`);
}

/** The layer's weights by short name (kernel, bias, gamma, ...), as float32 arrays with shapes. */
function weightsOf(layer: Layer): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const values = layer.getWeights();
  layer.weights.forEach((w, i) => {
    const short = w.originalName.split('/').pop() ?? w.originalName;
    out.set(short, { shape: values[i].shape, data: values[i].dataSync() as Float32Array });
  });
  return out;
}

function need(ws: ReturnType<typeof weightsOf>, key: string, ctx: LowerContext): { shape: number[]; data: Float32Array } {
  const w = ws.get(key);
  if (w === undefined) throw new UnsupportedLayerError(`layer "${ctx.name}" (${ctx.className}) has no "${key}" weight`);
  return w;
}

/** Transposes a dense row-major tensor. */
export function transpose(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1] * shape[i + 1];
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

function biasOrZeros(ws: ReturnType<typeof weightsOf>, n: number): Float32Array {
  return ws.get('bias')?.data.slice() ?? new Float32Array(n);
}

const lowerDense: Lowering = (ctx) => {
  const ws = weightsOf(ctx.layer);
  const k = need(ws, 'kernel', ctx);
  const [nIn, nOut] = k.shape;
  const w = ctx.g.constFloat(`${ctx.name}/kernel`, [nOut, nIn], transpose(k.data, k.shape, [1, 0]), 'weight', 0);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [nOut], biasOrZeros(ws, nOut), 'bias');
  const keepNumDims = ctx.outShape.length > 2;
  return withActivation(ctx, (out, act) =>
    ctx.g.addOp('FULLY_CONNECTED', [ctx.inputs[0], w, b], [out], { kind: 'fc', act, keepNumDims }, ctx.name),
  );
};

const lowerConv2D: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const ws = weightsOf(ctx.layer);
  const k = need(ws, 'kernel', ctx);
  const [kh, kw, cin, cout] = k.shape;
  const w = ctx.g.constFloat(`${ctx.name}/kernel`, [cout, kh, kw, cin], transpose(k.data, k.shape, [3, 0, 1, 2]), 'weight', 0);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [cout], biasOrZeros(ws, cout), 'bias');
  const options = (act: ActCode): OpOptions => ({
    kind: 'conv',
    padding: padding(ctx),
    strides: pair(ctx.config.strides, 1),
    dilations: pair(ctx.config.dilationRate, 1),
    act,
  });
  return withActivation(ctx, (out, act) => ctx.g.addOp('CONV_2D', [ctx.inputs[0], w, b], [out], options(act), ctx.name));
};

const lowerDepthwise: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const ws = weightsOf(ctx.layer);
  const k = need(ws, 'depthwise_kernel', ctx);
  const [kh, kw, c, m] = k.shape;
  const w = ctx.g.constFloat(`${ctx.name}/depthwise_kernel`, [1, kh, kw, c * m], k.data.slice(), 'weight', 3);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [c * m], biasOrZeros(ws, c * m), 'bias');
  const options = (act: ActCode): OpOptions => ({
    kind: 'dwconv',
    padding: padding(ctx),
    strides: pair(ctx.config.strides, 1),
    dilations: pair(ctx.config.dilationRate, 1),
    multiplier: m,
    act,
  });
  return withActivation(ctx, (out, act) =>
    ctx.g.addOp('DEPTHWISE_CONV_2D', [ctx.inputs[0], w, b], [out], options(act), ctx.name),
  );
};

function lowerPool(op: 'MAX_POOL_2D' | 'AVERAGE_POOL_2D'): Lowering {
  return (ctx) => {
    requireChannelsLast(ctx);
    const filter = pair(ctx.config.poolSize, 2);
    const strides = ctx.config.strides == null ? filter : pair(ctx.config.strides, 1);
    const out = ctx.g.activation(ctx.name, ctx.outShape);
    ctx.g.addOp(op, [ctx.inputs[0]], [out], { kind: 'pool', padding: padding(ctx), strides, filter, act: Act.NONE }, ctx.name);
    return out;
  };
}

const lowerGlobalAvgPool: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const axes = ctx.g.constInt(`${ctx.name}/axes`, [2], Int32Array.from([1, 2]));
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('MEAN', [ctx.inputs[0], axes], [out], { kind: 'reducer', keepDims: ctx.outShape.length === 4 }, ctx.name);
  return out;
};

const lowerReshape: Lowering = (ctx) => {
  const shape = ctx.g.constInt(`${ctx.name}/shape`, [ctx.outShape.length], Int32Array.from(ctx.outShape));
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('RESHAPE', [ctx.inputs[0], shape], [out], { kind: 'reshape', newShape: ctx.outShape }, ctx.name);
  return out;
};

const lowerActivation: Lowering = (ctx) => {
  const { fused, post } = activationOf(ctx);
  if (post === undefined && fused === Act.NONE) return ctx.inputs[0];
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  const op: OpName = post ?? (fused === Act.RELU ? 'RELU' : 'RELU6');
  standaloneActivation(ctx.g, op, ctx.inputs[0], out, ctx.name);
  return out;
};

const lowerReLU: Lowering = (ctx) => {
  const max = ctx.config.maxValue;
  const op: OpName | undefined = max == null ? 'RELU' : max === 6 ? 'RELU6' : undefined;
  if (op === undefined) {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (ReLU) has maxValue ${String(max)}; only none or 6 map to TFLite`);
  }
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  standaloneActivation(ctx.g, op, ctx.inputs[0], out, ctx.name);
  return out;
};

function bnScaleShift(ctx: LowerContext): { s: Float32Array; t: Float32Array } {
  const rank = ctx.outShape.length;
  const axis = Number(ctx.config.axis ?? -1);
  if (axis !== -1 && axis !== rank - 1) {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (BatchNormalization) normalizes axis ${axis}; TFLite export supports the last (channel) axis`);
  }
  const ws = weightsOf(ctx.layer);
  const mean = need(ws, 'moving_mean', ctx).data;
  const variance = need(ws, 'moving_variance', ctx).data;
  const gamma = ws.get('gamma')?.data;
  const beta = ws.get('beta')?.data;
  const eps = Number(ctx.config.epsilon ?? 1e-3);
  const s = new Float32Array(mean.length);
  const t = new Float32Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    s[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    t[c] = (beta ? beta[c] : 0) - mean[c] * s[c];
  }
  return { s, t };
}

/**
 * Inference BatchNormalization as y = x * s + t (MUL + ADD). `foldChannelAffine` later folds the
 * pair into the conv/dense that produces x when it may (see ./fold); otherwise it stays.
 */
const lowerBatchNorm: Lowering = (ctx) => {
  const { s, t } = bnScaleShift(ctx);
  const g = ctx.g;
  const c = s.length;
  const sT = g.constFloat(`${ctx.name}/scale`, [c], s, 'param');
  const tT = g.constFloat(`${ctx.name}/offset`, [c], t, 'param');
  const mid = g.activation(`${ctx.name}/scaled`, ctx.outShape);
  const out = g.activation(ctx.name, ctx.outShape);
  g.addOp('MUL', [ctx.inputs[0], sT], [mid], { kind: 'mul', act: Act.NONE }, ctx.name);
  g.addOp('ADD', [mid, tT], [out], { kind: 'add', act: Act.NONE }, ctx.name);
  return out;
};

/**
 * Rescaling (y = x * scale + offset, Keras' in-model preprocessing, e.g. 1/255) as a per-channel
 * MUL (+ ADD when the offset is not 0), the same ops BatchNormalization lowers to: constants of one
 * value per channel, which every runtime and the int8 quantizer already handle.
 */
const lowerRescaling: Lowering = (ctx) => {
  const scale = Number(ctx.config.scale ?? 1);
  const offset = Number(ctx.config.offset ?? 0);
  if (!Number.isFinite(scale) || !Number.isFinite(offset)) {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (Rescaling) has a per-channel or non-numeric scale/offset; TFLite export supports scalars`);
  }
  const g = ctx.g;
  const c = ctx.outShape[ctx.outShape.length - 1];
  const sT = g.constFloat(`${ctx.name}/scale`, [c], new Float32Array(c).fill(scale), 'param');
  const scaled = g.activation(offset === 0 ? ctx.name : `${ctx.name}/scaled`, ctx.outShape);
  g.addOp('MUL', [ctx.inputs[0], sT], [scaled], { kind: 'mul', act: Act.NONE }, ctx.name);
  if (offset === 0) return scaled;
  const tT = g.constFloat(`${ctx.name}/offset`, [c], new Float32Array(c).fill(offset), 'param');
  const out = g.activation(ctx.name, ctx.outShape);
  g.addOp('ADD', [scaled, tT], [out], { kind: 'add', act: Act.NONE }, ctx.name);
  return out;
};

const lowerAdd: Lowering = (ctx) => {
  let acc = ctx.inputs[0];
  for (let i = 1; i < ctx.inputs.length; i++) {
    const last = i === ctx.inputs.length - 1;
    const out = ctx.g.activation(last ? ctx.name : `${ctx.name}/partial${i}`, ctx.outShape);
    ctx.g.addOp('ADD', [acc, ctx.inputs[i]], [out], { kind: 'add', act: Act.NONE }, ctx.name);
    acc = out;
  }
  return acc;
};

const lowerConcat: Lowering = (ctx) => {
  const rank = ctx.outShape.length;
  let axis = Number(ctx.config.axis ?? -1);
  if (axis < 0) axis += rank;
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('CONCATENATION', [...ctx.inputs], [out], { kind: 'concat', axis, act: Act.NONE }, ctx.name);
  return out;
};

const lowerZeroPad: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const p = ctx.config.padding;
  let tb: [number, number];
  let lr: [number, number];
  if (Array.isArray(p) && Array.isArray(p[0])) {
    tb = pair(p[0], 0);
    lr = pair(p[1], 0);
  } else {
    const [h, w] = pair(p, 1);
    tb = [h, h];
    lr = [w, w];
  }
  const pads = ctx.g.constInt(`${ctx.name}/paddings`, [4, 2], Int32Array.from([0, 0, tb[0], tb[1], lr[0], lr[1], 0, 0]));
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('PAD', [ctx.inputs[0], pads], [out], { kind: 'none' }, ctx.name);
  return out;
};

const identity: Lowering = (ctx) => ctx.inputs[0];

/** Keras class -> lowering, plus the TFLite ops it emits (for `tfliteOpsFor`, before any weights are read). */
export const LOWERINGS: Record<string, { lower: Lowering; ops: (config: Config) => OpName[] }> = {
  Dense: { lower: lowerDense, ops: (c) => ['FULLY_CONNECTED', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  Conv2D: { lower: lowerConv2D, ops: (c) => ['CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  DepthwiseConv2D: { lower: lowerDepthwise, ops: (c) => ['DEPTHWISE_CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  MaxPooling2D: { lower: lowerPool('MAX_POOL_2D'), ops: () => ['MAX_POOL_2D'] },
  AveragePooling2D: { lower: lowerPool('AVERAGE_POOL_2D'), ops: () => ['AVERAGE_POOL_2D'] },
  GlobalAveragePooling2D: { lower: lowerGlobalAvgPool, ops: () => ['MEAN'] },
  Flatten: { lower: lowerReshape, ops: () => ['RESHAPE'] },
  Reshape: { lower: lowerReshape, ops: () => ['RESHAPE'] },
  Dropout: { lower: identity, ops: () => [] },
  Activation: {
    lower: lowerActivation,
    ops: (c) => {
      const a = String(c.activation ?? 'linear');
      if (a === 'relu') return ['RELU'];
      if (a === 'relu6') return ['RELU6'];
      return activationOps(a) ?? [];
    },
  },
  ReLU: { lower: lowerReLU, ops: (c) => [c.maxValue === 6 ? 'RELU6' : 'RELU'] },
  BatchNormalization: { lower: lowerBatchNorm, ops: () => ['MUL', 'ADD'] },
  Rescaling: { lower: lowerRescaling, ops: (c) => (Number(c.offset ?? 0) === 0 ? ['MUL'] : ['MUL', 'ADD']) },
  Add: { lower: lowerAdd, ops: () => ['ADD'] },
  Concatenate: { lower: lowerConcat, ops: () => ['CONCATENATION'] },
  ZeroPadding2D: { lower: lowerZeroPad, ops: () => ['PAD'] },
};

export const SUPPORTED_LAYER_CLASSES = ['InputLayer', ...Object.keys(LOWERINGS)];

/** Static shape with the batch dimension fixed to 1; TFLite and LiteRT reject dynamic dims. */
export function staticShape(shape: (number | null)[], what: string): number[] {
  return shape.map((d, i) => {
    if (d != null && d > 0) return d;
    if (i === 0) return 1;
    throw new UnsupportedLayerError(`${what} has an unknown dimension ${i} (shape [${shape.join(', ')}]); TFLite export needs static shapes`);
  });
}

function inboundNode(layer: Layer): NodeLike {
  const nodes = (layer as unknown as { inboundNodes: NodeLike[] }).inboundNodes;
  if (nodes.length !== 1) {
    throw new UnsupportedLayerError(`layer "${layer.name}" (${layer.getClassName()}) is called ${nodes.length} times; shared layers are not supported by the TFLite exporter`);
  }
  return nodes[0];
}

export interface LoweredModel {
  graph: IrGraph;
  /** Layers that could not be lowered (only collected when `tolerant`). */
  unsupported: { layer: string; className: string; reason: string }[];
}

/**
 * Lowers a LayersModel to a float32 IrGraph. With `tolerant`, unsupported layers are recorded and
 * replaced by a placeholder output so the rest of the model can still be inspected.
 */
export function lowerModel(model: tf.LayersModel, opts: { tolerant?: boolean } = {}): LoweredModel {
  if (hasNestedModels(model)) {
    // A nested model lowers as its flat equivalent (loadModel already flattens; this covers models
    // built in memory). The flat copy shares the original's weight data, so disposing it is safe.
    const flat = flattenModel(model).model;
    try {
      return lowerModel(flat, opts);
    } finally {
      flat.dispose();
    }
  }
  const g = new IrGraph();
  const unsupported: LoweredModel['unsupported'] = [];
  const bySymbolic = new Map<number, number>();

  for (const input of model.inputs as unknown as SymbolicLike[]) {
    const idx = g.activation(input.sourceLayer.name, staticShape(input.shape, `model input "${input.sourceLayer.name}"`));
    g.inputs.push(idx);
    bySymbolic.set(input.id, idx);
  }

  for (const layer of model.layers) {
    const className = layer.getClassName();
    if (className === 'InputLayer') continue;
    let node: NodeLike | undefined;
    try {
      node = inboundNode(layer);
      const entry = LOWERINGS[className];
      if (entry === undefined) {
        throw new UnsupportedLayerError(`layer "${layer.name}" (${className}) is not supported by the TFLite exporter (supported: ${SUPPORTED_LAYER_CLASSES.join(', ')})`);
      }
      if (node.outputTensors.length !== 1) {
        throw new UnsupportedLayerError(`layer "${layer.name}" (${className}) has ${node.outputTensors.length} outputs; the exporter supports one`);
      }
      const inputs = node.inputTensors.map((t) => {
        const idx = bySymbolic.get(t.id);
        if (idx === undefined) throw new UnsupportedLayerError(`layer "${layer.name}" (${className}) reads a tensor from an unsupported layer`);
        return idx;
      });
      const outSym = node.outputTensors[0];
      const ctx: LowerContext = {
        g,
        layer,
        name: layer.name,
        className,
        config: layer.getConfig() as Config,
        inputs,
        outShape: staticShape(outSym.shape, `layer "${layer.name}" (${className}) output`),
      };
      bySymbolic.set(outSym.id, entry.lower(ctx));
    } catch (err) {
      if (!(opts.tolerant && err instanceof UnsupportedLayerError)) throw err;
      unsupported.push({ layer: layer.name, className, reason: err.message });
      for (const t of node?.outputTensors ?? []) {
        bySymbolic.set(t.id, g.activation(`${layer.name}/unsupported`, t.shape.map((d) => d ?? 1)));
      }
    }
  }

  for (const out of model.outputs as unknown as SymbolicLike[]) {
    const idx = bySymbolic.get(out.id);
    if (idx === undefined) throw new UnsupportedLayerError(`model output from layer "${out.sourceLayer.name}" could not be lowered`);
    g.outputs.push(idx);
  }
  // Folding first: conv -> BN -> ReLU6 only becomes conv(+relu6) once the BN is gone.
  foldChannelAffine(g);
  fuseActivations(g);
  return { graph: g, unsupported };
}

const FUSE_INTO: OpName[] = ['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'ADD'];

/**
 * A standalone RELU/RELU6 right after a conv/dense/add becomes that op's fused activation: one op
 * fewer, and in int8 the clamp comes for free from the output range.
 */
function fuseActivations(g: IrGraph): void {
  for (const act of [...g.ops]) {
    if (act.op !== 'RELU' && act.op !== 'RELU6') continue;
    const x = act.inputs[0];
    const prod = g.producer(x);
    if (prod === undefined || !FUSE_INTO.includes(prod.op) || !('act' in prod.options) || prod.options.act !== Act.NONE) continue;
    if (g.consumers(x).length !== 1 || g.outputs.includes(x)) continue;
    prod.options = { ...prod.options, act: act.op === 'RELU' ? Act.RELU : Act.RELU6 } as OpOptions;
    prod.outputs = [act.outputs[0]];
    g.ops.splice(g.ops.indexOf(act), 1);
  }
}

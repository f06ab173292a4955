/**
 * Lowering: a tf.LayersModel (Sequential or functional) becomes a float32 IrGraph of TFLite ops.
 * One registry entry per Keras layer class; anything not in the registry is an UnsupportedLayerError
 * naming the layer and its class.
 *
 * Layout facts (TFLite is NHWC like tfjs, batch fixed: 1 unless lowerModel's `batch` says otherwise):
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
import { TOPIARY_ACTIVATIONS } from '../../models/activations';

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
  /** Static output shape; its first dimension is the exported batch (1 by default). */
  outShape: number[];
}

type Lowering = (ctx: LowerContext) => number;

type EmitActivation = (g: IrGraph, input: number, output: number, shape: number[], layer: string) => void;

/** A unary op from `input` to `output` (SOFTMAX gets beta 1: the schema default 0 flattens it). */
function unary(op: OpName): EmitActivation {
  return (g, input, output, _shape, layer) =>
    g.addOp(op, [input], [output], op === 'SOFTMAX' ? { kind: 'softmax', beta: 1.0 } : { kind: 'none' }, layer);
}

/** x * sigmoid(x), as TF Lite's converter writes swish/silu: LOGISTIC then MUL. */
const swish: EmitActivation = (g, input, output, shape, layer) => {
  const sig = g.activation(`${g.tensors[output].name}/sigmoid`, shape);
  g.addOp('LOGISTIC', [input], [sig], { kind: 'none' }, layer);
  g.addOp('MUL', [input, sig], [output], { kind: 'mul', act: Act.NONE }, layer);
};

/** relu6(a x + b) * c, one scalar constant per step (hard sigmoids: clip(0.2x + 0.5) = relu6(1.2x + 3) / 6). */
function clippedAffine(a: number, b: number): EmitActivation {
  return (g, input, output, shape, layer) => {
    const base = g.tensors[output].name;
    let x = input;
    if (a !== 1) {
      const scaled = g.activation(`${base}/scaled`, shape);
      g.addOp('MUL', [x, g.constFloat(`${base}/a`, [1], Float32Array.of(a), 'param')], [scaled], { kind: 'mul', act: Act.NONE }, layer);
      x = scaled;
    }
    const shifted = g.activation(`${base}/relu6`, shape);
    g.addOp('ADD', [x, g.constFloat(`${base}/b`, [1], Float32Array.of(b), 'param')], [shifted], { kind: 'add', act: Act.RELU6 }, layer);
    g.addOp('MUL', [shifted, g.constFloat(`${base}/c`, [1], Float32Array.of(1 / 6), 'param')], [output], { kind: 'mul', act: Act.NONE }, layer);
  };
}

const leaky = (alpha: number): EmitActivation => (g, input, output, _shape, layer) =>
  g.addOp('LEAKY_RELU', [input], [output], { kind: 'leakyRelu', alpha }, layer);

/**
 * Keras activation name (as tfjs configs spell it) -> fused code, or the ops that compute it
 * standalone. Names from engine/models/activations.ts are Keras activations tfjs lacks.
 */
const ACTIVATIONS: Record<string, { fused: ActCode } | { ops: OpName[]; emit: EmitActivation }> = {
  linear: { fused: Act.NONE },
  relu: { fused: Act.RELU },
  relu6: { fused: Act.RELU6 },
  softmax: { ops: ['SOFTMAX'], emit: unary('SOFTMAX') },
  sigmoid: { ops: ['LOGISTIC'], emit: unary('LOGISTIC') },
  tanh: { ops: ['TANH'], emit: unary('TANH') },
  elu: { ops: ['ELU'], emit: unary('ELU') },
  swish: { ops: ['LOGISTIC', 'MUL'], emit: swish },
  hardSigmoid: { ops: ['MUL', 'ADD'], emit: clippedAffine(1.2, 3) },
  [TOPIARY_ACTIVATIONS.hardSigmoid6]: { ops: ['ADD', 'MUL'], emit: clippedAffine(1, 3) },
  [TOPIARY_ACTIVATIONS.hardSwish]: { ops: ['HARD_SWISH'], emit: unary('HARD_SWISH') },
  [TOPIARY_ACTIVATIONS.leakyRelu]: { ops: ['LEAKY_RELU'], emit: leaky(0.2) },
};

/** Ops a Keras activation needs when it cannot be fused. */
export function activationOps(name: string): OpName[] | undefined {
  const a = ACTIVATIONS[name];
  if (a === undefined) return undefined;
  return 'ops' in a ? a.ops : [];
}

function activationOf(ctx: LowerContext): { fused: ActCode; post?: EmitActivation } {
  const name = String(ctx.config.activation ?? 'linear');
  const a = ACTIVATIONS[name];
  if (a === undefined) {
    throw new UnsupportedLayerError(
      `layer "${ctx.name}" (${ctx.className}) uses activation "${name}", which the TFLite exporter does not support (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    );
  }
  return 'ops' in a ? { fused: Act.NONE, post: a.emit } : { fused: a.fused };
}

/**
 * Emits `op` writing a `shape` tensor, with a separate activation op when it cannot be fused;
 * returns the activated tensor (named `name`).
 */
function activated(ctx: LowerContext, name: string, shape: number[], emit: (out: number, act: ActCode) => void): number {
  const { fused, post } = activationOf(ctx);
  const out = ctx.g.activation(name, shape);
  if (post === undefined) {
    emit(out, fused);
    return out;
  }
  const pre = ctx.g.activation(`${name}/pre_activation`, shape);
  emit(pre, Act.NONE);
  post(ctx.g, pre, out, shape, ctx.name);
  return out;
}

/** Emits `op` writing into the layer's output, with a separate activation op when it cannot be fused. */
function withActivation(ctx: LowerContext, emit: (out: number, act: ActCode) => void): number {
  return activated(ctx, ctx.name, ctx.outShape, emit);
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
  (post ?? unary(fused === Act.RELU ? 'RELU' : 'RELU6'))(ctx.g, ctx.inputs[0], out, ctx.outShape, ctx.name);
  return out;
};

const lowerReLU: Lowering = (ctx) => {
  const max = ctx.config.maxValue;
  const op: OpName | undefined = max == null ? 'RELU' : max === 6 ? 'RELU6' : undefined;
  if (op === undefined) {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (ReLU) has maxValue ${String(max)}; only none or 6 map to TFLite`);
  }
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  unary(op)(ctx.g, ctx.inputs[0], out, ctx.outShape, ctx.name);
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

function single1(v: unknown, fallback: number): number {
  if (Array.isArray(v)) return Number(v[0]);
  if (typeof v === 'number') return v;
  return fallback;
}

function reshapeTo(ctx: LowerContext, input: number, shape: number[], name: string): number {
  const out = ctx.g.activation(name, shape);
  const s = ctx.g.constInt(`${name}/shape`, [shape.length], Int32Array.from(shape));
  ctx.g.addOp('RESHAPE', [input, s], [out], { kind: 'reshape', newShape: shape }, ctx.name);
  return out;
}

/**
 * A 1-D layer over [B, L, C] as its 2-D op over [B, 1, L, C] between two RESHAPEs (what TF Lite's
 * converter does with EXPAND_DIMS / SQUEEZE): `emit` gets the 4-D input and the 4-D output shape.
 */
function via2D(ctx: LowerContext, emit: (in4: number, out4Shape: number[]) => number): number {
  const inShape = ctx.g.tensors[ctx.inputs[0]].shape;
  if (inShape.length !== 3) throw new UnsupportedLayerError(`layer "${ctx.name}" (${ctx.className}) expects a [batch, steps, channels] input, got rank ${inShape.length}`);
  const in4 = reshapeTo(ctx, ctx.inputs[0], [inShape[0], 1, inShape[1], inShape[2]], `${ctx.name}/as_2d`);
  const out4 = emit(in4, [ctx.outShape[0], 1, ctx.outShape[1], ctx.outShape[2]]);
  return reshapeTo(ctx, out4, ctx.outShape, ctx.name);
}

function padding1D(ctx: LowerContext): 'same' | 'valid' {
  if (ctx.config.padding === 'causal') {
    throw new UnsupportedLayerError(`layer "${ctx.name}" (${ctx.className}) uses padding "causal", which the TFLite exporter does not lower (use same or valid, or a ZeroPadding1D before it)`);
  }
  return padding(ctx);
}

/** Conv1D kernel [k, in, out] -> CONV_2D filter [out, 1, k, in]. */
const lowerConv1D: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const ws = weightsOf(ctx.layer);
  const k = need(ws, 'kernel', ctx);
  const [kw, cin, cout] = k.shape;
  const w = ctx.g.constFloat(`${ctx.name}/kernel`, [cout, 1, kw, cin], transpose(k.data, k.shape, [2, 0, 1]), 'weight', 0);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [cout], biasOrZeros(ws, cout), 'bias');
  const pad = padding1D(ctx);
  const options = (act: ActCode): OpOptions => ({
    kind: 'conv',
    padding: pad,
    strides: [1, single1(ctx.config.strides, 1)],
    dilations: [1, single1(ctx.config.dilationRate, 1)],
    act,
  });
  return via2D(ctx, (in4, out4Shape) =>
    activated(ctx, `${ctx.name}/conv2d`, out4Shape, (out, act) => ctx.g.addOp('CONV_2D', [in4, w, b], [out], options(act), ctx.name)),
  );
};

function lowerPool1D(op: 'MAX_POOL_2D' | 'AVERAGE_POOL_2D'): Lowering {
  return (ctx) => {
    requireChannelsLast(ctx);
    const size = single1(ctx.config.poolSize, 2);
    const stride = ctx.config.strides == null ? size : single1(ctx.config.strides, size);
    const pad = padding(ctx);
    return via2D(ctx, (in4, out4Shape) => {
      const out = ctx.g.activation(`${ctx.name}/pool2d`, out4Shape);
      ctx.g.addOp(op, [in4], [out], { kind: 'pool', padding: pad, strides: [1, stride], filter: [1, size], act: Act.NONE }, ctx.name);
      return out;
    });
  };
}

/** Global pooling over every axis between batch and channels: MEAN or REDUCE_MAX. */
function lowerGlobalPool(op: 'MEAN' | 'REDUCE_MAX'): Lowering {
  return (ctx) => {
    requireChannelsLast(ctx);
    const rank = ctx.g.tensors[ctx.inputs[0]].shape.length;
    const axes = Array.from({ length: rank - 2 }, (_, i) => i + 1);
    const a = ctx.g.constInt(`${ctx.name}/axes`, [axes.length], Int32Array.from(axes));
    const out = ctx.g.activation(ctx.name, ctx.outShape);
    ctx.g.addOp(op, [ctx.inputs[0], a], [out], { kind: 'reducer', keepDims: ctx.outShape.length === rank }, ctx.name);
    return out;
  };
}

/** SeparableConv2D = DEPTHWISE_CONV_2D (no bias) then a 1x1 CONV_2D with the layer's bias and activation. */
const lowerSeparable: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const ws = weightsOf(ctx.layer);
  const dk = need(ws, 'depthwise_kernel', ctx);
  const pk = need(ws, 'pointwise_kernel', ctx);
  const [kh, kw, c, m] = dk.shape;
  const cout = pk.shape[3];
  const inShape = ctx.g.tensors[ctx.inputs[0]].shape;
  const dwShape = [ctx.outShape[0], ctx.outShape[1], ctx.outShape[2], c * m];
  if (inShape.length !== 4) throw new UnsupportedLayerError(`layer "${ctx.name}" (SeparableConv2D) expects a 4-D input`);
  const dw = ctx.g.constFloat(`${ctx.name}/depthwise_kernel`, [1, kh, kw, c * m], dk.data.slice(), 'weight', 3);
  const dwBias = ctx.g.constFloat(`${ctx.name}/depthwise_bias`, [c * m], new Float32Array(c * m), 'bias');
  const mid = ctx.g.activation(`${ctx.name}/depthwise`, dwShape);
  ctx.g.addOp('DEPTHWISE_CONV_2D', [ctx.inputs[0], dw, dwBias], [mid], {
    kind: 'dwconv',
    padding: padding(ctx),
    strides: pair(ctx.config.strides, 1),
    dilations: pair(ctx.config.dilationRate, 1),
    multiplier: m,
    act: Act.NONE,
  }, ctx.name);
  const pw = ctx.g.constFloat(`${ctx.name}/pointwise_kernel`, [cout, 1, 1, c * m], transpose(pk.data, pk.shape, [3, 0, 1, 2]), 'weight', 0);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [cout], biasOrZeros(ws, cout), 'bias');
  return withActivation(ctx, (out, act) =>
    ctx.g.addOp('CONV_2D', [mid, pw, b], [out], { kind: 'conv', padding: 'valid', strides: [1, 1], dilations: [1, 1], act }, ctx.name),
  );
};

/** Conv2DTranspose kernel [h, w, out, in] -> TRANSPOSE_CONV filter [out, h, w, in]; activation as its own op. */
const lowerConvTranspose: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const dil = pair(ctx.config.dilationRate, 1);
  if (dil[0] !== 1 || dil[1] !== 1) throw new UnsupportedLayerError(`layer "${ctx.name}" (Conv2DTranspose) uses dilation ${dil.join('x')}; TF Lite's TRANSPOSE_CONV has none`);
  if (ctx.config.outputPadding != null) throw new UnsupportedLayerError(`layer "${ctx.name}" (Conv2DTranspose) sets output_padding, which the TFLite exporter does not lower`);
  const ws = weightsOf(ctx.layer);
  const k = need(ws, 'kernel', ctx);
  const [kh, kw, cout, cin] = k.shape;
  const w = ctx.g.constFloat(`${ctx.name}/kernel`, [cout, kh, kw, cin], transpose(k.data, k.shape, [2, 0, 1, 3]), 'weight', 0);
  const b = ctx.g.constFloat(`${ctx.name}/bias`, [cout], biasOrZeros(ws, cout), 'bias');
  const shape = ctx.g.constInt(`${ctx.name}/output_shape`, [4], Int32Array.from(ctx.outShape));
  const pad = padding(ctx);
  const strides = pair(ctx.config.strides, 1);
  const { fused } = activationOf(ctx);
  const emit = (out: number): void =>
    ctx.g.addOp('TRANSPOSE_CONV', [shape, w, ctx.inputs[0], b], [out], { kind: 'transposeConv', padding: pad, strides }, ctx.name);
  if (fused === Act.NONE) return withActivation(ctx, (out) => emit(out));
  // relu / relu6: a standalone op (fused activations on TRANSPOSE_CONV need a newer runtime).
  const pre = ctx.g.activation(`${ctx.name}/pre_activation`, ctx.outShape);
  emit(pre);
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  unary(fused === Act.RELU ? 'RELU' : 'RELU6')(ctx.g, pre, out, ctx.outShape, ctx.name);
  return out;
};

const lowerUpSampling: Lowering = (ctx) => {
  requireChannelsLast(ctx);
  const interp = String(ctx.config.interpolation ?? 'nearest');
  if (interp !== 'nearest') throw new UnsupportedLayerError(`layer "${ctx.name}" (UpSampling2D) uses ${interp} interpolation; the TFLite exporter lowers nearest only`);
  const size = ctx.g.constInt(`${ctx.name}/size`, [2], Int32Array.from([ctx.outShape[1], ctx.outShape[2]]));
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('RESIZE_NEAREST_NEIGHBOR', [ctx.inputs[0], size], [out], { kind: 'resizeNearest' }, ctx.name);
  return out;
};

const lowerLeakyReLU: Lowering = (ctx) => {
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  leaky(Number(ctx.config.alpha ?? 0.3))(ctx.g, ctx.inputs[0], out, ctx.outShape, ctx.name);
  return out;
};

const lowerELU: Lowering = (ctx) => {
  const alpha = Number(ctx.config.alpha ?? 1);
  if (alpha !== 1) throw new UnsupportedLayerError(`layer "${ctx.name}" (ELU) has alpha ${alpha}; TF Lite's ELU is alpha 1 only`);
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  unary('ELU')(ctx.g, ctx.inputs[0], out, ctx.outShape, ctx.name);
  return out;
};

/** PReLU: TF Lite's PRELU with the learned slopes as a constant broadcast over the input (shared axes have size 1). */
const lowerPReLU: Lowering = (ctx) => {
  const ws = weightsOf(ctx.layer);
  const a = need(ws, 'alpha', ctx);
  const alpha = ctx.g.constFloat(`${ctx.name}/alpha`, a.shape, a.data.slice(), 'param');
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('PRELU', [ctx.inputs[0], alpha], [out], { kind: 'none' }, ctx.name);
  return out;
};

const lowerSoftmaxLayer: Lowering = (ctx) => {
  const rank = ctx.outShape.length;
  const raw = ctx.config.axis;
  const axis = Number(Array.isArray(raw) ? (raw.length === 1 ? raw[0] : NaN) : (raw ?? -1));
  if (axis !== -1 && axis !== rank - 1) throw new UnsupportedLayerError(`layer "${ctx.name}" (Softmax) normalizes axis ${String(raw)}; TF Lite's SOFTMAX uses the last axis`);
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  unary('SOFTMAX')(ctx.g, ctx.inputs[0], out, ctx.outShape, ctx.name);
  return out;
};

/** Multiply / Subtract of two or more same-shape tensors as a chain of binary ops. */
function lowerBinary(op: 'MUL' | 'SUB'): Lowering {
  return (ctx) => {
    let acc = ctx.inputs[0];
    for (let i = 1; i < ctx.inputs.length; i++) {
      const last = i === ctx.inputs.length - 1;
      const out = ctx.g.activation(last ? ctx.name : `${ctx.name}/partial${i}`, ctx.outShape);
      ctx.g.addOp(op, [acc, ctx.inputs[i]], [out], op === 'MUL' ? { kind: 'mul', act: Act.NONE } : { kind: 'sub', act: Act.NONE }, ctx.name);
      acc = out;
    }
    return acc;
  };
}

/** Permute(dims) (1-based, batch excluded) as TRANSPOSE with perm [0, ...dims]. */
const lowerPermute: Lowering = (ctx) => {
  const dims = (ctx.config.dims as number[] | undefined) ?? [];
  const perm = ctx.g.constInt(`${ctx.name}/perm`, [dims.length + 1], Int32Array.from([0, ...dims]));
  const out = ctx.g.activation(ctx.name, ctx.outShape);
  ctx.g.addOp('TRANSPOSE', [ctx.inputs[0], perm], [out], { kind: 'none' }, ctx.name);
  return out;
};

/** Keras class -> lowering, plus the TFLite ops it emits (for `tfliteOpsFor`, before any weights are read). */
export const LOWERINGS: Record<string, { lower: Lowering; ops: (config: Config) => OpName[] }> = {
  Dense: { lower: lowerDense, ops: (c) => ['FULLY_CONNECTED', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  Conv2D: { lower: lowerConv2D, ops: (c) => ['CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  DepthwiseConv2D: { lower: lowerDepthwise, ops: (c) => ['DEPTHWISE_CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  MaxPooling2D: { lower: lowerPool('MAX_POOL_2D'), ops: () => ['MAX_POOL_2D'] },
  AveragePooling2D: { lower: lowerPool('AVERAGE_POOL_2D'), ops: () => ['AVERAGE_POOL_2D'] },
  GlobalAveragePooling2D: { lower: lowerGlobalPool('MEAN'), ops: () => ['MEAN'] },
  Flatten: { lower: lowerReshape, ops: () => ['RESHAPE'] },
  Reshape: { lower: lowerReshape, ops: () => ['RESHAPE'] },
  Dropout: { lower: identity, ops: () => [] },
  SpatialDropout1D: { lower: identity, ops: () => [] },
  SpatialDropout2D: { lower: identity, ops: () => [] },
  AlphaDropout: { lower: identity, ops: () => [] },
  GaussianDropout: { lower: identity, ops: () => [] },
  GaussianNoise: { lower: identity, ops: () => [] },
  Conv1D: { lower: lowerConv1D, ops: (c) => ['RESHAPE', 'CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  SeparableConv2D: { lower: lowerSeparable, ops: (c) => ['DEPTHWISE_CONV_2D', 'CONV_2D', ...(activationOps(String(c.activation ?? 'linear')) ?? [])] },
  Conv2DTranspose: {
    lower: lowerConvTranspose,
    ops: (c) => {
      const a = String(c.activation ?? 'linear');
      return ['TRANSPOSE_CONV', ...(a === 'relu' ? ['RELU' as const] : a === 'relu6' ? ['RELU6' as const] : activationOps(a) ?? [])];
    },
  },
  MaxPooling1D: { lower: lowerPool1D('MAX_POOL_2D'), ops: () => ['RESHAPE', 'MAX_POOL_2D'] },
  AveragePooling1D: { lower: lowerPool1D('AVERAGE_POOL_2D'), ops: () => ['RESHAPE', 'AVERAGE_POOL_2D'] },
  GlobalAveragePooling1D: { lower: lowerGlobalPool('MEAN'), ops: () => ['MEAN'] },
  GlobalMaxPooling1D: { lower: lowerGlobalPool('REDUCE_MAX'), ops: () => ['REDUCE_MAX'] },
  GlobalMaxPooling2D: { lower: lowerGlobalPool('REDUCE_MAX'), ops: () => ['REDUCE_MAX'] },
  UpSampling2D: { lower: lowerUpSampling, ops: () => ['RESIZE_NEAREST_NEIGHBOR'] },
  LeakyReLU: { lower: lowerLeakyReLU, ops: () => ['LEAKY_RELU'] },
  ELU: { lower: lowerELU, ops: () => ['ELU'] },
  PReLU: { lower: lowerPReLU, ops: () => ['PRELU'] },
  Softmax: { lower: lowerSoftmaxLayer, ops: () => ['SOFTMAX'] },
  Multiply: { lower: lowerBinary('MUL'), ops: () => ['MUL'] },
  Subtract: { lower: lowerBinary('SUB'), ops: () => ['SUB'] },
  Permute: { lower: lowerPermute, ops: () => ['TRANSPOSE'] },
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

/**
 * Static shape with an unknown batch dimension fixed to `batch` (1 by default); TFLite and LiteRT
 * reject dynamic dims, and LiteRT.js cannot resize inputs, so a batch-N file is exported as such.
 */
export function staticShape(shape: (number | null)[], what: string, batch = 1): number[] {
  return shape.map((d, i) => {
    if (d != null && d > 0) return d;
    if (i === 0) return batch;
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
export interface LowerOptions {
  /** Collect unsupported layers instead of throwing on the first. */
  tolerant?: boolean;
  /** The exported batch dimension; default 1 (what devices run and verification feeds). */
  batch?: number;
}

export function lowerModel(model: tf.LayersModel, opts: LowerOptions = {}): LoweredModel {
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
  const batch = opts.batch ?? 1;
  const g = new IrGraph();
  const unsupported: LoweredModel['unsupported'] = [];
  const bySymbolic = new Map<number, number>();

  for (const input of model.inputs as unknown as SymbolicLike[]) {
    const idx = g.activation(input.sourceLayer.name, staticShape(input.shape, `model input "${input.sourceLayer.name}"`, batch));
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
        throw new UnsupportedLayerError(
          `layer "${layer.name}" (${className}) is not supported by the TFLite exporter; export --format tfjs instead, or replace the layer (TFLite-supported classes: ${SUPPORTED_LAYER_CLASSES.join(', ')})`,
        );
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
        outShape: staticShape(outSym.shape, `layer "${layer.name}" (${className}) output`, batch),
      };
      bySymbolic.set(outSym.id, entry.lower(ctx));
    } catch (err) {
      if (!(opts.tolerant && err instanceof UnsupportedLayerError)) throw err;
      unsupported.push({ layer: layer.name, className, reason: err.message });
      for (const t of node?.outputTensors ?? []) {
        bySymbolic.set(t.id, g.activation(`${layer.name}/unsupported`, t.shape.map((d, i) => d ?? (i === 0 ? batch : 1))));
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

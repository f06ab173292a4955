/**
 * Runs a float32 IrGraph with tfjs ops. Used to calibrate full-integer quantization: every
 * activation tensor of the TFLite graph (including those inside one Keras layer, such as a Dense
 * output before its softmax) gets an observed min/max.
 */
import * as tf from '@tensorflow/tfjs';
import type { IrGraph, IrOp } from './ir';
import { Act } from './schema';

function applyAct(x: tf.Tensor, act: number): tf.Tensor {
  if (act === Act.RELU) return tf.relu(x);
  if (act === Act.RELU6) return tf.relu6(x);
  if (act === Act.RELU_N1_TO_1) return tf.clipByValue(x, -1, 1);
  if (act === Act.TANH) return tf.tanh(x);
  return x;
}

function constant(g: IrGraph, i: number): tf.Tensor {
  const t = g.tensors[i];
  if (t.value) return tf.tensor(t.value, t.shape, 'float32');
  if (t.intValue) return tf.tensor(t.intValue, t.shape, 'int32');
  throw new Error(`tensor ${t.name} has no constant value`);
}

function runOp(g: IrGraph, op: IrOp, get: (i: number) => tf.Tensor): tf.Tensor {
  const o = op.options;
  const x = get(op.inputs[0]);
  switch (op.op) {
    case 'CONV_2D': {
      if (o.kind !== 'conv') break;
      const w = tf.transpose(get(op.inputs[1]), [1, 2, 3, 0]) as tf.Tensor4D;
      const y = tf.conv2d(x as tf.Tensor4D, w, o.strides, o.padding, 'NHWC', o.dilations);
      return applyAct(tf.add(y, get(op.inputs[2])), o.act);
    }
    case 'DEPTHWISE_CONV_2D': {
      if (o.kind !== 'dwconv') break;
      const wt = get(op.inputs[1]);
      const [, kh, kw, cm] = wt.shape;
      const w = tf.reshape(wt, [kh, kw, cm / o.multiplier, o.multiplier]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x as tf.Tensor4D, w, o.strides, o.padding, 'NHWC', o.dilations);
      return applyAct(tf.add(y, get(op.inputs[2])), o.act);
    }
    case 'FULLY_CONNECTED': {
      if (o.kind !== 'fc') break;
      const w = get(op.inputs[1]);
      const flat = tf.reshape(x, [-1, w.shape[1] as number]);
      let y = tf.add(tf.matMul(flat, w, false, true), get(op.inputs[2]));
      if (o.keepNumDims) y = tf.reshape(y, [...x.shape.slice(0, -1), w.shape[0]] as number[]);
      return applyAct(y, o.act);
    }
    case 'MAX_POOL_2D':
    case 'AVERAGE_POOL_2D': {
      if (o.kind !== 'pool') break;
      const f = op.op === 'MAX_POOL_2D' ? tf.maxPool : tf.avgPool;
      return applyAct(f(x as tf.Tensor4D, o.filter, o.strides, o.padding), o.act);
    }
    case 'MEAN':
      return tf.mean(x, Array.from(g.tensors[op.inputs[1]].intValue ?? []), o.kind === 'reducer' && o.keepDims);
    case 'REDUCE_MAX':
      return tf.max(x, Array.from(g.tensors[op.inputs[1]].intValue ?? []), o.kind === 'reducer' && o.keepDims);
    case 'TRANSPOSE':
      return tf.transpose(x, Array.from(g.tensors[op.inputs[1]].intValue ?? []));
    case 'RESIZE_NEAREST_NEIGHBOR': {
      const [h, w] = Array.from(g.tensors[op.inputs[1]].intValue ?? []);
      return tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [h, w], false, false);
    }
    case 'TRANSPOSE_CONV': {
      if (o.kind !== 'transposeConv') break;
      // inputs: output shape, filter [out, h, w, in], input, bias
      const shape = Array.from(g.tensors[op.inputs[0]].intValue ?? []);
      const w = tf.transpose(get(op.inputs[1]), [1, 2, 0, 3]) as tf.Tensor4D;
      const input = get(op.inputs[2]) as tf.Tensor4D;
      const y = tf.conv2dTranspose(input, w, [input.shape[0], shape[1], shape[2], shape[3]], o.strides, o.padding);
      return op.inputs[3] !== undefined && op.inputs[3] >= 0 ? tf.add(y, get(op.inputs[3])) : y;
    }
    case 'HARD_SWISH':
      return tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));
    case 'LEAKY_RELU':
      return tf.leakyRelu(x, o.kind === 'leakyRelu' ? o.alpha : 0.2);
    case 'ELU':
      return tf.elu(x);
    case 'PRELU':
      return tf.prelu(x, get(op.inputs[1]));
    case 'SUB':
      return applyAct(tf.sub(x, get(op.inputs[1])), o.kind === 'sub' ? o.act : 0);
    case 'MAXIMUM':
      return tf.maximum(x, get(op.inputs[1]));
    case 'MINIMUM':
      return tf.minimum(x, get(op.inputs[1]));
    case 'RESHAPE':
      return tf.reshape(x, [-1, ...g.tensors[op.outputs[0]].shape.slice(1)]);
    case 'SOFTMAX':
      return tf.softmax(o.kind === 'softmax' ? tf.mul(x, o.beta) : x);
    case 'LOGISTIC':
      return tf.sigmoid(x);
    case 'TANH':
      return tf.tanh(x);
    case 'RELU':
      return tf.relu(x);
    case 'RELU6':
      return tf.relu6(x);
    case 'ADD':
      return applyAct(tf.add(x, get(op.inputs[1])), o.kind === 'add' ? o.act : 0);
    case 'MUL':
      return applyAct(tf.mul(x, get(op.inputs[1])), o.kind === 'mul' ? o.act : 0);
    case 'CONCATENATION':
      if (o.kind !== 'concat') break;
      return applyAct(tf.concat(op.inputs.map(get), o.axis), o.act);
    case 'PAD': {
      const p = g.tensors[op.inputs[1]].intValue ?? new Int32Array();
      const pairs: [number, number][] = [];
      for (let i = 0; i < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
      return tf.pad(x, pairs);
    }
    case 'DEQUANTIZE':
    case 'QUANTIZE':
    case 'DENSIFY':
      return tf.clone(x);
  }
  throw new Error(`cannot interpret op ${op.op} with options ${o.kind}`);
}

/**
 * Evaluates the float graph on a batch and reports, per tensor index, the min and max it took.
 * @example const ranges = observeRanges(graph, [tf.randomNormal([8, 28, 28, 1])])
 */
export function observeRanges(g: IrGraph, inputs: tf.Tensor[], ranges = new Map<number, [number, number]>()): Map<number, [number, number]> {
  tf.tidy(() => {
    const values = new Map<number, tf.Tensor>();
    g.inputs.forEach((idx, k) => values.set(idx, inputs[k]));
    const get = (i: number): tf.Tensor => {
      const v = values.get(i);
      if (v) return v;
      const c = constant(g, i);
      values.set(i, c);
      return c;
    };
    for (const op of g.ops) values.set(op.outputs[0], runOp(g, op, get));
    for (const [idx, v] of values) {
      if (g.isConst(idx)) continue;
      const lo = tf.min(v).dataSync()[0];
      const hi = tf.max(v).dataSync()[0];
      const prev = ranges.get(idx);
      ranges.set(idx, prev ? [Math.min(prev[0], lo), Math.max(prev[1], hi)] : [lo, hi]);
    }
  });
  return ranges;
}

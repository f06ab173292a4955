/**
 * Would XNNPACK run this .tflite file with sparse inference? XNNPACK has fast sparse kernels
 * (SpMM in NCHW layout) for 1x1 convolutions, but switches to them only under strict rules. This
 * checks a file against those rules, names each that fails and what would fix it.
 *
 * The rules, from the sources (read, not copied):
 * - tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc (Subgraph::Create, PrepareOpsToDelegate):
 *   the delegate passes XNN_FLAG_HINT_SPARSE_INFERENCE only when a delegated node reads weights
 *   unpacked from a DENSIFY of a constant sparse float32/float16 tensor. Zeros stored densely never
 *   ask for sparse inference.
 * - google/XNNPACK src/subgraph.c (xnn_check_nchw_compatibility, xnn_subgraph_rewrite_for_nchw):
 *   all values float; a cluster runs NCHW only if it begins at a 3x3 stride-2 convolution with 3
 *   input channels and padding 1 on every side, holds only 1x1 convolutions (stride 1, no
 *   padding), depthwise 3x3 / 5x5 convolutions (stride 1 or 2, padding 1 / 2 on every side,
 *   multiplier 1, no TF "SAME" flag), 4-D add / multiply and 4-D unary elementwise ops, ends in a
 *   spatial mean (global average pooling), every value inside is consumed only inside, and more
 *   than 2/3 of the cluster's 1x1 convolution weights are zeros.
 * TF-style SAME padding reaches XNNPACK as a flag with zero explicit padding, which fails the
 * "padding 1" checks; ZeroPadding2D(1) + padding 'valid' (an explicit PAD that XNNPACK fuses into
 * the convolution) passes.
 */
import { readTflite, type TfliteInfo } from './reader';

export type SparseRuleId = 'float' | 'weights-stored-sparse' | 'ends-in-spatial-mean' | 'starts-with-3x3-stride-2-conv' | 'ops-between' | 'consumers-inside' | 'zeros-in-1x1';

export interface SparseRule {
  id: SparseRuleId;
  passed: boolean;
  /** What was found. */
  detail: string;
  /** What would make it pass (absent when it passed). */
  fix?: string;
}

export interface SparseEligibility {
  eligible: boolean;
  rules: SparseRule[];
  /** Zeros / weights over the cluster's 1x1 convolutions (null when there is no cluster). */
  zeroFraction: number | null;
}

type Op = TfliteInfo['operators'][number];

const UNARY = new Set(['RELU', 'RELU6', 'RELU_N1_TO_1', 'LOGISTIC', 'TANH', 'HARD_SWISH', 'ELU', 'LEAKY_RELU', 'ABS', 'NEG', 'SQUARE', 'SQRT', 'FLOOR', 'CEIL', 'ROUND']);
const ELEM_BYTES: Record<string, number> = { float32: 4, float16: 2, int32: 4, int8: 1, uint8: 1 };

/** Constant int32 values of tensor `t` (PAD paddings, MEAN axes); undefined when not constant. */
function constInts(info: TfliteInfo, bytes: Uint8Array, t: number): Int32Array | undefined {
  const b = info.buffers[info.tensors[t]?.buffer ?? 0];
  if (!b || b.offset < 0 || info.tensors[t].dtype !== 'int32') return undefined;
  return new Int32Array(bytes.slice(b.offset, b.offset + b.length).buffer);
}

/** Zeros and elements of a float weight (sparse: elements not stored are zeros). */
function countZeros(info: TfliteInfo, bytes: Uint8Array, t: number): { zeros: number; total: number } {
  const tensor = info.tensors[t];
  const total = tensor.shape.reduce((a, d) => a * d, 1);
  const b = info.buffers[tensor.buffer];
  if (!b || b.offset < 0) return { zeros: 0, total };
  const stored = b.length / (ELEM_BYTES[tensor.dtype] ?? 4);
  let zeros = tensor.sparse ? total - stored : 0;
  if (tensor.dtype === 'float32') {
    const v = new Float32Array(bytes.slice(b.offset, b.offset + b.length).buffer);
    for (const x of v) if (x === 0) zeros++;
  } else if (tensor.dtype === 'int8') {
    // Symmetric int8 weights (zero point 0): a stored 0 is a real zero.
    for (const x of bytes.subarray(b.offset, b.offset + b.length)) if (x === 0) zeros++;
  } else if (tensor.dtype === 'float16') {
    const v = new Uint16Array(bytes.slice(b.offset, b.offset + b.length).buffer);
    for (const x of v) if ((x & 0x7fff) === 0) zeros++;
  }
  return { zeros, total };
}

/**
 * Checks `bytes` (a .tflite file) against XNNPACK's sparse-inference rules.
 * @example const r = checkSparseEligibility(bytes); r.rules.filter((x) => !x.passed).map((x) => x.fix)
 */
export function checkSparseEligibility(bytes: Uint8Array, file = '<tflite bytes>'): SparseEligibility {
  const info = readTflite(bytes, file);
  const rules: SparseRule[] = [];
  const producer = new Map<number, Op>();
  const consumers = new Map<number, Op[]>();
  for (const op of info.operators) {
    for (const o of op.outputs) producer.set(o, op);
    for (const i of op.inputs) if (i >= 0) consumers.set(i, [...(consumers.get(i) ?? []), op]);
  }
  const isConst = (t: number): boolean => info.tensors[t]?.buffer !== 0 || producer.get(t)?.op === 'DENSIFY';
  const rank = (t: number): number => info.tensors[t]?.shape.length ?? 0;

  const quantized = info.tensors.filter((t) => t.buffer === 0 && (t.dtype === 'int8' || t.dtype === 'uint8'));
  rules.push(quantized.length
    ? { id: 'float', passed: false, detail: `${quantized.length} activation tensors are ${quantized[0].dtype}`, fix: 'export float32 or float16: XNNPACK\'s sparse kernels are floating-point only' }
    : { id: 'float', passed: true, detail: 'activations are floating point' });

  const densified = info.operators.filter((o) => o.op === 'DENSIFY' && info.tensors[o.inputs[0]]?.sparse && ['float32', 'float16'].includes(info.tensors[o.inputs[0]].dtype));
  const int8Sparse = info.operators.filter((o) => o.op === 'DENSIFY' && info.tensors[o.inputs[0]]?.sparse && info.tensors[o.inputs[0]].dtype === 'int8').length;
  rules.push(densified.length
    ? { id: 'weights-stored-sparse', passed: true, detail: `${densified.length} weight tensors stored sparse and read through DENSIFY` }
    : {
        id: 'weights-stored-sparse',
        passed: false,
        detail: int8Sparse
          ? `${int8Sparse} int8 weight tensors are stored sparse (for size: the builtin kernels read them densified), and the TFLite XNNPACK delegate asks for sparse inference only for float ones`
          : 'no weights are stored sparse, so the TFLite XNNPACK delegate never asks for sparse inference',
        fix: 'export float32 with sparse weights (Topiary writes 1x1 conv and Dense weights as CSR + DENSIFY when that is smaller; sparse: always forces it)',
      });

  // The cluster: back from the last spatial MEAN through NCHW-compatible producers to its start.
  const means = info.operators.filter((o) => {
    if (o.op !== 'MEAN' || rank(o.inputs[0]) !== 4) return false;
    const axes = constInts(info, bytes, o.inputs[1]);
    return axes !== undefined && [...axes].map((a) => (a < 0 ? a + 4 : a)).sort().join() === '1,2';
  });
  const mean = means[means.length - 1];
  if (!mean) {
    rules.push({ id: 'ends-in-spatial-mean', passed: false, detail: 'no MEAN over height and width of a 4-D tensor', fix: 'end the convolutional trunk with GlobalAveragePooling2D instead of Flatten' });
    return { eligible: false, rules, zeroFraction: null };
  }
  rules.push({ id: 'ends-in-spatial-mean', passed: true, detail: `op ${info.operators.indexOf(mean)} is a spatial MEAN` });

  const bad: string[] = [];
  const cluster = new Set<Op>();
  let start: Op | undefined;
  let startProblem: string | undefined;
  const where = (op: Op): string => `op ${info.operators.indexOf(op)} ${op.op}`;
  /** Explicit padding of a conv: from a PAD feeding it (fused by XNNPACK), 0 for VALID without one, null for SAME. */
  const explicitPad = (op: Op): { pads: number[]; pad?: Op } | null => {
    if (op.conv?.padding === 'same') return null;
    const pad = producer.get(op.inputs[0]);
    if (pad?.op !== 'PAD') return { pads: [0, 0, 0, 0] };
    const p = constInts(info, bytes, pad.inputs[1]);
    if (!p || p.length !== 8 || p[0] || p[1] || p[6] || p[7]) return { pads: [-1, -1, -1, -1], pad };
    return { pads: [p[2], p[3], p[4], p[5]], pad };
  };
  const stack = [mean.inputs[0]];
  const seen = new Set<number>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const op = producer.get(t);
    if (!op) {
      startProblem = 'the cluster reaches the model input without a 3x3 stride-2 convolution';
      continue;
    }
    const kernel = op.conv ? info.tensors[op.inputs[1]]?.shape : undefined;
    const follow = (o: Op, inputs = o.inputs): void => {
      cluster.add(o);
      for (const i of inputs) if (i >= 0 && !isConst(i)) stack.push(i);
    };
    if (op.op === 'CONV_2D' && kernel && kernel[1] === 1 && kernel[2] === 1) {
      const c = op.conv!;
      if (c.strideH !== 1 || c.strideW !== 1 || c.dilationH !== 1 || c.dilationW !== 1) bad.push(`${where(op)}: 1x1 convolution with stride ${c.strideH}x${c.strideW} (needs stride 1)`);
      follow(op);
    } else if (op.op === 'CONV_2D' && kernel && kernel[1] === 3 && kernel[2] === 3) {
      const c = op.conv!;
      const pad = explicitPad(op);
      const problems: string[] = [];
      if (c.strideH !== 2 || c.strideW !== 2) problems.push(`stride ${c.strideH}x${c.strideW} (needs 2)`);
      if (kernel[3] !== 3) problems.push(`${kernel[3]} input channels (needs 3)`);
      if (pad === null) problems.push('TF SAME padding (needs ZeroPadding2D(1) + padding valid)');
      else if (pad.pads.some((p) => p !== 1)) problems.push(`padding ${pad.pads.join('/')} (needs 1 on every side)`);
      if (problems.length) startProblem = `${where(op)} (3x3): ${problems.join(', ')}`;
      else start = op;
      cluster.add(op);
      if (pad?.pad) cluster.add(pad.pad);
    } else if (op.op === 'DEPTHWISE_CONV_2D' && kernel) {
      const c = op.conv!;
      const k = kernel[1];
      const pad = explicitPad(op);
      const problems: string[] = [];
      if (kernel[1] !== kernel[2] || (k !== 3 && k !== 5)) problems.push(`kernel ${kernel[1]}x${kernel[2]} (needs 3x3 or 5x5)`);
      if (c.strideH !== c.strideW || (c.strideH !== 1 && c.strideH !== 2)) problems.push(`stride ${c.strideH}x${c.strideW} (needs 1 or 2)`);
      if (c.depthMultiplier !== 1) problems.push(`depth multiplier ${c.depthMultiplier}`);
      if (c.dilationH !== 1 || c.dilationW !== 1) problems.push('dilation');
      if (pad === null) problems.push(`TF SAME padding (needs ZeroPadding2D(${(k - 1) / 2}) + padding valid)`);
      else if (pad.pads.some((p) => p !== (k - 1) / 2)) problems.push(`padding ${pad.pads.join('/')} (needs ${(k - 1) / 2} on every side)`);
      if (problems.length) bad.push(`${where(op)}: ${problems.join(', ')}`);
      if (pad?.pad) follow(pad.pad, [pad.pad.inputs[0]]);
      follow(op, pad?.pad ? [] : op.inputs);
    } else if ((op.op === 'ADD' || op.op === 'MUL') && op.inputs.every((i) => rank(i) === 4 || isConst(i))) {
      follow(op);
    } else if (UNARY.has(op.op) && rank(op.inputs[0]) === 4) {
      follow(op);
    } else {
      bad.push(`${where(op)} is not NCHW-compatible (allowed: 1x1 CONV_2D, DEPTHWISE_CONV_2D 3x3/5x5, ADD, MUL, unary activations)`);
      // Walked through all the same, so the other rules are judged on the whole trunk.
      follow(op);
    }
  }
  rules.push(start && !startProblem
    ? { id: 'starts-with-3x3-stride-2-conv', passed: true, detail: `${where(start)} is a 3x3 stride-2 convolution on 3 channels with padding 1` }
    : {
        id: 'starts-with-3x3-stride-2-conv',
        passed: false,
        detail: startProblem ?? 'no 3x3 stride-2 convolution starts the cluster',
        fix: 'start the net with ZeroPadding2D(1) + Conv2D(3x3, strides 2, padding valid) on a 3-channel input',
      });
  rules.push(bad.length
    ? { id: 'ops-between', passed: false, detail: bad.slice(0, 5).join('; ') + (bad.length > 5 ? `; ... (${bad.length} in all)` : ''), fix: 'between the first convolution and the global average pooling use only 1x1 convolutions, depthwise 3x3/5x5 with explicit ZeroPadding2D + valid, Add/Multiply and activations' }
    : { id: 'ops-between', passed: true, detail: `${cluster.size} ops between are NCHW-compatible` });

  const leaks: string[] = [];
  for (const op of cluster) {
    for (const o of op.outputs) {
      const outside = (consumers.get(o) ?? []).filter((c) => c !== mean && !cluster.has(c));
      if (outside.length || info.outputs.includes(o)) leaks.push(`${where(op)}'s output is also read by ${outside.length ? where(outside[0]) : 'the model output'}`);
    }
  }
  rules.push(leaks.length
    ? { id: 'consumers-inside', passed: false, detail: leaks.slice(0, 3).join('; '), fix: 'values inside the convolutional trunk must not feed ops outside it (e.g. a side branch or an extra output)' }
    : { id: 'consumers-inside', passed: true, detail: 'no value inside is read outside' });

  let zeros = 0;
  let total = 0;
  for (const op of cluster) {
    const k = op.op === 'CONV_2D' ? info.tensors[op.inputs[1]]?.shape : undefined;
    if (!k || k[1] !== 1 || k[2] !== 1) continue;
    const w = producer.get(op.inputs[1])?.op === 'DENSIFY' ? producer.get(op.inputs[1])!.inputs[0] : op.inputs[1];
    const c = countZeros(info, bytes, w);
    zeros += c.zeros;
    total += c.total;
  }
  const zeroFraction = total ? zeros / total : 0;
  rules.push(total && zeros * 3 > total * 2
    ? { id: 'zeros-in-1x1', passed: true, detail: `${(100 * zeroFraction).toFixed(1)}% of the 1x1 convolution weights are zeros (more than 2/3)` }
    : {
        id: 'zeros-in-1x1',
        passed: false,
        detail: total ? `${(100 * zeroFraction).toFixed(1)}% of the 1x1 convolution weights are zeros (needs more than 66.7%)` : 'no 1x1 convolutions in the cluster',
        fix: total ? 'prune the 1x1 convolutions (unstructured) to at least 70% sparsity' : 'sparse inference speeds up 1x1 convolutions only; the net has none there',
      });
  return { eligible: rules.every((r) => r.passed), rules, zeroFraction: total ? zeroFraction : null };
}

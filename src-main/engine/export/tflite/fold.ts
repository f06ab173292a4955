/**
 * Folds per-channel affine ops into the convolution or dense op that feeds them, as TF Lite's own
 * converter does for BatchNormalization. Inference-time BatchNormalization is the affine map
 * y = x * s + t with s = gamma / sqrt(var + eps) and t = beta - mean * s, which lowering emits as
 * MUL(x, s) then ADD(., t). When x = W * in + b comes from CONV_2D / DEPTHWISE_CONV_2D /
 * FULLY_CONNECTED, the same output is
 *   W' = W * s   (scaling each output channel: OHWI dim 0, [out, in] dim 0, [1, H, W, C*m] dim 3)
 *   b' = b * s + t
 * so the MUL and ADD disappear (and a ReLU after them can then fuse into the op as well).
 *
 * Folding needs: the producer has no fused activation yet (the clamp would come before the
 * affine), its output is read only by the MUL/ADD and is not a model output, its weight and bias
 * constants belong to it alone, and the other operand is a constant of one value per output
 * channel along the last axis. Anything else keeps its MUL/ADD.
 */
import { Act } from './schema';
import type { IrGraph, IrOp } from './ir';

const FOLD_INTO = new Set(['CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED']);

/**
 * Folds every MUL or ADD by a per-channel constant into its producing conv/dense op (chains of
 * them included). Adds a note per Keras layer whose ops all disappeared this way.
 * @example foldChannelAffine(graph) // conv -> MUL -> ADD -> RELU6 becomes conv -> RELU6 (fused later)
 */
export function foldChannelAffine(g: IrGraph): void {
  const folded = new Map<string, string>(); // folded op's layer -> layer folded into
  // One pass in execution order suffices: once a MUL is folded, the ADD after it reads the
  // producer's output directly and is folded when the pass reaches it.
  for (const op of [...g.ops]) {
    if (op.op !== 'MUL' && op.op !== 'ADD') continue;
    const into = foldOne(g, op);
    if (into !== undefined) folded.set(op.layer, into);
  }
  for (const [layer, into] of folded) {
    if (!g.ops.some((o) => o.layer === layer)) g.notes.push(`layer "${layer}" folded into "${into}"`);
  }
}

/** Folds `op` into its producer when allowed; returns the producer's layer, or undefined. */
function foldOne(g: IrGraph, op: IrOp): string | undefined {
  if (op.inputs.length !== 2 || !('act' in op.options) || op.options.act !== Act.NONE) return undefined;
  const constSide = op.inputs.findIndex((i) => g.isConst(i));
  if (constSide < 0 || g.isConst(op.inputs[1 - constSide])) return undefined;
  const x = op.inputs[1 - constSide];
  const c = g.tensors[op.inputs[constSide]];
  const prod = g.producer(x);
  if (!prod || !FOLD_INTO.has(prod.op) || !('act' in prod.options) || prod.options.act !== Act.NONE) return undefined;
  if (g.consumers(x).length !== 1 || g.outputs.includes(x)) return undefined;
  const [wIdx, bIdx] = [prod.inputs[1], prod.inputs[2]];
  if (wIdx === undefined || bIdx === undefined) return undefined;
  const w = g.tensors[wIdx];
  const b = g.tensors[bIdx];
  if (!w.value || !b.value || w.sparse || g.consumers(wIdx).length !== 1 || g.consumers(bIdx).length !== 1) return undefined;
  const axis = w.channelAxis ?? 0;
  const channels = w.shape[axis];
  const out = g.tensors[x].shape;
  // One value per output channel, broadcast along the last axis only.
  if (!c.value || c.value.length !== channels || out[out.length - 1] !== channels || c.shape.slice(0, -1).some((d) => d !== 1)) return undefined;
  const k = c.value;
  if (op.op === 'MUL') {
    const inner = w.shape.slice(axis + 1).reduce((a, d) => a * d, 1);
    const wv = w.value;
    for (let i = 0; i < wv.length; i++) wv[i] *= k[Math.floor(i / inner) % channels];
    for (let ch = 0; ch < channels; ch++) b.value[ch] *= k[ch];
  } else {
    for (let ch = 0; ch < channels; ch++) b.value[ch] += k[ch];
  }
  prod.outputs = [op.outputs[0]];
  g.ops.splice(g.ops.indexOf(op), 1);
  return prod.layer;
}

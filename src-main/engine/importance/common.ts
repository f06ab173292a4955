/** Helpers shared by the criteria: reducing element scores to channels, and gradient accumulation. */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { batchIndices, batchTensors, sampleShapeOf } from '../finetune/batches';
import { objectiveFor } from '../finetune/loss';
import type { ChannelGroup, ChannelGroupMember, ImportanceContext, PrunableWeight } from '../prune/types';

/**
 * Reduces a tensor to one value per index of `axis`: L1 (sum |x|) or L2 (sqrt sum x^2) over the other axes.
 * @example channelNorms(tf.tensor2d([[1, -2], [3, 4]]), 1, 'l1') // [4, 6]
 */
export function channelNorms(value: tf.Tensor, axis: number, norm: 'l1' | 'l2'): Float32Array {
  return tf.tidy(() => {
    const other = value.shape.map((_, i) => i).filter((i) => i !== axis);
    const r = norm === 'l1' ? tf.sum(tf.abs(value), other) : tf.sqrt(tf.sum(tf.square(value), other));
    return r.dataSync() as Float32Array;
  });
}

/**
 * Group scores from per-member element scores: reduce each member onto its channel axis and add
 * at its offset. `elementScores(member)` returns a tensor shaped like `member.value` (or null to skip).
 */
export function sumGroup(
  group: ChannelGroup,
  norm: 'l1' | 'l2',
  elementScores: (m: ChannelGroupMember) => tf.Tensor | null,
): Float32Array {
  const out = new Float32Array(group.channels);
  for (const m of group.members) {
    if ((m.role ?? 'kernel') !== 'kernel') continue;
    const s = elementScores(m);
    if (!s) continue;
    const c = channelNorms(s, m.axis, norm);
    if (s !== m.value) s.dispose();
    const off = m.offset ?? 0;
    for (let i = 0; i < c.length && off + i < out.length; i++) out[off + i] += c[i];
  }
  return out;
}

/** Finds the variable behind a weight name in the model (for gradient criteria on group members). */
export function variableByName(model: tf.LayersModel, name: string): tf.LayerVariable {
  const v = model.weights.find((w) => w.name === name);
  if (!v) throw new ConfigError(`no weight named "${name}" in the model`);
  return v;
}

/**
 * Runs `ctx.batches` seeded batches of the loss and accumulates `combine(w, dL/dw)` for each variable.
 * Used by Taylor (|w * g|) and the movement warm-up (-w * g). L is the task's loss (`ctx.task`):
 * cross-entropy for a classifier, MSE/MAE (`ctx.loss`) for a regressor.
 */
export function accumulateGradients(
  vars: { name: string; variable: tf.LayerVariable }[],
  ctx: ImportanceContext,
  what: string,
  combine: (w: tf.Tensor, g: tf.Tensor) => tf.Tensor,
): Map<string, Float32Array> {
  if (!ctx.data || ctx.data.size === 0) throw new ConfigError(`${what} importance needs training data`);
  const batchSize = ctx.batchSize ?? 32;
  const batches = batchIndices(ctx.data.size, batchSize, ctx.seed ?? 0).slice(0, ctx.batches ?? 8);
  const shape = sampleShapeOf(ctx.model);
  const tfVars = vars.map((v) => v.variable.read() as tf.Variable);
  const objective = objectiveFor(ctx.model, ctx.task, ctx.loss);
  const acc: tf.Tensor[] = tfVars.map((v) => tf.zerosLike(v));
  // Freed on every path: a loss that throws (bad labels, a task the model cannot take) leaked the
  // sums and the batch before.
  try {
    for (const [b, idx] of batches.entries()) {
      const { x, y } = batchTensors(ctx.data, idx, shape);
      try {
        // The first batch's loss once outside the gradient tape: a loss that throws inside
        // tf.variableGrads leaves the tape's intermediate tensors behind (tfjs frees them only on
        // success); here it throws the same error with nothing left over.
        if (b === 0) tf.tidy(() => void objective.loss(objective.forward(ctx.model, x, false), y));
        tf.tidy(() => {
          const { grads, value } = tf.variableGrads(() => objective.loss(objective.forward(ctx.model, x, false), y), tfVars);
          value.dispose();
          tfVars.forEach((v, i) => {
            const next: tf.Tensor = tf.add(acc[i], combine(v, grads[v.name]));
            acc[i].dispose();
            acc[i] = tf.keep(next);
          });
        });
      } finally {
        x.dispose();
        y.dispose();
      }
    }
    const out = new Map<string, Float32Array>();
    vars.forEach((v, i) => out.set(v.name, acc[i].dataSync() as Float32Array));
    return out;
  } finally {
    tf.dispose(acc);
  }
}

/** A weight's current value as a flat array (row-major). */
export function valuesOf(w: PrunableWeight): Float32Array {
  return w.variable.read().dataSync() as Float32Array;
}

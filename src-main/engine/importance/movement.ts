/**
 * Movement criterion (Sanh et al. 2020, "Movement Pruning"): scores accumulate during fine-tuning as
 * S -= lr * dL/dw * w, so weights moving away from zero gain importance. The fine-tuning loop keeps
 * them in `ctx.movement`; before any training (one-shot), a warm-up over `ctx.batches` batches
 * accumulates -w * dL/dw (one SGD step's worth per batch, the learning rate only scales all scores).
 * @example await movement.scores(weights, { model, movement: trainer.movementScores })
 */
import * as tf from '@tensorflow/tfjs';
import type { ChannelGroup, Importance, ImportanceContext, PrunableWeight } from '../prune/types';
import { accumulateGradients, variableByName } from './common';

const movementTerm = (w: tf.Tensor, g: tf.Tensor): tf.Tensor => tf.neg(tf.mul(w, g));

function elementScores(vars: { name: string; variable: tf.LayerVariable }[], ctx: ImportanceContext): Map<string, Float32Array> {
  const missing = vars.filter((v) => !ctx.movement?.has(v.name));
  const warm = missing.length > 0 ? accumulateGradients(missing, ctx, 'movement', movementTerm) : new Map<string, Float32Array>();
  const out = new Map<string, Float32Array>();
  for (const v of vars) out.set(v.name, ctx.movement?.get(v.name) ?? (warm.get(v.name) as Float32Array));
  return out;
}

export const movement: Importance = {
  method: 'movement',
  async scores(weights: PrunableWeight[], ctx: ImportanceContext) {
    return elementScores(
      weights.map((w) => ({ name: w.weightName, variable: w.variable })),
      ctx,
    );
  },
  async groupScores(group: ChannelGroup, ctx: ImportanceContext) {
    const names = [...new Set(group.members.filter((m) => (m.role ?? 'kernel') === 'kernel').map((m) => m.weightName))];
    const element = elementScores(names.map((name) => ({ name, variable: variableByName(ctx.model, name) })), ctx);
    // Movement scores are signed; a channel's score is their sum (l1 of the signed values would reward
    // weights moving toward zero as much as away from it).
    const out = new Float32Array(group.channels);
    for (const m of group.members) {
      const s = element.get(m.weightName);
      if (!s || (m.role ?? 'kernel') !== 'kernel') continue;
      const reduced = tf.tidy(() => {
        const t = tf.tensor(s, m.value.shape);
        const other = m.value.shape.map((_, i) => i).filter((i) => i !== m.axis);
        return tf.sum(t, other).dataSync();
      });
      const off = m.offset ?? 0;
      for (let i = 0; i < reduced.length && off + i < out.length; i++) out[off + i] += reduced[i];
    }
    return out;
  },
};

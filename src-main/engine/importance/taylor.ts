/**
 * First-order Taylor criterion (Molchanov et al. 2019, "Importance Estimation for Neural Network
 * Pruning"): the loss change from removing w is approximated by |w * dL/dw|, accumulated over
 * `ctx.batches` seeded batches of `ctx.data`. Groups: the element scores reduced per channel.
 * @example await taylor.scores(weights, { model, data: ds.train, batches: 8, batchSize: 32 })
 */
import * as tf from '@tensorflow/tfjs';
import type { ChannelGroup, Importance, ImportanceContext, PrunableWeight } from '../prune/types';
import { accumulateGradients, sumGroup, variableByName } from './common';

const taylorTerm = (w: tf.Tensor, g: tf.Tensor): tf.Tensor => tf.abs(tf.mul(w, g));

export const taylor: Importance = {
  method: 'taylor',
  async scores(weights: PrunableWeight[], ctx: ImportanceContext) {
    const vars = weights.map((w) => ({ name: w.weightName, variable: w.variable }));
    return accumulateGradients(vars, ctx, 'taylor', taylorTerm);
  },
  async groupScores(group: ChannelGroup, ctx: ImportanceContext) {
    const names = [...new Set(group.members.filter((m) => (m.role ?? 'kernel') === 'kernel').map((m) => m.weightName))];
    const vars = names.map((name) => ({ name, variable: variableByName(ctx.model, name) }));
    const element = accumulateGradients(vars, ctx, 'taylor', taylorTerm);
    return sumGroup(group, ctx.norm ?? 'l2', (m) => {
      const s = element.get(m.weightName);
      return s ? tf.tensor(s, m.value.shape) : null;
    });
  },
};

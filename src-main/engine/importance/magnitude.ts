/**
 * Magnitude criterion (Han et al. 2015): score = |w|; for channel groups, the L1/L2 norm of the
 * channel's weights summed across coupled layers (Li et al. 2017 filter norms).
 * @example await magnitude.scores(prunableWeights(model), { model }) // Map name -> |w|
 */
import type { Importance } from '../prune/types';
import { sumGroup, valuesOf } from './common';

export const magnitude: Importance = {
  method: 'magnitude',
  async scores(weights) {
    const out = new Map<string, Float32Array>();
    for (const w of weights) out.set(w.weightName, valuesOf(w).map(Math.abs));
    return out;
  },
  async groupScores(group, ctx) {
    return sumGroup(group, ctx.norm ?? 'l2', (m) => m.value);
  },
};

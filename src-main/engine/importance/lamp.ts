/**
 * LAMP (Lee et al. 2021, "Layer-adaptive sparsity for the magnitude-based pruning"):
 * with a layer's weights sorted ascending by magnitude, score(u) = w_u^2 / sum_{v >= u} w_v^2.
 * The largest weight of every layer scores 1, so one global threshold never empties a layer and
 * adapts each layer's sparsity to its distribution.
 * @example lampScores(new Float32Array([1, 2, 3])) // [1/14, 4/13, 1]
 */
import type { Importance } from '../prune/types';
import { sumGroup, valuesOf } from './common';

/** LAMP scores of a flat array (ties keep index order, so equal weights get distinct, deterministic scores). */
export function lampScores(values: ArrayLike<number>): Float32Array {
  const n = values.length;
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) sq[i] = values[i] * values[i];
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => sq[a] - sq[b] || a - b);
  const out = new Float32Array(n);
  let tail = 0;
  for (let r = n - 1; r >= 0; r--) {
    const i = order[r];
    tail += sq[i];
    out[i] = tail > 0 ? sq[i] / tail : 0;
  }
  return out;
}

export const lamp: Importance = {
  method: 'lamp',
  async scores(weights) {
    const out = new Map<string, Float32Array>();
    for (const w of weights) out.set(w.weightName, lampScores(valuesOf(w)));
    return out;
  },
  async groupScores(group, ctx) {
    // LAMP over channel norms: the channel's norm plays the role of a weight's magnitude.
    return lampScores(sumGroup(group, ctx.norm ?? 'l2', (m) => m.value));
  },
};

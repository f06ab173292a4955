/**
 * Random criterion: seeded uniform scores, the baseline every real criterion must beat.
 * @example await random.scores(weights, { model, seed: 1 })
 */
import { seededRandom } from '../data';
import type { Importance } from '../prune/types';

export const random: Importance = {
  method: 'random',
  async scores(weights, ctx) {
    const rand = seededRandom(ctx.seed ?? 0);
    const out = new Map<string, Float32Array>();
    for (const w of weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const s = new Float32Array(n);
      for (let i = 0; i < n; i++) s[i] = rand();
      out.set(w.weightName, s);
    }
    return out;
  },
  async groupScores(group, ctx) {
    const rand = seededRandom(ctx.seed ?? 0);
    const s = new Float32Array(group.channels);
    for (let i = 0; i < s.length; i++) s[i] = rand();
    return s;
  },
};

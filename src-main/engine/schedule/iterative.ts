import type { Schedule } from './types';

/**
 * Iterative pruning (Han et al. 2015): `rounds` prune + fine-tune rounds over `totalSteps` optimizer
 * steps; round r (1..k) starts at step floor((r-1) * totalSteps / k) and prunes to
 * - geometric (default): s_r = 1 - (1 - s_f)^(r/k), the same fraction of the *remaining* weights each
 *   round, which is gentler late when every weight matters more;
 * - linear: s_r = s_f * r / k.
 * @example iterativeSchedule({ finalSparsity: 0.75, rounds: 2, totalSteps: 100 })(50) // { prune: true, sparsity: 0.75 }
 */
export function iterativeSchedule(opts: {
  finalSparsity: number;
  rounds: number;
  totalSteps: number;
  spacing?: 'geometric' | 'linear';
}): Schedule {
  const { finalSparsity: sf, rounds: k, totalSteps } = opts;
  const spacing = opts.spacing ?? 'geometric';
  const at = (r: number): number => (spacing === 'linear' ? (sf * r) / k : 1 - Math.pow(1 - sf, r / k));
  const starts = Array.from({ length: k }, (_, i) => Math.floor((i * totalSteps) / k));
  return (step) => {
    // With fewer steps than rounds several rounds share a step; the last one wins.
    let round = 0;
    for (let r = 0; r < k; r++) if (starts[r] <= step) round = r + 1;
    return { prune: starts.includes(step), sparsity: round === k ? sf : at(round) };
  };
}

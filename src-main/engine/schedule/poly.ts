import type { Schedule } from './types';

/**
 * Polynomial decay (Zhu & Gupta 2017, "To prune, or not to prune"):
 * s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3 for t in [t0, t0 + n*dt], pruning every dt
 * steps; before t0 nothing is pruned, after the end s_t = s_f. Fast early, slow as the weights that
 * are left matter more.
 * @example polySchedule({ initialSparsity: 0, finalSparsity: 0.8, begin: 0, end: 100, frequency: 10 })(50).sparsity // 0.7
 */
export function polySchedule(opts: {
  initialSparsity: number;
  finalSparsity: number;
  begin: number;
  end: number;
  frequency: number;
}): Schedule {
  const { initialSparsity: si, finalSparsity: sf, begin: t0, end, frequency: dt } = opts;
  const span = Math.max(1, end - t0);
  return (step) => {
    if (step < t0) return { prune: false, sparsity: 0 };
    const t = Math.min(step, end);
    const sparsity = sf + (si - sf) * Math.pow(1 - (t - t0) / span, 3);
    const onGrid = (step - t0) % dt === 0 && step <= end;
    return { prune: onGrid || step === end, sparsity };
  };
}

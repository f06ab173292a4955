import type { Schedule } from './types';

/**
 * One-shot: prune to the final sparsity at step 0, then only fine-tune.
 * @example oneshotSchedule(0.9)(0) // { prune: true, sparsity: 0.9 }
 */
export function oneshotSchedule(finalSparsity: number): Schedule {
  return (step) => ({ prune: step === 0, sparsity: finalSparsity });
}

/** Builds the schedule a PruneConfig asks for, over a known number of optimizer steps. */
import type { ScheduleConfig } from '../prune/types';
import { iterativeSchedule } from './iterative';
import { oneshotSchedule } from './oneshot';
import { polySchedule } from './poly';
import type { Schedule } from './types';

/**
 * @param totalSteps optimizer steps of fine-tuning (epochs * batches per epoch)
 * Poly defaults: begin 0, end at two thirds of training (the rest recovers at the final sparsity),
 * frequency so that about 10 pruning steps happen.
 * @example makeSchedule({ kind: 'poly', initialSparsity: 0 }, 0.9, 300)
 */
export function makeSchedule(config: ScheduleConfig, finalSparsity: number, totalSteps: number): Schedule {
  switch (config.kind) {
    case 'oneshot':
      return oneshotSchedule(finalSparsity);
    case 'iterative':
      return iterativeSchedule({ finalSparsity, rounds: config.rounds, totalSteps, spacing: config.spacing });
    case 'poly': {
      const begin = config.begin ?? 0;
      const end = config.end ?? Math.max(begin + 1, Math.floor((2 * totalSteps) / 3));
      const frequency = config.frequency ?? Math.max(1, Math.floor((end - begin) / 10));
      return polySchedule({ initialSparsity: config.initialSparsity, finalSparsity, begin, end, frequency });
    }
  }
}

export { iterativeSchedule, oneshotSchedule, polySchedule };
export type { Schedule, ScheduleStep } from './types';

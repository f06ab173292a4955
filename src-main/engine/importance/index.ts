/** The criteria by method name: one module each, one interface. */
import type { Importance, PruneMethod } from '../prune/types';
import { bnScale } from './bn-scale';
import { lamp } from './lamp';
import { magnitude } from './magnitude';
import { movement } from './movement';
import { random } from './random';
import { taylor } from './taylor';

export const IMPORTANCE: Record<PruneMethod, Importance> = {
  magnitude,
  taylor,
  movement,
  lamp,
  'bn-scale': bnScale,
  random,
};

/** The criterion for a method: `importanceFor('lamp').scores(weights, ctx)`. */
export function importanceFor(method: PruneMethod): Importance {
  return IMPORTANCE[method];
}

export { channelNorms, sumGroup } from './common';
export { lampScores } from './lamp';

/**
 * Pareto frontiers over final metrics: which runs no other run beats on every objective.
 */
import { ConfigError } from '../../common/errors';
import type { ParetoObjective, RunFilter } from '../../common/contract';

/**
 * Only finished runs are results: `filter` narrowed to status `done`, or null when it asks only for
 * other statuses (an empty status list would mean "any status" to the store).
 * @example finishedOnly({ tag: 'x' }) // { tag: 'x', status: 'done' }
 */
export function finishedOnly(filter: RunFilter): RunFilter | null {
  const asked = filter.status === undefined ? [] : [filter.status].flat();
  if (asked.length > 0 && !asked.includes('done')) return null;
  return { ...filter, status: 'done' };
}

export function validateObjectives(objectives: readonly ParetoObjective[]): void {
  if (objectives.length === 0) throw new ConfigError('pareto needs at least one objective, e.g. accuracy:max sizeBytes:min');
  const seen = new Set<string>();
  for (const o of objectives) {
    if (!o.metric) throw new ConfigError('a pareto objective needs a metric name');
    if (o.direction !== 'max' && o.direction !== 'min') throw new ConfigError(`objective ${o.metric}: direction must be max or min, got ${String(o.direction)}`);
    if (seen.has(o.metric)) throw new ConfigError(`objective ${o.metric} is given twice`);
    seen.add(o.metric);
  }
}

/**
 * Indexes of the non-dominated points. With every objective oriented so larger is better, `a`
 * dominates `b` when a >= b everywhere and a > b somewhere. Points are sorted lexicographically
 * best-first, so a dominator always precedes what it dominates and only frontier members need
 * checking: O(n log n + n·|frontier|). Identical points are all kept.
 * @example paretoFrontier([[0.9, 100], [0.8, 50], [0.7, 80]], ['max', 'min']) // [0, 1]
 */
export function paretoFrontier(points: readonly number[][], directions: readonly ('max' | 'min')[]): number[] {
  const oriented = points.map((p) => p.map((v, j) => (directions[j] === 'min' ? -v : v)));
  const order = oriented.map((_, i) => i).sort((a, b) => {
    for (let j = 0; j < directions.length; j++) {
      const d = oriented[b][j] - oriented[a][j];
      if (d !== 0) return d;
    }
    return a - b;
  });
  const frontier: number[] = [];
  for (const i of order) {
    const p = oriented[i];
    const dominated = frontier.some((f) => {
      const q = oriented[f];
      let strictly = false;
      for (let j = 0; j < p.length; j++) {
        if (q[j] < p[j]) return false;
        if (q[j] > p[j]) strictly = true;
      }
      return strictly;
    });
    if (!dominated) frontier.push(i);
  }
  return frontier;
}

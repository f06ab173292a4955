/** Plain-text tables for the terminal. */

import { bytes, count, fixed, isFiniteNumber, MISSING, ms, percent, precision, table } from '../common/format';

// The one formatter module; re-exported so commands keep importing the CLI's own names.
export { bytes, count, table } from '../common/format';

/** Before/after table of a run's summary metrics, with the change. */
export function beforeAfter(before: Record<string, number>, after: Record<string, number>): string {
  const rows: [string, string, (n: number) => string, 'diff' | 'ratio'][] = [
    ['accuracy', 'accuracy', (n) => percent(n), 'diff'],
    // Regression runs record these instead of accuracy (lower is better for MAE / RMSE).
    ['MAE', 'mae', (n) => precision(n, 4), 'diff'],
    ['RMSE', 'rmse', (n) => precision(n, 4), 'diff'],
    ['R²', 'r2', (n) => fixed(n, 4), 'diff'],
    ['loss', 'loss', (n) => fixed(n, 4), 'diff'],
    ['parameters', 'params', count, 'ratio'],
    ['non-zeros', 'nonZeros', count, 'ratio'],
    ['MACs / sample', 'macs', count, 'ratio'],
    ['size (float32)', 'sizeBytes', bytes, 'ratio'],
    ['size (gzip)', 'gzipBytes', bytes, 'ratio'],
    ['latency batch 1', 'latencyMs', (n) => ms(n), 'ratio'],
    ['latency batch 64', 'latencyBatchMs', (n) => ms(n), 'ratio'],
  ];
  return table(
    ['', 'before', 'after', 'change'],
    rows
      .filter(([, k]) => k in before || k in after)
      .map(([label, k, f, kind]) => {
        const b = before[k];
        const a = after[k];
        // A metric only one side has (or a NaN loss) has no change to show.
        const change = !isFiniteNumber(a) || !isFiniteNumber(b)
          ? MISSING
          : kind === 'diff'
            ? k === 'accuracy'
              ? `${a - b >= 0 ? '+' : ''}${(100 * (a - b)).toFixed(2)} pts`
              : `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(4)}`
            : b > 0
              ? `x${(a / b).toFixed(3)}`
              : MISSING;
        return [label, f(b), f(a), change];
      }),
    [false, true, true, true],
  );
}

/**
 * Per-class accuracy from a confusion matrix, and the before/after report a run records: which
 * classes pruning hurt. Pure arithmetic on the matrices engine/measure/evaluate.ts returns.
 */
import { ConfigError } from '../../common/errors';
import type { ClassReport, ClassSide, Mistake } from '../../common/contract/classes';

/** Above this many classes a run keeps per-class accuracy and the top mistakes, not the whole matrix. */
export const CONFUSION_MAX_CLASSES = 100;
/** Mistakes kept per model. */
const MISTAKES = 20;

/**
 * Recall of each class: accuracy[c] = confusion[c][c] / sum_p confusion[c][p]; null for a class no
 * evaluated sample has (no accuracy to report, which is not the same as 0).
 * @example classAccuracy([[3, 1], [0, 2]]) // [0.75, 1]
 */
export function classAccuracy(confusion: readonly (readonly number[])[]): (number | null)[] {
  return confusion.map((row, c) => {
    const support = row.reduce((a, b) => a + b, 0);
    return support === 0 ? null : row[c] / support;
  });
}

/**
 * One model's per-class results from its confusion matrix: accuracy (recall), support, and a copy of the matrix.
 * @example classSide([[3, 1], [0, 2]]).support // [4, 2]
 */
export function classSide(confusion: readonly (readonly number[])[], maxClasses = CONFUSION_MAX_CLASSES): ClassSide {
  return {
    accuracy: classAccuracy(confusion),
    support: confusion.map((row) => row.reduce((a, b) => a + b, 0)),
    ...(confusion.length <= maxClasses ? { confusion: confusion.map((row) => [...row]) } : {}),
    mistakes: topMistakes(confusion, MISTAKES),
  };
}

/**
 * The `k` largest off-diagonal cells, most first (ties: by label, then predicted class).
 * @example topMistakes([[5, 2], [1, 4]], 1) // [{ label: 0, predicted: 1, count: 2 }]
 */
export function topMistakes(confusion: readonly (readonly number[])[], k: number): Mistake[] {
  const out: Mistake[] = [];
  confusion.forEach((row, label) => row.forEach((count, predicted) => {
    if (predicted !== label && count > 0) out.push({ label, predicted, count });
  }));
  return out.sort((a, b) => b.count - a.count || a.label - b.label || a.predicted - b.predicted).slice(0, k);
}

function checkSquare(m: readonly (readonly number[])[], what: string): void {
  if (m.some((row) => row.length !== m.length)) throw new ConfigError(`${what} confusion matrix is not square (${m.length} rows, rows of ${m.map((r) => r.length).join('/')})`);
}

/**
 * The run's per-class report from the original's and the pruned model's confusion matrices on the
 * same samples. Labels are the dataset's class names when there is one per class, else "0", "1"...
 * @example classReport([[3, 1], [0, 2]], [[2, 2], [0, 2]], ['cat', 'dog']).after.accuracy // [0.5, 1]
 */
export function classReport(
  before: readonly (readonly number[])[],
  after: readonly (readonly number[])[],
  names: readonly string[] = [],
  maxClasses = CONFUSION_MAX_CLASSES,
): ClassReport {
  checkSquare(before, 'the original model\'s');
  checkSquare(after, 'the pruned model\'s');
  if (before.length !== after.length) throw new ConfigError(`the original model has ${before.length} classes but the pruned model ${after.length}`);
  const total = (m: readonly (readonly number[])[]) => m.reduce((n, row) => n + row.reduce((a, b) => a + b, 0), 0);
  if (total(before) !== total(after)) throw new ConfigError(`before and after were evaluated on different sample counts (${total(before)} vs ${total(after)})`);
  const labels = names.length === before.length ? [...names] : before.map((_, i) => String(i));
  return { labels, samples: total(before), before: classSide(before, maxClasses), after: classSide(after, maxClasses) };
}

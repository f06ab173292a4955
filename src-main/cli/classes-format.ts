/** The run report's per-class lines: which classes pruning hurt most (summary.classes). */
import { mostHurt } from '../common/classes';
import type { ClassReport } from '../common/contract';
import { fixed, percent } from '../common/format';

/**
 * `classes hurt most by pruning (of 300 test samples): Shirt 62.0% -> 41.0% (-21.0 pts), ...`, or a
 * line saying none lost accuracy; '' when the run has no per-class report (a regressor, an old run).
 */
export function formatClassDrops(summary: unknown, k = 3): string {
  const classes = (summary as { classes?: ClassReport } | null)?.classes;
  if (!classes || !Array.isArray(classes.labels)) return '';
  // A dataset without class names labels classes by index: "class 2" reads better than "2".
  const hurt = mostHurt(classes, k).map((h) => ({ ...h, label: /^\d+$/.test(h.label) ? `class ${h.label}` : h.label }));
  const head = `of ${classes.samples} test samples, ${classes.labels.length} classes`;
  if (!hurt.length) return `per class (${head}): no class lost accuracy`;
  return [
    `classes hurt most by pruning (${head}):`,
    ...hurt.map((h) => `  ${h.label.padEnd(Math.max(...hurt.map((x) => x.label.length)))}  ${percent(h.before, 1).padStart(7)} -> ${percent(h.after, 1).padStart(7)}  (-${fixed(100 * h.drop, 1)} pts)`),
  ].join('\n');
}

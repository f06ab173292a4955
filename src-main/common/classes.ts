/**
 * Reading a run's per-class report (summary.classes, see contract/classes.ts): which classes pruning
 * hurt most. Shared by the CLI and the run detail so both name the same classes.
 */
import type { ClassReport } from './contract/classes';

/**
 * The classes whose accuracy dropped most, worst first: indices with after < before, at most `k`.
 * Classes without samples are left out.
 * @example mostHurt(report, 3) // [{ index: 6, label: 'Shirt', before: 0.62, after: 0.41, drop: 0.21 }]
 */
export function mostHurt(report: ClassReport, k = 3): { index: number; label: string; before: number; after: number; drop: number }[] {
  const out = [];
  for (let i = 0; i < report.labels.length; i++) {
    const b = report.before.accuracy[i];
    const a = report.after.accuracy[i];
    if (b === null || a === null || a >= b) continue;
    out.push({ index: i, label: report.labels[i], before: b, after: a, drop: b - a });
  }
  return out.sort((x, y) => y.drop - x.drop || x.index - y.index).slice(0, k);
}

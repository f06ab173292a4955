/**
 * "What to change" for a fit report: one line per failed constraint saying how far over budget the
 * file is and which lever moves it (numeric type, structured pruning, a layer to replace), or,
 * when it fits, where the least room is. Pure; sizes and times go through common/format.
 */
import { bytes, percent } from '../../common/format';
import type { ConstraintResult, FitReport } from '../../common/profiles';

const room = (c: ConstraintResult): string => (c.marginFraction === null ? '' : `${percent(c.marginFraction, 0)} of the budget left`);

/**
 * @example adviceFor(report) // ['storage: 1.20 MiB, 200.0 KiB over the 1.00 MiB budget: ...']
 */
export function adviceFor(report: FitReport, allowed: readonly string[] = []): string[] {
  const out: string[] = [];
  const failed = report.constraints.filter((c) => !c.passed);
  for (const c of failed) {
    const over = c.value !== null ? c.value - c.budget : null;
    const cut = c.value !== null && c.value > 0 ? 1 - c.budget / c.value : null;
    switch (c.constraint) {
      case 'storage':
        out.push(
          c.value === null
            ? 'storage: the model could not be exported for this runtime; replace the unsupported layers first'
            : `storage: ${bytes(c.value)} is ${bytes(over)} over the ${bytes(c.budget)} budget: ` +
                `${report.numericType === 'int8' ? '' : 'export int8 (about 4x smaller than float32), or '}prune about ${percent(cut, 0)} of the weights (structured pruning shrinks any file; unstructured zeros only where the runtime takes sparse weights, or under gzip)`,
        );
        break;
      case 'ram': {
        const peak = report.arena?.peakAt;
        out.push(
          c.value === null
            ? 'RAM: no op graph to estimate from (the export failed)'
            : `RAM: arena ~${bytes(c.value)} is ${bytes(over)} over the ${bytes(c.budget)} budget: ` +
                `${peak ? `the peak is at ${peak.op} of ${peak.layer || 'a graph edge'}; ` : ''}remove filters there (structured pruning) or feed a smaller input`,
        );
        break;
      }
      case 'latency':
        out.push(
          `latency: the estimate ${c.value?.toFixed(2) ?? '-'} ms is over the ${c.budget} ms target: cut about ${percent(cut, 0)} of the MACs ` +
            '(structured pruning removes MACs; unstructured sparsity does not on most runtimes)',
        );
        break;
      case 'ops':
        for (const u of report.unsupportedOps) out.push(`ops: ${u.layer}${u.className ? ` (${u.className})` : ''} needs ${u.ops.join(', ') || 'an op'} the runtime lacks: replace that layer, or choose a profile whose runtime has it`);
        break;
      case 'numeric':
        out.push(`numeric type: ${report.numericType} is not allowed on this device; export as ${allowed.join(' or ') || 'an allowed type'}`);
        break;
    }
  }
  if (failed.length === 0) {
    const tight = report.constraints
      .filter((c) => (c.constraint === 'storage' || c.constraint === 'ram' || c.constraint === 'latency') && c.marginFraction !== null)
      .sort((a, b) => (a.marginFraction ?? 0) - (b.marginFraction ?? 0))[0];
    out.push(tight ? `fits: nothing to change; the tightest budget is ${tight.constraint === 'ram' ? 'RAM' : tight.constraint} (${room(tight)})` : 'fits: nothing to change');
  }
  return out;
}

/** Plain-text rendering of a ModelAnalysis for the terminal (`topiary analyze`). */
import { bytes, count, percent, table } from '../../common/format';
import type { ModelAnalysis } from './analyze';

const shape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
const pct = (x: number) => percent(x, 1, '');

/**
 * A fixed-width table, one row per layer plus a total row, followed by size and memory lines.
 * @example console.log(formatAnalysisTable(analyzeModel(model)))
 */
export function formatAnalysisTable(a: ModelAnalysis): string {
  // A flattened nested model: say which nested model each layer came from (its path minus its own name).
  const nested = a.layers.some((l) => l.source !== undefined);
  const header = ['#', 'layer', 'class', 'output', 'params', 'non-zero', 'sparsity', 'MACs', 'activations', ...(nested ? ['nested in'] : [])];
  const rows = a.layers.map((l) => [
    String(l.index),
    l.name,
    l.className,
    shape(l.outputShape),
    count(l.params),
    count(l.nonZeros),
    l.params === 0 ? '-' : pct(l.sparsity),
    count(l.macs),
    bytes(l.activationBytes),
    ...(nested ? [l.source === undefined ? '' : l.source.split('/').slice(0, -1).join('/')] : []),
  ]);
  const total = ['', 'total', '', '', count(a.params), count(a.nonZeros), pct(a.sparsity), count(a.macs), bytes(a.activationBytes), ...(nested ? [''] : [])];
  // Text columns left-aligned, numbers right-aligned.
  const left = new Set([1, 2, 3, 9]);
  const alignRight = header.map((_, c) => !left.has(c));
  const out = [
    `${a.name} (${a.className}), input ${shape(a.inputShape)} -> output ${shape(a.outputShape)}`,
    table(header, rows, alignRight, { footer: [total] }),
    '',
    `params       ${count(a.params)} (trainable ${count(a.trainableParams)}, non-trainable ${count(a.nonTrainableParams)})`,
    `size         ${bytes(a.sizeBytes)} (float32 weights ${bytes(a.weightBytes)} + topology ${bytes(a.topologyBytes)}), gzip of weights ${bytes(a.gzipBytes)}`,
    `peak memory  ${bytes(a.peakActivationBytes)} of activations per sample (estimate)`,
    ...a.notes.map((n) => `note: ${n}`),
  ];
  return out.join('\n');
}

/** Plain-text rendering of a ModelAnalysis for the terminal (`topiary analyze`). */
import type { ModelAnalysis } from './analyze';

/** 1234567 -> "1,234,567". */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Bytes in B / KiB / MiB with one decimal. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

const shape = (s: (number | null)[]) => `[${s.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

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
    formatInt(l.params),
    formatInt(l.nonZeros),
    l.params === 0 ? '-' : pct(l.sparsity),
    formatInt(l.macs),
    formatBytes(l.activationBytes),
    ...(nested ? [l.source === undefined ? '' : l.source.split('/').slice(0, -1).join('/')] : []),
  ]);
  const total = ['', 'total', '', '', formatInt(a.params), formatInt(a.nonZeros), pct(a.sparsity), formatInt(a.macs), formatBytes(a.activationBytes), ...(nested ? [''] : [])];
  const all = [header, ...rows, total];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  // Text columns left-aligned, numbers right-aligned.
  const left = new Set([1, 2, 3, 9]);
  const line = (r: string[]) =>
    r
      .map((cell, c) => (left.has(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const out = [
    `${a.name} (${a.className}), input ${shape(a.inputShape)} -> output ${shape(a.outputShape)}`,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    line(total),
    '',
    `params       ${formatInt(a.params)} (trainable ${formatInt(a.trainableParams)}, non-trainable ${formatInt(a.nonTrainableParams)})`,
    `size         ${formatBytes(a.sizeBytes)} (float32 weights ${formatBytes(a.weightBytes)} + topology ${formatBytes(a.topologyBytes)}), gzip of weights ${formatBytes(a.gzipBytes)}`,
    `peak memory  ${formatBytes(a.peakActivationBytes)} of activations per sample (estimate)`,
    ...a.notes.map((n) => `note: ${n}`),
  ];
  return out.join('\n');
}

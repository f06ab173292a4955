/** Plain-text tables for the terminal. */
import type { SpeedReceipt } from '../common/contract';
import type { StableTiming } from '../common/contract';

export function table(header: string[], rows: (string | number)[][], alignRight: boolean[] = []): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((v, c) => (alignRight[c] ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/**
 * A number worth printing. Summaries come back from JSON, where NaN and Infinity became null, so
 * every formatter here takes what it gets and prints '-' for anything that is not a finite number.
 */
function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

export function bytes(n: number | null | undefined): string {
  if (!finite(n)) return '-';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export function count(n: number | null | undefined): string {
  return finite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

/** `n.toFixed(digits)`, or '-' for a value that is not a finite number. */
export function fixed(n: unknown, digits: number): string {
  return finite(n) ? n.toFixed(digits) : '-';
}

type Fmt = (n: number | null | undefined) => string;
const pct: Fmt = (n) => (finite(n) ? `${(100 * n).toFixed(2)} %` : '-');
const ms: Fmt = (n) => (finite(n) ? `${n.toFixed(3)} ms` : '-');

/** Before/after table of a run's summary metrics, with the change. */
export function beforeAfter(before: Record<string, number | null> = {}, after: Record<string, number | null> = {}): string {
  const rows: [string, string, Fmt, 'diff' | 'ratio'][] = [
    ['accuracy', 'accuracy', pct, 'diff'],
    // Regression runs record these instead of accuracy (lower is better for MAE / RMSE).
    ['MAE', 'mae', (n) => (finite(n) ? n.toPrecision(4) : '-'), 'diff'],
    ['RMSE', 'rmse', (n) => (finite(n) ? n.toPrecision(4) : '-'), 'diff'],
    ['R²', 'r2', (n) => fixed(n, 4), 'diff'],
    ['loss', 'loss', (n) => fixed(n, 4), 'diff'],
    ['parameters', 'params', count, 'ratio'],
    ['non-zeros', 'nonZeros', count, 'ratio'],
    ['MACs / sample', 'macs', count, 'ratio'],
    ['size (float32)', 'sizeBytes', bytes, 'ratio'],
    ['size (gzip)', 'gzipBytes', bytes, 'ratio'],
    ['latency batch 1', 'latencyMs', ms, 'ratio'],
    ['latency batch 64', 'latencyBatchMs', ms, 'ratio'],
  ];
  return table(
    ['', 'before', 'after', 'change'],
    rows
      .filter(([, k]) => k in before || k in after)
      .map(([label, k, f, kind]) => {
        const b = before[k];
        const a = after[k];
        const change = !finite(a) || !finite(b)
          ? '-'
          : kind === 'diff'
            ? k === 'accuracy'
              ? `${a - b >= 0 ? '+' : ''}${(100 * (a - b)).toFixed(2)} pts`
              : `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(4)}`
            : b > 0
              ? `x${(a / b).toFixed(3)}`
              : '-';
        return [label, f(b), f(a), change];
      }),
    [false, true, true, true],
  );
}

/**
 * Speedup receipts as a table (LiteRT batch-1 latency of each .tflite export vs the parent model's,
 * next to the MACs and parameter ratios) followed by each verdict.
 */
export function formatReceipts(receipts: SpeedReceipt[]): string {
  const ms = (t: StableTiming): string => `${t.medianMs.toFixed(3)} ms ±${(t.iqrMs / 2).toFixed(3)}${t.unstable ? ' (unstable)' : ''}`;
  const x = (r: number): string => (Number.isFinite(r) ? `x${r.toFixed(3)}` : '-');
  const first = receipts[0];
  const head = `Speedup receipts (${first.runtime}, batch 1, ${first.threads} thread${first.threads === 1 ? '' : 's'}, XNNPACK ${first.xnnpack}` +
    `${first.loadAverage !== null ? `, load ${first.loadAverage}` : ''}):`;
  const rows = receipts.map((r) => [`tflite ${r.quant}`, ms(r.parent.latency), ms(r.pruned.latency), x(r.ratios.latency), x(r.ratios.macs), x(r.ratios.nonZeroMacs), x(r.ratios.params), x(r.ratios.bytes)]);
  const t = table(['file', 'parent', 'pruned', 'latency', 'MACs', 'non-zero MACs', 'params', 'file size'], rows);
  const verdicts = receipts.flatMap((r) => {
    const lines = [`  tflite ${r.quant}: ${r.verdict}`];
    // Only worth a line when the pruning made zeros (non-zero MACs well under the dense MACs).
    const s = r.ratios.nonZeroMacs < 0.9 * r.ratios.macs ? r.sparseInference : undefined;
    if (s?.eligible) lines.push('    XNNPACK sparse inference: the file meets its rules');
    else if (s?.failed.length) lines.push(`    XNNPACK sparse inference off: ${s.failed.map((f) => f.id).join(', ')}; first fix: ${s.failed[0].fix ?? '-'}`);
    return lines;
  });
  return [head, t, ...verdicts, `  (XNNPACK off: ${first.xnnpackOffNote ?? 'measured'})`].join('\n');
}

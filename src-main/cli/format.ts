/** Plain-text tables for the terminal. */
import type { SpeedReceipt } from '../common/contract';
import type { RunFitVerdict, RunLatency, ShippedSize, StableTiming } from '../common/contract';

import { bytes, count, fixed, isFiniteNumber, latencyChange, MISSING, ms, percent, precision, table, timing } from '../common/format';

// The one formatter module; re-exported so commands keep importing the CLI's own names.
export { bytes, count, fixed, table } from '../common/format';

/** Before/after table of a run's summary metrics, with the change. */
export function beforeAfter(before: Record<string, number | null> = {}, after: Record<string, number | null> = {}): string {
  const rows: [string, string, (n: number | null | undefined) => string, 'diff' | 'ratio'][] = [
    ['accuracy', 'accuracy', (n) => percent(n), 'diff'],
    // Regression runs record these instead of accuracy (lower is better for MAE / RMSE).
    ['MAE', 'mae', (n) => precision(n, 4), 'diff'],
    ['RMSE', 'rmse', (n) => precision(n, 4), 'diff'],
    ['R²', 'r2', (n) => fixed(n, 4), 'diff'],
    ['loss', 'loss', (n) => fixed(n, 4), 'diff'],
    ['parameters', 'params', count, 'ratio'],
    ['non-zeros', 'nonZeros', count, 'ratio'],
    ['MACs / sample', 'macs', count, 'ratio'],
    ['size (shipped file)', 'shippedBytes', bytes, 'ratio'],
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

/**
 * What each latency figure measured, before -> after with its spread, the exported file's (the
 * device-relevant one) first; the change is `unstable` rather than a ratio of unsettled timings.
 */
export function latencyLines(latency: RunLatency | null | undefined): string {
  if (!latency?.inApp?.before || !latency.inApp.after) return '';
  const figures = [...(latency.exported ? [latency.exported] : []), latency.inApp, ...(latency.inAppBatch ? [latency.inAppBatch] : [])];
  return figures.map((f) => `latency, ${f.before.measured}: ${timing(f.before, 3)} -> ${timing(f.after, 3)} (${latencyChange(f.before, f.after)})`).join('\n');
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

/**
 * The headline size (the shipped file's, in-memory float32 second) and the fit verdict of each
 * judged file against the run's profile, with what to change.
 */
export function formatDeployed(shipped: ShippedSize | undefined, fit: RunFitVerdict | null | undefined): string {
  const lines: string[] = [];
  if (shipped) {
    lines.push(`size: ${bytes(shipped.bytes)} (${shipped.label})${shipped.source === 'export' ? `; in memory (float32) ${bytes(shipped.inMemoryBytes)}` : ''}`);
    lines.push(`  ${shipped.reason}`);
  }
  if (!fit) return lines.join('\n');
  lines.push('', `Fits ${fit.profileName} (${fit.profileId})? ${fit.fits ? 'yes' : 'NO'}`);
  const cell = (f: RunFitVerdict['files'][number], name: string): string => {
    const c = f.report.constraints.find((x) => x.constraint === name);
    if (!c) return MISSING;
    const v = c.unit === 'ms' ? ms(c.value, 2) : bytes(c.value);
    const b = c.unit === 'ms' ? ms(c.budget, 2) : bytes(c.budget);
    return `${v} / ${b} ${c.passed ? 'ok' : 'OVER'}`;
  };
  const QUANT: Record<string, string> = { none: 'float32', 'dynamic-int8': 'dynamic-range int8' };
  lines.push(table(
    ['file', 'RAM (arena est.)', 'flash/storage', 'latency (est.)', 'ops', 'fits'],
    fit.files.map((f) => [
      `${QUANT[f.quant] ?? f.quant} ${f.format} (${f.shipped ? 'shipped' : f.exported ? 'exported' : 'not exported'})`,
      cell(f, 'ram'),
      cell(f, 'storage'),
      cell(f, 'latency'),
      f.report.unsupportedOps.length ? `${f.report.unsupportedOps.length} unsupported` : 'all supported',
      f.report.fits ? 'yes' : 'NO',
    ]),
  ));
  for (const f of fit.files) {
    lines.push(`  ${QUANT[f.quant] ?? f.quant} ${f.format}: ${f.advice.join('; ')}`);
  }
  for (const n of fit.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

interface ExportFact {
  format: string;
  quant: string;
  weightZeros?: { weights: number; zeros: number; sparseTensors: number };
  download?: { rawBytes: number; gzipBytes: number; brotliBytes: number };
}

interface QatTraining {
  path: string;
  qat?: { epochs: number; weights: string };
}

/** Zeros counted in each exported .tflite, tfjs shards as downloaded, and the QAT phase (summary.exports / training). */
export function exportFactLines(summary: unknown): string[] {
  const s = (summary ?? {}) as { exports?: ExportFact[]; training?: QatTraining[] };
  const lines: string[] = [];
  for (const t of s.training ?? []) {
    if (t.qat) lines.push(`quantization-aware fine-tuning: ${t.qat.epochs} epoch${t.qat.epochs === 1 ? '' : 's'}, fake int8 (${t.qat.weights} weights), masks frozen, ${t.path} step`);
  }
  for (const e of s.exports ?? []) {
    if (e.weightZeros) {
      const z = e.weightZeros;
      lines.push(`${e.format} ${e.quant}: ${count(z.zeros)} of ${count(z.weights)} weights zero in the file (${percent(z.weights ? z.zeros / z.weights : 0, 1)}${z.sparseTensors ? `, ${z.sparseTensors} stored sparse` : ''})`);
    }
    if (e.download) {
      lines.push(`${e.format} ${e.quant}: weight shards ${bytes(e.download.rawBytes)}, as downloaded ${bytes(e.download.gzipBytes)} gzip, ${bytes(e.download.brotliBytes)} brotli`);
    }
  }
  return lines;
}

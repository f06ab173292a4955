/**
 * CSV export of runs (RFC 4180): one document of runs, one of metric histories in long form.
 */
import type { ExportedRun } from '../../common/contract';

/** RFC 4180 CSV: fields with a comma, quote or line break are quoted; null/undefined are empty. */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const field = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'number' && Number.isNaN(v) ? 'NaN' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

/**
 * Two CSV documents: `runs`, one row per run (ids, model, dataset, status, timings, tags, note,
 * config as JSON, one `final.<metric>` column per metric seen); and `metrics`, the metric
 * histories in long form (run_id, phase, name, step, epoch, value, time).
 */
export function runsCsv(data: readonly ExportedRun[]): { runs: string; metrics: string } {
  const finals = [...new Set(data.flatMap((r) => Object.keys(r.final)))].sort();
  const head = [
    'id', 'name', 'kind', 'method', 'status', 'error', 'model', 'model_id', 'dataset', 'profile', 'parent_run_id', 'backend',
    'created_at', 'started_at', 'finished_at', 'duration_ms', 'tags', 'note', 'config', ...finals.map((n) => `final.${n}`),
  ];
  const runRows = data.map((r) => [
    r.id, r.name, r.kind, r.method, r.status, r.error, r.modelSource, r.modelId, r.datasetSource, r.profileId, r.parentRunId, r.backend,
    r.createdAt, r.startedAt, r.finishedAt, r.durationMs, r.tags.join(';'), r.note, JSON.stringify(r.config), ...finals.map((n) => r.final[n]),
  ]);
  const metricRows: unknown[][] = [];
  for (const r of data) {
    for (const s of r.metrics) {
      for (const [step, epoch, value, t] of s.points) metricRows.push([r.id, s.phase, s.name, step, epoch, value, new Date(t).toISOString()]);
    }
  }
  return {
    runs: toCsv(head, runRows),
    metrics: toCsv(['run_id', 'phase', 'name', 'step', 'epoch', 'value', 'time'], metricRows),
  };
}

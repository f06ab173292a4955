/**
 * Comparing runs: config keys that differ (nested JSON flattened to dotted keys), final metrics
 * with deltas against a baseline, per-layer sparsity side by side. Pure functions over records.
 */
import type { ConfigDiffRow, Json, JsonObject, LayerComparisonRow, MetricComparisonRow, RunHead } from '../../common/contract';

/** The first finished run, else the first: deltas against a killed run's partial numbers mean nothing. */
export function defaultBaseline(runs: readonly RunHead[]): number {
  return Math.max(0, runs.findIndex((r) => r.status === 'done'));
}

/**
 * Flattens nested JSON objects to dotted keys; arrays and scalars are leaves (a shape `[28, 28, 1]`
 * is one value, not three).
 * @example flattenJson({ a: { b: 1 }, c: [1, 2] }) // { 'a.b': 1, c: [1, 2] }
 */
export function flattenJson(value: Json, prefix = ''): Record<string, Json> {
  const out: Record<string, Json> = {};
  const walk = (v: Json, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) walk(child, key ? `${key}.${k}` : k);
    } else {
      out[key] = v;
    }
  };
  walk(value, prefix);
  return out;
}

/**
 * Config keys whose values are not the same in every config (missing counts as different),
 * sorted by key, and how many keys were identical.
 */
export function diffConfigs(configs: readonly JsonObject[]): { rows: ConfigDiffRow[]; identical: number } {
  const flat = configs.map((c) => flattenJson(c));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const rows: ConfigDiffRow[] = [];
  let identical = 0;
  for (const key of keys) {
    const present = flat.map((f) => Object.prototype.hasOwnProperty.call(f, key));
    const encoded = flat.map((f, i) => (present[i] ? JSON.stringify(f[key]) : undefined));
    if (present.every(Boolean) && encoded.every((e) => e === encoded[0])) {
      identical++;
      continue;
    }
    rows.push({ key, values: flat.map((f, i) => (present[i] ? f[key] : null)), missing: present.flatMap((p, i) => (p ? [] : [i])) });
  }
  return { rows, identical };
}

export function compareMetrics(finals: readonly Record<string, number>[], baseline: number): MetricComparisonRow[] {
  const names = [...new Set(finals.flatMap((f) => Object.keys(f)))].sort();
  return names.map((name) => {
    const values = finals.map((f) => (name in f ? f[name] : null));
    const base = values[baseline];
    const deltas = values.map((v) => (v === null || base === null ? null : v - base));
    const relative = deltas.map((d) => (d === null || base === null || base === 0 ? null : d / Math.abs(base)));
    return { name, values, deltas, relative };
  });
}

export function compareLayers(ids: readonly string[], layersByRun: Map<string, { layer: string; className: string; sparsity: number; nonZeros: number }[]>): LayerComparisonRow[] {
  const rows = new Map<string, LayerComparisonRow>();
  ids.forEach((id, i) => {
    for (const l of layersByRun.get(id) ?? []) {
      let row = rows.get(l.layer);
      if (!row) rows.set(l.layer, (row = { layer: l.layer, className: l.className, sparsity: ids.map(() => null), nonZeros: ids.map(() => null) }));
      row.sparsity[i] = l.sparsity;
      row.nonZeros[i] = l.nonZeros;
    }
  });
  return [...rows.values()];
}

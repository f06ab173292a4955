/**
 * The History screen's search as data: free text, filters, metric ranges, sort, page and chosen
 * columns; how it is written into the URL hash (so Back and reload keep it) and the `listRuns`
 * query it sends. The filtering itself happens in the service (store/reader buildWhere); the
 * screen only sends this query. Pure: no DOM.
 * @example historyQuery(parseHistoryView('q=mnist&where=accuracy>=0.9'), 25) // { text: 'mnist', metrics: [...], limit: 25, offset: 0 }
 */
import { RUN_STATUSES, type ComparisonOp, type MetricThreshold, type RunStatus } from './contract/records';
import type { RunQueryInput } from './contract/commands';
import { metricInfo } from './labels';

export interface HistoryColumn {
  id: string;
  label: string;
  /** The `listRuns` sort key clicking the header uses; absent when the column is not sortable. */
  sort?: string;
  numeric?: boolean;
}

/**
 * The run table's columns, in order. The size column reads SIZE_METRIC, so changing which size is
 * the headline (float32 in memory, or the shipped file) is one edit.
 */
export const SIZE_METRIC = 'shippedBytes';
export const HISTORY_COLUMNS: readonly HistoryColumn[] = [
  { id: 'name', label: 'Name', sort: 'name' },
  { id: 'method', label: 'Method', sort: 'method' },
  { id: 'status', label: 'Status', sort: 'status' },
  { id: 'model', label: 'Model' },
  { id: 'data', label: 'Data' },
  { id: 'profile', label: 'Device', sort: 'profile' },
  { id: 'accuracy', label: 'Accuracy / MAE', sort: 'metric:accuracy', numeric: true },
  { id: 'size', label: 'Size', sort: `metric:${SIZE_METRIC}`, numeric: true },
  { id: 'latency', label: 'Latency (ms)', sort: 'metric:latencyMs', numeric: true },
  { id: 'sparsity', label: 'Sparsity', sort: 'metric:sparsity', numeric: true },
  { id: 'duration', label: 'Took', sort: 'duration', numeric: true },
  { id: 'tags', label: 'Tags' },
  { id: 'note', label: 'Note' },
  { id: 'created', label: 'Created', sort: 'created' },
];
export const DEFAULT_COLUMNS: readonly string[] = ['name', 'method', 'status', 'model', 'profile', 'accuracy', 'size', 'tags', 'created'];

/** Metrics the range filters offer (others can still come from a URL). */
export const FILTER_METRICS: readonly string[] = ['accuracy', 'mae', SIZE_METRIC, 'sizeBytes', 'gzipBytes', 'sparsity', 'latencyMs', 'params', 'macs'];

export interface HistoryView {
  /** Free text over name, tags, note, model, data, method. */
  text: string;
  status: RunStatus | '';
  profile: string;
  method: string;
  /** YYYY-MM-DD, both days included; '' for open. */
  from: string;
  to: string;
  /** Final-metric ranges, in the metric's own unit (fractions, bytes, ms). */
  where: MetricThreshold[];
  sort: string;
  dir: 'asc' | 'desc';
  /** Zero-based page. */
  page: number;
  columns: string[];
}

export const DEFAULT_VIEW: Readonly<HistoryView> = {
  text: '', status: '', profile: '', method: '', from: '', to: '', where: [], sort: 'created', dir: 'desc', page: 0, columns: [...DEFAULT_COLUMNS],
};

const SORTS = new Set(HISTORY_COLUMNS.flatMap((c) => (c.sort ? [c.sort] : [])));
const OPS: readonly ComparisonOp[] = ['>=', '<=', '>', '<', '='];
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `accuracy>=0.9` -> threshold, or null when it does not read as one. */
export function parseThreshold(text: string): MetricThreshold | null {
  const m = /^([A-Za-z0-9_.-]+)(>=|<=|>|<|=)(-?[0-9.eE+-]+)$/.exec(text.trim());
  if (!m || !OPS.includes(m[2] as ComparisonOp)) return null;
  const value = Number(m[3]);
  return Number.isFinite(value) ? { name: m[1], op: m[2] as ComparisonOp, value } : null;
}

/**
 * The view a URL query string (`q=...&status=done&where=accuracy>=0.9`) describes. Anything that
 * does not parse falls back to the default for that field, so an edited or old URL still opens.
 */
export function parseHistoryView(search: string): HistoryView {
  const p = new URLSearchParams(search);
  const status = p.get('status') ?? '';
  const sort = p.get('sort') ?? DEFAULT_VIEW.sort;
  const page = Number(p.get('page') ?? '1');
  const known = new Set(HISTORY_COLUMNS.map((c) => c.id));
  const cols = p.get('cols');
  return {
    text: p.get('q') ?? '',
    status: (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : '',
    profile: p.get('profile') ?? '',
    method: p.get('method') ?? '',
    from: DAY.test(p.get('from') ?? '') ? (p.get('from') as string) : '',
    to: DAY.test(p.get('to') ?? '') ? (p.get('to') as string) : '',
    where: p.getAll('where').flatMap((w) => parseThreshold(w) ?? []),
    sort: SORTS.has(sort) ? sort : DEFAULT_VIEW.sort,
    dir: p.get('dir') === 'asc' ? 'asc' : 'desc',
    page: Number.isInteger(page) && page >= 1 ? page - 1 : 0,
    columns: cols === null ? [...DEFAULT_COLUMNS] : cols.split(',').filter((c) => known.has(c)),
  };
}

/** The query string for a view, defaults left out (an untouched History is plain `#/runs`). */
export function historyViewParams(v: HistoryView): string {
  const p = new URLSearchParams();
  if (v.text.trim()) p.set('q', v.text.trim());
  if (v.status) p.set('status', v.status);
  if (v.profile) p.set('profile', v.profile);
  if (v.method) p.set('method', v.method);
  if (v.from) p.set('from', v.from);
  if (v.to) p.set('to', v.to);
  for (const t of v.where) if (Number.isFinite(t.value)) p.append('where', `${t.name}${t.op}${t.value}`);
  if (v.sort !== DEFAULT_VIEW.sort) p.set('sort', v.sort);
  if (v.dir !== DEFAULT_VIEW.dir) p.set('dir', v.dir);
  if (v.page > 0) p.set('page', String(v.page + 1));
  if (v.columns.join(',') !== DEFAULT_COLUMNS.join(',')) p.set('cols', v.columns.join(','));
  return p.toString();
}

/** True when the view narrows the list (text, a filter or a range), i.e. "no runs" means "none match". */
export function hasFilters(v: HistoryView): boolean {
  return Boolean(v.text.trim() || v.status || v.profile || v.method || v.from || v.to || v.where.some((t) => Number.isFinite(t.value)));
}

/** The view without text, filters and ranges (sort and columns kept: they are not filters). */
export function clearFilters(v: HistoryView): HistoryView {
  return { ...v, text: '', status: '', profile: '', method: '', from: '', to: '', where: [], page: 0 };
}

/** Local midnight of a YYYY-MM-DD day, `days` later, as ISO. */
function dayStart(day: string, days = 0): string {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d + days).toISOString();
}

/** The `listRuns` payload for a view: `to` includes its whole day (the store's `until` is exclusive). */
export function historyQuery(v: HistoryView, limit: number): RunQueryInput {
  return {
    limit,
    offset: v.page * limit,
    sort: v.sort,
    direction: v.dir,
    ...(v.text.trim() ? { text: v.text.trim() } : {}),
    ...(v.status ? { status: v.status } : {}),
    ...(v.profile ? { profile: v.profile } : {}),
    ...(v.method ? { method: v.method } : {}),
    ...(v.from ? { since: dayStart(v.from) } : {}),
    ...(v.to ? { until: dayStart(v.to, 1) } : {}),
    ...(v.where.some((t) => Number.isFinite(t.value)) ? { metrics: v.where.filter((t) => Number.isFinite(t.value)) } : {}),
  };
}

/**
 * Range filters are typed in the unit people read: percent for fractions, KiB for sizes. These
 * convert between that and the stored value.
 * @example displayUnit('sizeBytes') // "KiB"; fromDisplay('accuracy', 90) // 0.9
 */
export function displayUnit(metric: string): string {
  const unit = metricInfo(metric).unit;
  return unit === 'fraction' ? '%' : unit === 'bytes' ? 'KiB' : unit === 'ms' ? 'ms' : '';
}

export function fromDisplay(metric: string, shown: number): number {
  const unit = metricInfo(metric).unit;
  return unit === 'fraction' ? shown / 100 : unit === 'bytes' ? shown * 1024 : shown;
}

export function toDisplay(metric: string, value: number): number {
  const unit = metricInfo(metric).unit;
  return +(unit === 'fraction' ? value * 100 : unit === 'bytes' ? value / 1024 : value).toPrecision(10);
}

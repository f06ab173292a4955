/**
 * What people read instead of identifiers: a label with its unit for every final metric
 * (`gzipBytes` -> "Size (gzip)"), the metric's value and axis formats, and config values written
 * out without JSON. Compare, Pareto, History and the CLI's `runs compare` use this one table, so a
 * metric reads the same everywhere. Pure: no Node, DOM or Electron.
 * @example metricLabel('latencyBatchMs') // "Latency, batch (ms)"; formatMetric('gzipBytes', 71577) // "69.9 KiB"
 */
import { bytes, count, countShort, isFiniteNumber, MISSING, msValue, percent, percentShort, precision } from './format';
import type { Json } from './contract/records';

/** How a metric's numbers are written: fractions as percent, sizes in KiB/MiB, latencies in ms. */
export type MetricUnit = 'fraction' | 'bytes' | 'count' | 'ms' | 'plain';

export interface MetricInfo {
  /** What a person reads, with the unit where the number alone does not say it. */
  label: string;
  unit: MetricUnit;
  /** Which way is better, for deltas and Pareto axes. */
  better: 'higher' | 'lower';
}

/** Every final metric a run records (run-pipeline `measure`), in the order tables list them. */
export const METRICS: Readonly<Record<string, MetricInfo>> = {
  accuracy: { label: 'Accuracy', unit: 'fraction', better: 'higher' },
  mae: { label: 'MAE', unit: 'plain', better: 'lower' },
  rmse: { label: 'RMSE', unit: 'plain', better: 'lower' },
  r2: { label: 'R²', unit: 'plain', better: 'higher' },
  loss: { label: 'Loss', unit: 'plain', better: 'lower' },
  sparsity: { label: 'Sparsity', unit: 'fraction', better: 'higher' },
  params: { label: 'Parameters', unit: 'count', better: 'lower' },
  nonZeros: { label: 'Non-zero weights', unit: 'count', better: 'lower' },
  macs: { label: 'MACs per sample', unit: 'count', better: 'lower' },
  shippedBytes: { label: 'Size (shipped file)', unit: 'bytes', better: 'lower' },
  sizeBytes: { label: 'Size in memory (float32)', unit: 'bytes', better: 'lower' },
  gzipBytes: { label: 'Size (gzip)', unit: 'bytes', better: 'lower' },
  peakActivationBytes: { label: 'Peak activations', unit: 'bytes', better: 'lower' },
  latencyMs: { label: 'Latency, batch 1 (ms)', unit: 'ms', better: 'lower' },
  latencyBatchMs: { label: 'Latency, batch (ms)', unit: 'ms', better: 'lower' },
};

/**
 * A metric's description; one not in METRICS is guessed from its name (`fooBytes` is a size,
 * `fooMs` a latency) and labelled by splitting the camel case, so a new metric is never shown raw.
 */
export function metricInfo(name: string): MetricInfo {
  const known = METRICS[name];
  if (known) return known;
  // Case matters: latencyMs is milliseconds, params is not.
  const unit: MetricUnit = /Bytes$/.test(name) ? 'bytes' : /Ms$/.test(name) ? 'ms' : /(Fraction|Ratio)$/.test(name) ? 'fraction' : 'plain';
  const stem = name.replace(/(Bytes|Ms)$/, '');
  const words = stem.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_.-]+/g, ' ').trim().toLowerCase();
  const text = words.charAt(0).toUpperCase() + words.slice(1);
  return { label: unit === 'ms' ? `${text} (ms)` : text, unit, better: unit === 'fraction' ? 'higher' : 'lower' };
}

export const metricLabel = (name: string): string => metricInfo(name).label;

/** Metric names in METRICS' order, unknown ones after them alphabetically. */
export function orderMetrics(names: Iterable<string>): string[] {
  const known = Object.keys(METRICS);
  const rank = (n: string) => (known.includes(n) ? known.indexOf(n) : known.length);
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** A metric value in its unit. @example formatMetric('accuracy', 0.9123) // "91.23 %" */
export function formatMetric(name: string, value: number | null | undefined): string {
  if (!isFiniteNumber(value)) return MISSING;
  switch (metricInfo(name).unit) {
    case 'fraction':
      return percent(value);
    case 'bytes':
      return bytes(value);
    case 'count':
      return count(value);
    case 'ms':
      // The label carries the unit.
      return msValue(value);
    default:
      return precision(value, 4);
  }
}

/**
 * A change in a metric, signed: fractions in percentage points, the rest in the metric's unit.
 * @example formatMetricDelta('accuracy', -0.0123) // "−1.23 pts"; formatMetricDelta('gzipBytes', 0) // "same"
 */
export function formatMetricDelta(name: string, delta: number | null | undefined): string {
  if (!isFiniteNumber(delta)) return MISSING;
  if (delta === 0) return 'same';
  const sign = delta > 0 ? '+' : '−';
  const size = Math.abs(delta);
  const text = metricInfo(name).unit === 'fraction' ? `${(100 * size).toFixed(2)} pts` : formatMetric(name, size);
  return `${sign}${text}`;
}

/** A short axis tick: percent without decimals, sizes in KiB/MiB, counts with k/M. */
export function formatTick(name: string, value: number): string {
  if (!isFiniteNumber(value)) return MISSING;
  const unit = metricInfo(name).unit;
  if (unit === 'fraction') return percentShort(value);
  // Ticks fall on whole KiB / MiB (niceTicks): "210 KiB", not "210.0 KiB".
  if (unit === 'bytes') return bytes(value).replace(/\.0+ /, ' ');
  if (unit === 'count') return countShort(value);
  return String(+value.toPrecision(3));
}

/**
 * Evenly spaced "nice" tick values covering [min, max] (steps of 1, 2 or 5 times a power of ten;
 * powers of two for bytes, so KiB ticks are whole).
 * @example niceTicks(0.81, 0.93, 'accuracy') // [0.8, 0.85, 0.9, 0.95]
 */
export function niceTicks(min: number, max: number, name: string, target = 5): number[] {
  if (!isFiniteNumber(min) || !isFiniteNumber(max)) return [];
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / target;
  let step: number;
  if (metricInfo(name).unit === 'bytes' && raw >= 1024) {
    const base = raw >= 1024 * 1024 ? 1024 * 1024 : 1024;
    const m = raw / base;
    step = base * ([1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].find((s) => s >= m) ?? Math.ceil(m));
  } else {
    const p = 10 ** Math.floor(Math.log10(raw));
    step = p * ([1, 2, 2.5, 5, 10].find((s) => s * p >= raw) ?? 10);
  }
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
  if (ticks[ticks.length - 1] < max) ticks.push(+(ticks[ticks.length - 1] + step).toPrecision(12));
  return ticks;
}

/** Config fields shown as percent (fractions of weights or units). */
const FRACTION_FIELDS = /(^|\.)(sparsity|targetSparsity|initialSparsity|finalSparsity|alpha)$/;

/**
 * A config value written for people, no JSON: none/yes/no, numbers plainly (fractions of weights
 * also as percent), shapes as `28 × 28 × 1`, lists comma-separated, objects as `key: value`.
 * @example formatConfigValue('prune.sparsity', 0.8) // "0.8 (80 %)"; formatConfigValue('shape', [28, 28, 1]) // "28 × 28 × 1"
 */
export function formatConfigValue(path: string, value: Json | undefined): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') {
    if (FRACTION_FIELDS.test(path) && value >= 0 && value <= 1) return `${+value.toPrecision(6)} (${+(100 * value).toPrecision(4)} %)`;
    return String(+value.toPrecision(8));
  }
  if (typeof value === 'string') return value === '' ? '(empty)' : value;
  if (Array.isArray(value)) {
    if (value.length === 0) return '(empty list)';
    if (value.every((v) => typeof v === 'number')) return value.join(' × ');
    return value.map((v) => formatConfigValue(path, v)).join(', ');
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '(empty)';
  return entries.map(([k, v]) => `${k}: ${formatConfigValue(`${path}.${k}`, v)}`).join(', ');
}

/**
 * One config change against the baseline, as "before → after".
 * @example configChange('prune.sparsity', 0.5, 0.8) // "0.5 (50 %) → 0.8 (80 %)"
 */
export function configChange(path: string, before: Json | undefined, after: Json | undefined, missing: { before?: boolean; after?: boolean } = {}): string {
  const b = missing.before ? '(not set)' : formatConfigValue(path, before);
  const a = missing.after ? '(not set)' : formatConfigValue(path, after);
  return b === a ? 'same' : `${b} → ${a}`;
}

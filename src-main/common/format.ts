/**
 * How Topiary writes numbers for people: the CLI, the renderer and the HTML report all use these,
 * so a size or a percentage reads the same wherever it appears.
 *
 * Conventions:
 * - Sizes use binary (IEC) units, 1 KiB = 1024 B: whole bytes below 1 KiB, KiB with one decimal
 *   below 1 MiB, MiB with two decimals below 1 GiB, GiB with two above (model files are compared to budgets given in KiB/MiB,
 *   and device RAM is binary).
 * - Percentages take a fraction (0.123 -> "12.30 %").
 * - A missing or non-finite value (undefined, null, NaN, ±Infinity) prints as `MISSING`, never as
 *   "NaN" or "undefined".
 *
 * Pure: no Node, DOM or Electron.
 * @example bytes(1536) // "1.5 KiB"; percent(0.5) // "50.00 %"; count(1234567) // "1,234,567"
 */

/** What a missing or non-finite number prints as. */
export const MISSING = '-';

type Maybe = number | null | undefined;

/** True for a real, finite number (not undefined, null, NaN or ±Infinity). */
export function isFiniteNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

/**
 * Bytes as B / KiB (one decimal) / MiB / GiB (two decimals), so a 2 GiB budget does not read "2048.00 MiB".
 * @example bytes(3 * 1024 * 1024) // "3.00 MiB"
 */
export function bytes(n: Maybe): string {
  if (!isFiniteNumber(n)) return MISSING;
  const size = Math.abs(n);
  if (size < KIB) return `${Math.round(n)} B`;
  if (size < MIB) return `${(n / KIB).toFixed(1)} KiB`;
  if (size < GIB) return `${(n / MIB).toFixed(2)} MiB`;
  return `${(n / GIB).toFixed(2)} GiB`;
}

/** A whole count with thousands separators. @example count(1234567.4) // "1,234,567" */
export function count(n: Maybe): string {
  return isFiniteNumber(n) ? Math.round(n).toLocaleString('en-US') : MISSING;
}

/**
 * A fraction as a percentage; `separator` goes between the number and the sign (tables of many
 * percentages drop it). @example percent(0.1234) // "12.34 %"; percent(0.5, 1, '') // "50.0%"
 */
export function percent(fraction: Maybe, digits = 2, separator = ' '): string {
  return isFiniteNumber(fraction) ? `${(100 * fraction).toFixed(digits)}${separator}%` : MISSING;
}

/** Milliseconds. @example ms(1.23456) // "1.235 ms" */
export function ms(n: Maybe, digits = 3): string {
  return isFiniteNumber(n) ? `${n.toFixed(digits)} ms` : MISSING;
}

/** What a latency figure needs to be written: its median, spread and whether it settled. */
export interface TimingLike {
  medianMs: number;
  iqrMs: number;
  unstable: boolean;
  runtime?: string;
}

/**
 * A latency as its median and half its interquartile range, flagged when the median did not settle.
 * Without `digits`: two decimals, three below 1 ms (a 0.045 ms model must not read "0.04 ± 0.00").
 * @example timing({ medianMs: 1.234, iqrMs: 0.1, unstable: false }) // "1.23 ms ± 0.05"
 */
export function timing(t: TimingLike | null | undefined, digits?: number): string {
  if (!t || !isFiniteNumber(t.medianMs)) return MISSING;
  const d = digits ?? (Math.abs(t.medianMs) < 1 ? 3 : 2);
  return `${ms(t.medianMs, d)} ± ${fixed(t.iqrMs / 2, d)}${t.unstable ? ' (unstable)' : ''}`;
}

/**
 * after / before of two latency figures as `×0.52`; `unstable` when either did not settle (a ratio
 * of noise is not a speed-up), `not comparable` when different runtimes ran them.
 * @example latencyChange(before, after) // "×0.52" or "unstable"
 */
export function latencyChange(before: TimingLike | null | undefined, after: TimingLike | null | undefined): string {
  if (!before || !after || !isFiniteNumber(before.medianMs) || !isFiniteNumber(after.medianMs) || !(before.medianMs > 0)) return MISSING;
  if (before.unstable || after.unstable) return 'unstable';
  if (before.runtime !== undefined && after.runtime !== undefined && before.runtime !== after.runtime) return 'not comparable';
  return `×${(after.medianMs / before.medianMs).toFixed(2)}`;
}

/** A duration in seconds, rounded to whole seconds. @example duration(125) // "2 min 5 s" */
export function duration(seconds: Maybe): string {
  if (!isFiniteNumber(seconds)) return MISSING;
  const s = Math.round(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A plain number with `digits` decimals. @example fixed(0.123456, 4) // "0.1235" */
export function fixed(n: Maybe, digits: number): string {
  return isFiniteNumber(n) ? n.toFixed(digits) : MISSING;
}

/** A plain number with `digits` significant digits. @example precision(12.3456, 4) // "12.35" */
export function precision(n: Maybe, digits: number): string {
  return isFiniteNumber(n) ? n.toPrecision(digits) : MISSING;
}

/**
 * A figure as people read it in a report: counts with separators, other numbers to four significant
 * digits without trailing zeros, very small or large ones in exponent form.
 * @example readable(61706) // "61,706"; readable(0.02944) // "0.02944"; readable(0.0000123) // "1.230e-5"
 */
export function readable(n: Maybe): string {
  if (!isFiniteNumber(n)) return precision(n, 4);
  if (Number.isInteger(n)) return count(n);
  const a = Math.abs(n);
  return a < 1e-3 || a >= 1e6 ? n.toExponential(3) : String(Number(n.toPrecision(4)));
}

const STATUS_LABELS: Record<string, string> = {
  queued: 'Queued',
  running: 'Running',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

/** A run's status for people. @example runStatus('cancelled') // "Cancelled" */
export function runStatus(status: string): string {
  return STATUS_LABELS[status] ?? status;
}

/**
 * What a run's stored error says to a person: nothing for a cancelled run (cancelling is what the
 * user asked for; its stored `CancelledError: cancelled` is not news), else the error.
 * @example runError('cancelled', 'CancelledError: cancelled') // ""
 */
export function runError(status: string, error: string | null | undefined): string {
  return !error || status === 'cancelled' ? '' : error;
}

/** Table layout beyond per-column alignment. */
export interface TableOptions {
  /** A dashed rule under the header. Default true. */
  rule?: boolean;
  /** Rows set off below a second rule (a total). */
  footer?: readonly (readonly (string | number)[])[];
}

/**
 * A fixed-width plain-text table: columns two spaces apart, sized to their widest cell, left-aligned
 * unless `alignRight[c]` (numbers), trailing spaces trimmed.
 * @example table(['layer', 'params'], [['fc1', 235200]], [false, true])
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  alignRight: readonly boolean[] = [],
  options: TableOptions = {},
): string {
  const body = rows.map((r) => r.map(String));
  const footer = (options.footer ?? []).map((r) => r.map(String));
  const all = [header, ...body, ...footer];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]) =>
    r.map((v, c) => (alignRight[c] ? v.padStart(widths[c]) : v.padEnd(widths[c]))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    line(header),
    ...(options.rule === false ? [] : [rule]),
    ...body.map(line),
    ...(footer.length > 0 ? [rule, ...footer.map(line)] : []),
  ].join('\n');
}

/**
 * Milliseconds as a bare number, for columns and labels that already say "(ms)": two decimals, or
 * two significant digits below 0.1 ms so a small latency or change does not read "0.00".
 * @example msValue(1.2345) // "1.23"; msValue(0.04539) // "0.045"
 */
export function msValue(n: Maybe): string {
  if (!isFiniteNumber(n)) return MISSING;
  return Math.abs(n) >= 0.1 || n === 0 ? n.toFixed(2) : n.toPrecision(2);
}

/** A fraction as a short percentage for axis ticks, no trailing zeros. @example percentShort(0.825) // "82.5%" */
export function percentShort(fraction: Maybe): string {
  return isFiniteNumber(fraction) ? `${+(100 * fraction).toFixed(2)}%` : MISSING;
}

/** A count for axis ticks: 950, 1.2k, 3.4M. @example countShort(416520) // "416.5k" */
export function countShort(n: Maybe): string {
  if (!isFiniteNumber(n)) return MISSING;
  const a = Math.abs(n);
  return a >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : a >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(Math.round(n));
}

/**
 * Time elapsed since a start, from milliseconds: tenths of a second below 10 s (a short run's axis
 * ticks stay distinct), whole seconds above. @example elapsed(4230) // "4.2 s"; elapsed(125000) // "2 min 5 s"
 */
export function elapsed(milliseconds: Maybe): string {
  if (!isFiniteNumber(milliseconds)) return MISSING;
  return Math.abs(milliseconds) < 10_000 ? `${(milliseconds / 1000).toFixed(1)} s` : duration(milliseconds / 1000);
}

/** A run summary's record of what trained it (summary.training[0]); fields may be absent in old runs. */
export interface TrainingPathRecord {
  path?: string;
  note?: string;
  memoryNote?: string;
  /** Set when a GPU window trained the run: its browser backend, adapter, and whether that is software rendering. */
  backend?: string;
  adapter?: string;
  software?: boolean;
}

/** Per measured phase (baseline, final): what ran the evaluation's and the latency's forward passes. */
export type InferencePathRecord = Record<string, { evaluate?: string; latency?: string } | undefined>;

/**
 * What fine-tuned a run, in words: "native graph step", "tfjs step (why not native)", or the GPU
 * window's "webgl on <adapter>" when one trained it.
 * @example trainingPath({ path: 'native', note: 'native graph step' }) // 'native graph step'
 * @example trainingPath({ path: 'tfjs', backend: 'webgl', adapter: 'ANGLE (SwiftShader)', software: true }) // 'webgl on ANGLE (SwiftShader) (software rendering), tfjs step'
 */
export function trainingPath(t: TrainingPathRecord | undefined): string | undefined {
  if (!t?.path) return undefined;
  const why = t.path === 'native' ? (t.note ?? 'native step') : `tfjs step${t.note ? ` (${t.note})` : ''}`;
  const gpu = t.backend ? `${t.backend} on ${t.adapter ?? 'an unnamed adapter'}${t.software ? ' (software rendering)' : ''}, ` : '';
  return `${gpu}${why}${t.memoryNote ? `; ${t.memoryNote}` : ''}`;
}

/**
 * What evaluated and latency-timed a run, in words; the final measurement's, with the baseline's
 * too where it differs. Undefined for runs recorded before this was stored.
 * @example inferencePath({ final: { evaluate: 'tfjs', latency: 'native graph step' } }) // 'evaluated by tfjs, latency by native graph step'
 */
export function inferencePath(inference: InferencePathRecord | undefined): string | undefined {
  const one = (p: { evaluate?: string; latency?: string } | undefined) =>
    p && (p.evaluate === p.latency ? `${p.evaluate ?? '-'}` : `evaluated by ${p.evaluate ?? '-'}, latency by ${p.latency ?? '-'}`);
  const final = one(inference?.final);
  const baseline = one(inference?.baseline);
  if (!final && !baseline) return undefined;
  if (!final || !baseline || final === baseline) return (final ?? baseline) as string;
  return `${final} (before pruning: ${baseline})`;
}

/**
 * A stored run summary's training and inference paths on one line ("fine-tuned by … · inference by
 * …"), read defensively (the summary is JSON from any Topiary version); undefined when neither is there.
 */
export function runPaths(summary: unknown): string | undefined {
  const s = (summary && typeof summary === 'object' ? summary : {}) as { training?: unknown; inference?: unknown };
  const first = Array.isArray(s.training) ? (s.training[0] as TrainingPathRecord | undefined) : undefined;
  const trained = trainingPath(first && typeof first === 'object' ? first : undefined);
  const inferred = inferencePath(s.inference && typeof s.inference === 'object' ? (s.inference as InferencePathRecord) : undefined);
  const parts = [trained && `fine-tuned by ${trained}`, inferred && `inference by ${inferred}`].filter(Boolean);
  return parts.length ? parts.join(' · ') : undefined;
}

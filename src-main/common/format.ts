/**
 * How Topiary writes numbers for people: the CLI, the renderer and the HTML report all use these,
 * so a size or a percentage reads the same wherever it appears.
 *
 * Conventions:
 * - Sizes use binary (IEC) units, 1 KiB = 1024 B: whole bytes below 1 KiB, KiB with one decimal
 *   below 1 MiB, MiB with two decimals above (model files are compared to budgets given in KiB/MiB,
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

/** Bytes as B / KiB (one decimal) / MiB (two decimals). @example bytes(3 * 1024 * 1024) // "3.00 MiB" */
export function bytes(n: Maybe): string {
  if (!isFiniteNumber(n)) return MISSING;
  const size = Math.abs(n);
  if (size < KIB) return `${Math.round(n)} B`;
  if (size < MIB) return `${(n / KIB).toFixed(1)} KiB`;
  return `${(n / MIB).toFixed(2)} MiB`;
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

/** A run summary's record of what trained it (summary.training[0]); fields may be absent in old runs. */
export interface TrainingPathRecord {
  path?: string;
  note?: string;
  memoryNote?: string;
}

/** Per measured phase (baseline, final): what ran the evaluation's and the latency's forward passes. */
export type InferencePathRecord = Record<string, { evaluate?: string; latency?: string } | undefined>;

/**
 * What fine-tuned a run, in words: "native graph step", or "tfjs step (why not native)".
 * @example trainingPath({ path: 'native', note: 'native graph step' }) // 'native graph step'
 */
export function trainingPath(t: TrainingPathRecord | undefined): string | undefined {
  if (!t?.path) return undefined;
  const why = t.path === 'native' ? (t.note ?? 'native step') : `tfjs step${t.note ? ` (${t.note})` : ''}`;
  return `${why}${t.memoryNote ? `; ${t.memoryNote}` : ''}`;
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

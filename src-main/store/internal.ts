/** Small helpers shared by reader and writer (not part of the store's public API). */
import { ConfigError } from '../common/errors';
import type { TimeInput } from './types';

export function iso(ms: number): string;
export function iso(ms: number | null): string | null;
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** Accepts a Date, ms since epoch or an ISO-8601 string; names the field when it is none of these. */
export function toMs(value: TimeInput, field: string): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'number' ? value : Date.parse(value);
  if (!Number.isFinite(ms)) throw new ConfigError(`${field} must be a date (ISO-8601 or ms since epoch), got ${JSON.stringify(value)}`);
  return ms;
}

export function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

/** SQLite stores NaN as NULL; a metric column that is NULL therefore reads back as NaN. */
export function fromReal(value: number | null): number {
  return value === null ? Number.NaN : value;
}

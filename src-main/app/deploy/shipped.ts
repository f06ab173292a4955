/**
 * Which file a run ships, and so which size is its headline: the export in the format and numeric
 * type the run's device profile takes (its first preferred type the run exported), else without a
 * profile the smallest export that passed verification; a run without exports falls back to the
 * in-memory float32 size, and says so. Pure: the caller passes the profile's order of exports.
 */
import type { ShippedSize } from '../../common/contract';

/** The parts of an artifact the choice reads. */
export interface ShippableArtifact {
  format: string;
  quant: string;
  bytes: number;
  status: string;
}

/** What the profile ships, best first, e.g. tflite int8 then tflite float32. */
export interface ShipOrder {
  profileId: string;
  /** Format + exporter quant pairs in the profile's order of preference. */
  prefer: { format: string; quant: string }[];
}

const QUANT_LABEL: Record<string, string> = { none: 'float32', 'dynamic-int8': 'dynamic-range int8' };

/** `int8 .tflite`, `float32 tfjs`. @example artifactLabel('tflite', 'none') // 'float32 .tflite' */
export function artifactLabel(format: string, quant: string): string {
  return `${QUANT_LABEL[quant] ?? quant} ${format === 'tflite' ? '.tflite' : format}`;
}

/** Verified files first, then unverified, then failed ones. */
const STATUS_RANK: Record<string, number> = { ok: 0, unverified: 1, failed: 2 };
const rank = (a: ShippableArtifact): number => STATUS_RANK[a.status] ?? 3;

/**
 * The run's headline size.
 * @example shippedSize([{ format: 'tflite', quant: 'int8', bytes: 71_582, status: 'ok' }], 249_754, order).label // 'int8 .tflite'
 */
export function shippedSize(artifacts: readonly ShippableArtifact[], inMemoryBytes: number | null, order: ShipOrder | null): ShippedSize {
  const inMemory = typeof inMemoryBytes === 'number' && Number.isFinite(inMemoryBytes) ? inMemoryBytes : null;
  const ship = (a: ShippableArtifact, reason: string): ShippedSize => ({
    bytes: a.bytes,
    source: 'export',
    format: a.format,
    quant: a.quant,
    inMemoryBytes: inMemory,
    label: artifactLabel(a.format, a.quant),
    reason: a.status === 'failed' ? `${reason}; its verification failed` : reason,
  });
  if (order) {
    const formats = [...new Set(order.prefer.map((p) => artifactLabel(p.format, 'x').slice(2)))].join(' / ');
    const types = order.prefer.map((p) => artifactLabel(p.format, p.quant).split(' ').slice(0, -1).join(' ')).join(', then ');
    for (const want of order.prefer) {
      const matches = artifacts.filter((a) => a.format === want.format && a.quant === want.quant).sort((a, b) => rank(a) - rank(b));
      if (matches.length) {
        return ship(matches[0], `profile ${order.profileId} ships ${formats} files (${types}): the first of these this run exported`);
      }
    }
  }
  const best = [...artifacts].sort((a, b) => rank(a) - rank(b) || a.bytes - b.bytes)[0];
  if (best) {
    const why = order ? `no export in a format profile ${order.profileId} ships; the smallest export` : 'no device profile; the smallest export';
    return ship(best, why);
  }
  return {
    bytes: inMemory,
    source: 'in-memory',
    format: null,
    quant: null,
    inMemoryBytes: inMemory,
    label: 'in-memory float32 (no export)',
    reason: 'the run made no export: the size is the in-memory float32 model (weights + topology)',
  };
}

/**
 * A profile's editable budgets as a form holds them, in the units people think in (KiB, ms,
 * millions of MACs a second), and their problems under the one ProfileSchema, so the form refuses
 * exactly what the services would. Pure (no runes): the editor state and unit tests use it.
 */
import { ProfileSchema, type NumericType, type Profile } from '../../src-main/common/profiles';

const KIB = 1024;

/** The editable budgets, as the form holds them (null: an emptied number field). */
export interface ProfileForm {
  name: string;
  description: string;
  ramKiB: number | null;
  storageKiB: number | null;
  storageMeasure: 'raw' | 'gzip';
  latencyTargetMs: number | null;
  /** Millions of multiply-accumulates a second (referenceMacsPerSecond / 1e6). */
  mmacPerSecond: number | null;
  threads: number | null;
  preferred: NumericType;
}

export type FormField = keyof ProfileForm;

/** Form fields and the ProfileSchema paths their problems come from. */
const FIELD_OF: Record<string, FormField> = {
  name: 'name',
  description: 'description',
  ramBytes: 'ramKiB',
  storageBytes: 'storageKiB',
  storageMeasure: 'storageMeasure',
  latencyTargetMs: 'latencyTargetMs',
  referenceMacsPerSecond: 'mmacPerSecond',
  threads: 'threads',
  numericTypes: 'preferred',
};

export function toForm(p: Profile): ProfileForm {
  return {
    name: p.name,
    description: p.description ?? '',
    ramKiB: p.ramBytes / KIB,
    storageKiB: p.storageBytes / KIB,
    storageMeasure: p.storageMeasure,
    latencyTargetMs: p.latencyTargetMs,
    mmacPerSecond: p.referenceMacsPerSecond / 1e6,
    threads: p.threads,
    preferred: p.numericTypes.preferred[0],
  };
}

/** The profile with the form's values; emptied fields stay null so the schema names them. */
export function fromForm(base: Profile, f: ProfileForm): Record<string, unknown> {
  const { builtin: _builtin, description: _description, ...rest } = base;
  const times = (v: number | null, k: number) => (v === null || Number.isNaN(v) ? null : Math.round(v * k));
  const preferred = [f.preferred, ...base.numericTypes.preferred.filter((t) => t !== f.preferred)];
  return {
    ...rest,
    name: f.name.trim(),
    ...(f.description.trim() ? { description: f.description.trim() } : {}),
    ramBytes: times(f.ramKiB, KIB),
    storageBytes: times(f.storageKiB, KIB),
    storageMeasure: f.storageMeasure,
    latencyTargetMs: f.latencyTargetMs,
    referenceMacsPerSecond: times(f.mmacPerSecond, 1e6),
    threads: f.threads,
    // The form offers only allowed types; one that is not stays refused by the schema.
    numericTypes: { preferred, allowed: base.numericTypes.allowed },
  };
}

/** Each form field's first problem under ProfileSchema (empty object: valid). */
export function formProblems(base: Profile, f: ProfileForm): Partial<Record<FormField, string>> {
  const r = ProfileSchema.safeParse(fromForm(base, f));
  const out: Partial<Record<FormField, string>> = {};
  if (r.success) return out;
  for (const issue of r.error.issues) {
    const field = FIELD_OF[String(issue.path[0])] ?? 'name';
    const value = f[field];
    out[field] ??= value === null || (typeof value === 'number' && Number.isNaN(value)) ? 'Enter a value: the field is empty.' : issue.message;
  }
  return out;
}

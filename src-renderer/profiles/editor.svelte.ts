/**
 * The profile editor's state: the profiles, the one being edited as a form in the units people
 * think in (KiB, ms, millions of MACs a second), and its problems from the one ProfileSchema, so
 * the form refuses exactly what the services would.
 */
import { NUMERIC_TYPES, ProfileSchema, type NumericType, type Profile } from '../../src-main/common/profiles';
import type { ProfileSummary } from '../../src-main/common/contract';
import { transport } from '../lib/transport';

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
  const { builtin: _builtin, ...rest } = base;
  const times = (v: number | null, k: number) => (v === null || Number.isNaN(v) ? null : Math.round(v * k));
  const preferred = [f.preferred, ...base.numericTypes.preferred.filter((t) => t !== f.preferred)];
  return {
    ...rest,
    name: f.name.trim(),
    ...(f.description.trim() ? { description: f.description.trim() } : { description: undefined }),
    ramBytes: times(f.ramKiB, KIB),
    storageBytes: times(f.storageKiB, KIB),
    storageMeasure: f.storageMeasure,
    latencyTargetMs: f.latencyTargetMs,
    referenceMacsPerSecond: times(f.mmacPerSecond, 1e6),
    threads: f.threads,
    numericTypes: { preferred, allowed: base.numericTypes.allowed.includes(f.preferred) ? base.numericTypes.allowed : [...base.numericTypes.allowed, f.preferred] },
  };
}

/** Each form field's first problem under ProfileSchema (empty object: valid). */
export function formProblems(base: Profile, f: ProfileForm): Partial<Record<FormField, string>> {
  const r = ProfileSchema.safeParse(fromForm(base, f));
  const out: Partial<Record<FormField, string>> = {};
  if (r.success) return out;
  for (const issue of r.error.issues) {
    const field = FIELD_OF[String(issue.path[0])] ?? 'name';
    const empty = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === null;
    out[field] ??= empty ? 'Enter a value: the field is empty.' : issue.message;
  }
  return out;
}

export class ProfileEditorState {
  profiles = $state<ProfileSummary[]>([]);
  /** The profile shown (a built-in is read-only: duplicate it to change its budgets). */
  profile = $state<Profile | null>(null);
  form = $state<ProfileForm | null>(null);
  error = $state('');
  saved = $state('');
  busy = $state(false);

  get problems(): Partial<Record<FormField, string>> {
    return this.profile && this.form ? formProblems(this.profile, this.form) : {};
  }

  get editable(): boolean {
    return !!this.profile && !this.profile.builtin;
  }

  async loadList() {
    try {
      this.profiles = await transport.call('listProfiles', {});
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  async open(id: string) {
    this.error = '';
    this.saved = '';
    try {
      this.profile = await transport.call('getProfile', { id });
      this.form = toForm(this.profile);
    } catch (err) {
      this.profile = null;
      this.form = null;
      this.error = (err as Error).message;
    }
  }

  /** Copies a profile as a user profile; resolves with the copy's id. */
  async duplicate(id: string): Promise<string | null> {
    this.busy = true;
    this.error = '';
    try {
      const copy = await transport.call('duplicateProfile', { id });
      await this.loadList();
      return copy.id;
    } catch (err) {
      this.error = (err as Error).message;
      return null;
    } finally {
      this.busy = false;
    }
  }

  async save(): Promise<boolean> {
    if (!this.profile || !this.form || Object.keys(this.problems).length) return false;
    this.busy = true;
    this.error = '';
    this.saved = '';
    try {
      this.profile = await transport.call('saveProfile', { id: this.profile.id, profile: fromForm(this.profile, this.form) });
      this.form = toForm(this.profile);
      this.saved = `Saved ${this.profile.name}.`;
      await this.loadList();
      return true;
    } catch (err) {
      this.error = (err as Error).message;
      return false;
    } finally {
      this.busy = false;
    }
  }

  async remove(): Promise<boolean> {
    if (!this.profile) return false;
    try {
      await transport.call('deleteProfile', { id: this.profile.id });
      this.profile = null;
      this.form = null;
      await this.loadList();
      return true;
    } catch (err) {
      this.error = (err as Error).message;
      return false;
    }
  }
}

export { NUMERIC_TYPES };

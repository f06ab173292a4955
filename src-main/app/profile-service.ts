/**
 * Device profiles for every front door: the built-ins (read-only data from common/profiles.ts) and
 * the user's own, stored as validated JSON in the experiment store's `profiles` table. Built-ins
 * cannot be edited or deleted, only duplicated into a user profile.
 */
import { ConfigError } from '../common/errors';
import {
  BUILTIN_PROFILES,
  builtinProfile,
  isBuiltinProfileId,
  parseProfile,
  parseProfileJson,
  type Profile,
} from '../common/profiles';
import { openStore, type Store } from '../store/db';
import { deleteStoredProfile, listStoredProfiles } from '../store/profiles';
import type { JsonObject } from '../store/types';
import type { ProfileSummary } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { ProfileSummary };

function summarize(p: Profile): ProfileSummary {
  return {
    id: p.id,
    name: p.name,
    class: p.class,
    runtime: p.runtime,
    ramBytes: p.ramBytes,
    storageBytes: p.storageBytes,
    latencyTargetMs: p.latencyTargetMs,
    builtin: p.builtin === true,
  };
}

function refuseBuiltin(id: string, action: string): void {
  if (isBuiltinProfileId(id)) {
    throw new ConfigError(`profile ${id} is built in and cannot be ${action}; duplicate it (topiary profiles duplicate ${id} <new-id>) and change the copy`);
  }
}

export class ProfileService {
  constructor(private readonly store: Store) {}

  /** Built-ins first (in their fixed order), then user profiles by id. */
  list(): ProfileSummary[] {
    return [...BUILTIN_PROFILES.map(summarize), ...this.userProfiles().map(summarize)];
  }

  /** A profile by id; ConfigError naming the known ids when there is none. */
  get(id: string): Profile {
    const b = builtinProfile(id);
    if (b) return b;
    const rec = this.store.reader.getProfile(id);
    if (!rec?.definition) {
      throw new ConfigError(`unknown profile "${id}" (known: ${this.list().map((p) => p.id).join(', ')})`);
    }
    return parseProfile(rec.definition, `stored profile ${id}`);
  }

  has(id: string): boolean {
    return isBuiltinProfileId(id) || Boolean(this.store.reader.getProfile(id)?.definition);
  }

  /** Validates and stores a new user profile; its id must be free. */
  create(input: unknown, where = 'profile'): Profile {
    const p = this.validateUser(input, where);
    if (this.has(p.id)) throw new ConfigError(`${where}: a profile with id "${p.id}" already exists (update it, or pick another id)`);
    return this.save(p);
  }

  /** Replaces a user profile's definition; `input.id`, when given, must match. */
  update(id: string, input: unknown, where = 'profile'): Profile {
    refuseBuiltin(id, 'edited');
    if (!this.has(id)) throw new ConfigError(`unknown profile "${id}"`);
    const raw = typeof input === 'object' && input !== null && !Array.isArray(input) ? { ...(input as Record<string, unknown>) } : input;
    if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
      const r = raw as Record<string, unknown>;
      if (r.id !== undefined && r.id !== id) throw new ConfigError(`${where}: id "${String(r.id)}" does not match the profile being updated ("${id}")`);
      r.id = id;
    }
    return this.save(this.validateUser(raw, where));
  }

  /** Copies any profile (built-in or user) under a new id; the copy is a user profile. */
  duplicate(id: string, newId?: string, name?: string): Profile {
    const src = this.get(id);
    let target = newId ?? `${id}-copy`;
    if (newId === undefined) for (let i = 2; this.has(target); i++) target = `${id}-copy-${i}`;
    const { builtin: _builtin, ...rest } = src;
    return this.create({ ...rest, id: target, name: name ?? `${src.name} (copy)` });
  }

  /** Deletes a user profile; runs that used it keep its id. */
  delete(id: string): { deleted: true; keptForRuns: number } {
    refuseBuiltin(id, 'deleted');
    const r = deleteStoredProfile(this.store.db, id);
    if (!r.deleted) throw new ConfigError(`unknown profile "${id}"`);
    return { deleted: true, keptForRuns: r.keptForRuns };
  }

  /**
   * Imports profile JSON text (from `where`, usually a file path). With `replace`, an existing user
   * profile of the same id is overwritten; built-in ids are always refused.
   */
  importJson(text: string, where: string, opts: { replace?: boolean } = {}): Profile {
    const p = parseProfileJson(text, where);
    if (opts.replace && this.has(p.id) && !isBuiltinProfileId(p.id)) return this.update(p.id, p, where);
    return this.create(p, where);
  }

  /** The profile as pretty JSON that `importJson` reads back (built-ins export without their flag). */
  exportJson(id: string): string {
    const { builtin: _builtin, ...rest } = this.get(id);
    return `${JSON.stringify(rest, null, 2)}\n`;
  }

  private userProfiles(): Profile[] {
    const out: Profile[] = [];
    for (const rec of listStoredProfiles(this.store.db)) {
      if (isBuiltinProfileId(rec.id) || !rec.definition) continue;
      out.push(parseProfile(rec.definition, `stored profile ${rec.id}`));
    }
    return out;
  }

  private validateUser(input: unknown, where: string): Profile {
    const p = parseProfile(input, where);
    refuseBuiltin(p.id, 'replaced');
    // A user profile is never marked built-in, whatever the JSON says.
    const { builtin: _builtin, ...rest } = p;
    return rest;
  }

  private save(p: Profile): Profile {
    this.store.writer.upsertProfile({ id: p.id, name: p.name, definition: p as unknown as JsonObject });
    return p;
  }
}

/** Opens the store at `dbPath` for one piece of profile work (the CLI's), and closes it after. */
export async function withProfileService<T>(dbPath: string, fn: (profiles: ProfileService) => T | Promise<T>): Promise<T> {
  const store = openStore(dbPath);
  try {
    return await fn(new ProfileService(store));
  } finally {
    store.close();
  }
}

/**
 * Listing and deleting stored device profiles (the reader/writer cover get and upsert). A profile
 * row without a definition is only a reference: a run named a profile id (e.g. a built-in) that
 * the store never held a definition for.
 */
import type Database from 'better-sqlite3';
import { iso, parseJson } from './internal';
import type { JsonObject, ProfileRecord } from './types';

interface Row {
  id: string;
  name: string;
  definition: string | null;
  updated_at: number;
}

/** Stored profiles that carry a definition, by id. */
export function listStoredProfiles(db: Database.Database): ProfileRecord[] {
  const rows = db.prepare('SELECT id, name, definition, updated_at FROM profiles WHERE definition IS NOT NULL ORDER BY id').all() as Row[];
  return rows.map((r) => ({ id: r.id, name: r.name, definition: parseJson<JsonObject>(r.definition), updatedAt: iso(r.updated_at) }));
}

/**
 * Removes a profile's definition. Runs that used the profile keep their reference (the row stays
 * without a definition and `keptForRuns` counts them); an unreferenced row is deleted. Returns false when no
 * stored definition existed.
 */
export function deleteStoredProfile(db: Database.Database, id: string): { deleted: boolean; keptForRuns: number } {
  return db.transaction(() => {
    const row = db.prepare('SELECT definition FROM profiles WHERE id = ?').get(id) as { definition: string | null } | undefined;
    if (!row || row.definition === null) return { deleted: false, keptForRuns: 0 };
    const { n } = db.prepare('SELECT count(*) AS n FROM runs WHERE profile_id = ?').get(id) as { n: number };
    if (n > 0) db.prepare('UPDATE profiles SET definition = NULL, updated_at = ? WHERE id = ?').run(Date.now(), id);
    else db.prepare('DELETE FROM profiles WHERE id = ?').run(id);
    return { deleted: true, keptForRuns: n };
  })();
}

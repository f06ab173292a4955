import { TopiaryError } from '../common/errors';

/** The database cannot be used: not a database, damaged, or locked beyond the busy timeout. */
export class StoreError extends TopiaryError {}

/**
 * The database was written by a newer Topiary (its schema version is above ours). Refused without
 * touching the file: downgrading would damage data the newer version relies on.
 */
export class StoreVersionError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/** A run, model or dataset id that is not in the store. Bad input from the caller's side. */
export class NotFoundError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

/**
 * The database file is damaged (SQLite's quick_check found problems, or a read hit a malformed
 * page). Found when the store is opened for writing, before any work, so no run is lost to it.
 */
export class StoreCorruptError extends TopiaryError {
  override readonly exitCode = 2 as const;
}

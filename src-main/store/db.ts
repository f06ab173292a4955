/**
 * Opening the experiment database: one SQLite file per user, WAL journal (readers never block the
 * writer, a crash loses at most the uncommitted transaction), foreign keys on, a busy timeout so a
 * second process (the CLI while the app runs) waits instead of failing, and migrations at open.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
import { StoreCorruptError, StoreError, StoreVersionError } from './errors';
import { StoreReader } from './reader';
import { StoreWriter } from './writer';

/** `PRAGMA application_id` of a Topiary database ("Topi"), so we never migrate someone else's file. */
export const APPLICATION_ID = 0x546f7069;

/** `$TOPIARY_HOME/topiary.db`, else `~/.topiary/topiary.db`. The CLI's `--db` and Electron's userData override it. */
export function defaultDbPath(): string {
  return path.join(process.env.TOPIARY_HOME ?? path.join(os.homedir(), '.topiary'), 'topiary.db');
}

export interface OpenStoreOptions {
  /** How long a write waits for another process's lock before failing (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * Run `PRAGMA quick_check` before anything else and refuse a damaged file with a
   * StoreCorruptError that says how to recover. For opens that will write (runs, imports, edits):
   * a damage found only at the write would lose the work done before it. O(database size).
   */
  verify?: boolean;
}

/** An open experiment database with its typed reader and writer. Close it when done. */
export class Store {
  readonly reader: StoreReader;
  readonly writer: StoreWriter;

  constructor(
    /** The raw connection; only store/ code should touch it. */
    readonly db: Database.Database,
    readonly file: string,
  ) {
    this.reader = new StoreReader(db);
    this.writer = new StoreWriter(db);
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /**
   * Marks `running`/`queued` runs whose owner process is gone as `interrupted`, keeping their partial
   * history. Services call this once at start. Returns the ids it marked.
   */
  markInterruptedRuns(): string[] {
    return this.writer.markInterruptedRuns();
  }

  /** `PRAGMA integrity_check`: 'ok' or the problems SQLite found, one per line. */
  integrityCheck(): string {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('\n');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Opens (creating if needed) the experiment database at `file` and brings its schema up to date.
 * Refuses, without writing anything, a database from a newer Topiary or a SQLite file that is not
 * a Topiary database.
 *
 * @example
 *   const store = openStore(defaultDbPath());
 *   store.markInterruptedRuns();
 *   const page = store.reader.listRuns({ status: 'done', limit: 20 });
 */
export function openStore(file: string, options: OpenStoreOptions = {}): Store {
  const memory = file === ':memory:';
  if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (err) {
    throw new StoreError(`${file}: cannot open the experiment database: ${(err as Error).message}`, { file, cause: err });
  }
  try {
    if (options.verify && !memory) quickCheck(db, file);
    checkCompatible(db, file);
    // WAL + NORMAL: commits do not fsync (only checkpoints do); a power loss can drop the last few
    // commits but never corrupts the file. That is what makes appending a metric point cheap.
    if (!memory) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    migrate(db, file);
    return new Store(db, file);
  } catch (err) {
    db.close();
    if (err instanceof StoreError || err instanceof StoreVersionError || err instanceof StoreCorruptError) throw err;
    if (isCorruption(err)) throw corrupt(file, (err as Error).message, err);
    throw new StoreError(`${file}: cannot use the experiment database: ${(err as Error).message}`, { file, cause: err });
  }
}

/** SQLite's words for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB after a valid header). */
function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_CORRUPT' || /malformed|corrupt/i.test(err instanceof Error ? err.message : String(err));
}

function corrupt(file: string, problem: string, cause?: unknown): StoreCorruptError {
  return new StoreCorruptError(
    `${file}: the experiment database is damaged: ${problem}. Nothing was done. To recover: move it aside (with its -wal and -shm files, if any), e.g. ` +
      `\`mv ${file} ${file}.damaged\`, then run \`topiary runs recover\`, which records every run again from its folder ` +
      '(runs/<run-id>/run.json in the data folder) into a new database; or restore a backup of the file.',
    { file, ...(cause === undefined ? {} : { cause }) },
  );
}

/** `PRAGMA quick_check` (pages, cells, index order; not index contents): 'ok', else a StoreCorruptError. */
function quickCheck(db: Database.Database, file: string): void {
  let problems: string[];
  try {
    problems = (db.pragma('quick_check(5)') as { quick_check: string }[])
      .flatMap((r) => r.quick_check.split('\n'))
      .filter((line) => line && !line.startsWith('*** in database'));
  } catch (err) {
    // "file is not a database" is checkCompatible's to word; anything else here is damage.
    if ((err as { code?: unknown }).code === 'SQLITE_NOTADB') return;
    throw corrupt(file, `SQLite cannot check it (${(err as Error).message})`, err);
  }
  if (problems.length === 1 && problems[0] === 'ok') return;
  throw corrupt(file, `SQLite quick_check found problems (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''})`);
}

function checkCompatible(db: Database.Database, file: string): void {
  let version: number;
  let appId: number;
  try {
    version = db.pragma('user_version', { simple: true }) as number;
    appId = db.pragma('application_id', { simple: true }) as number;
  } catch (err) {
    if (isCorruption(err)) throw corrupt(file, (err as Error).message, err);
    throw new StoreError(`${file}: not a Topiary database (${(err as Error).message})`, { file, cause: err });
  }
  if (appId !== 0 && appId !== APPLICATION_ID) {
    throw new StoreError(`${file}: not a Topiary database (SQLite application_id is 0x${appId.toString(16)})`, { file });
  }
  if (version > SCHEMA_VERSION) {
    throw new StoreVersionError(
      `${file}: database schema version ${version} is newer than this Topiary supports (${SCHEMA_VERSION}); ` +
        'it was written by a newer Topiary. Upgrade Topiary, or pass --db with another file. The database was not changed.',
      { file },
    );
  }
  if (version === 0 && appId === 0) {
    const tables = db.prepare(`SELECT count(*) FROM sqlite_schema WHERE type = 'table'`).pluck().get() as number;
    if (tables > 0) throw new StoreError(`${file}: not a Topiary database (it has ${tables} tables but no Topiary schema)`, { file });
  }
}

/**
 * Applies the migrations above the database's `user_version`, each in its own IMMEDIATE
 * transaction with its version bump (so two processes opening at once cannot both apply one).
 * `upTo` stops early; tests use it to build a database at an older version.
 */
export function migrate(
  db: Database.Database,
  file: string,
  migrations: readonly Migration[] = MIGRATIONS,
  upTo: number = migrations[migrations.length - 1].version,
): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  for (const m of migrations) {
    if (m.version > upTo) break;
    const apply = db.transaction(() => {
      const current = db.pragma('user_version', { simple: true }) as number;
      if (current >= m.version) return;
      if (current !== m.version - 1) {
        throw new StoreError(`${file}: cannot apply migration ${m.version}-${m.name} to schema version ${current}`, { file });
      }
      if (current === 0) db.pragma(`application_id = ${APPLICATION_ID}`);
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    });
    try {
      apply.immediate();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`${file}: migration ${m.version}-${m.name} failed: ${(err as Error).message}`, { file, cause: err });
    }
  }
  return { from, to: db.pragma('user_version', { simple: true }) as number };
}

import Database from 'better-sqlite3';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { APPLICATION_ID, defaultDbPath, openStore } from '../../../src-main/store/db';
import { StoreError, StoreVersionError } from '../../../src-main/store/errors';
import { SCHEMA_VERSION } from '../../../src-main/store/migrations';
import { tempDir } from './helpers';

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('openStore', () => {
  const opened: { close(): void }[] = [];
  afterEach(() => opened.splice(0).forEach((s) => s.close()));

  it('creates the file (and its folder) in WAL mode with foreign keys on and the latest schema', () => {
    const file = path.join(tempDir(), 'nested', 'topiary.db');
    const store = openStore(file);
    opened.push(store);
    expect(fs.existsSync(file)).toBe(true);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    expect(store.db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.db.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    expect(store.integrityCheck()).toBe('ok');
  });

  it('reopening an up-to-date database keeps its rows and version', () => {
    const file = path.join(tempDir(), 'topiary.db');
    const a = openStore(file);
    const id = a.writer.upsertModel({ source: 'demo', sha256: 'abc', format: 'tfjs-layers', params: 10 });
    a.close();
    const b = openStore(file);
    opened.push(b);
    expect(b.schemaVersion).toBe(SCHEMA_VERSION);
    expect(b.reader.getModel(id).sha256).toBe('abc');
  });

  it('refuses a database from a newer Topiary with a clear message and leaves the file unchanged', () => {
    const file = path.join(tempDir(), 'future.db');
    const raw = new Database(file);
    raw.pragma(`application_id = ${APPLICATION_ID}`);
    raw.exec('CREATE TABLE future_things (x INTEGER); INSERT INTO future_things VALUES (42);');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    const before = sha(file);
    let error: unknown;
    try {
      openStore(file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StoreVersionError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain(`schema version ${SCHEMA_VERSION + 5} is newer than this Topiary supports (${SCHEMA_VERSION})`);
    expect((error as StoreVersionError).exitCode).toBe(2);
    expect(sha(file)).toBe(before);
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
  });

  it('refuses a SQLite file that belongs to another application', () => {
    const file = path.join(tempDir(), 'other.db');
    const raw = new Database(file);
    raw.exec('CREATE TABLE contacts (name TEXT)');
    raw.close();
    const before = sha(file);
    expect(() => openStore(file)).toThrow(/not a Topiary database \(it has 1 tables/);
    expect(sha(file)).toBe(before);
  });

  it('refuses a file that is not a database at all, naming it', () => {
    const file = path.join(tempDir(), 'junk.db');
    fs.writeFileSync(file, 'this is not sqlite'.repeat(100));
    expect(() => openStore(file)).toThrow(StoreError);
    expect(() => openStore(file)).toThrow(file);
  });

  it('a second connection (the CLI while the app writes) reads without blocking and without seeing uncommitted rows', () => {
    const file = path.join(tempDir(), 'topiary.db');
    const app = openStore(file);
    const cli = openStore(file);
    opened.push(app, cli);
    app.writer.upsertModel({ source: 'demo', sha256: 'committed', format: 'tfjs-layers', params: 1 });
    app.db.exec('BEGIN IMMEDIATE');
    app.writer.upsertModel({ source: 'demo', sha256: 'pending', format: 'tfjs-layers', params: 1 });
    expect(cli.reader.findModelBySha('committed')).not.toBeNull();
    expect(cli.reader.findModelBySha('pending')).toBeNull();
    app.db.exec('COMMIT');
    expect(cli.reader.findModelBySha('pending')).not.toBeNull();
  });

  it('defaultDbPath follows TOPIARY_HOME', () => {
    const old = process.env.TOPIARY_HOME;
    process.env.TOPIARY_HOME = '/tmp/some-home';
    try {
      expect(defaultDbPath()).toBe(path.join('/tmp/some-home', 'topiary.db'));
    } finally {
      if (old === undefined) delete process.env.TOPIARY_HOME;
      else process.env.TOPIARY_HOME = old;
    }
  });
});

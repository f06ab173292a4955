import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../../../src-main/store/db';
import { MIGRATIONS } from '../../../../src-main/store/migrations';
import { tempDir } from '../helpers';

describe('migration 0001-init', () => {
  it('creates the schema on an empty database, and the tables accept and relate rows', () => {
    const file = path.join(tempDir(), 'v1.db');
    const db = new Database(file);
    db.pragma('foreign_keys = ON');
    expect(migrate(db, file, MIGRATIONS, 1)).toEqual({ from: 0, to: 1 });
    const tables = db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`).pluck().all();
    expect(tables).toEqual(['artifacts', 'datasets', 'layer_results', 'metrics', 'models', 'plans', 'profiles', 'runs', 'tags']);
    db.prepare(`INSERT INTO models (id, source, sha256, format, params, created_at) VALUES ('m1', 'demo', 'h', 'tfjs-layers', 5, 1)`).run();
    db.prepare(
      `INSERT INTO runs (id, kind, status, config, model_id, backend, versions, created_at, updated_at) VALUES ('r1', 'prune', 'done', '{}', 'm1', 'cpu', '{}', 1, 1)`,
    ).run();
    db.prepare(`INSERT INTO metrics (run_pk, phase, name, step, value, t) VALUES (1, 'val', 'accuracy', 0, 0.5, 1)`).run();
    // Foreign keys hold: a run needs its model, and deleting the run removes its series.
    expect(() =>
      db.prepare(`INSERT INTO runs (id, kind, status, config, model_id, backend, versions, created_at, updated_at) VALUES ('r2', 'prune', 'done', '{}', 'nope', 'cpu', '{}', 1, 1)`).run(),
    ).toThrow(/FOREIGN KEY/);
    expect(() => db.prepare(`UPDATE runs SET status = 'weird'`).run()).toThrow(/CHECK/);
    db.prepare(`DELETE FROM runs WHERE id = 'r1'`).run();
    expect(db.prepare('SELECT count(*) FROM metrics').pluck().get()).toBe(0);
    db.close();
  });

  it('running it again is a no-op', () => {
    const file = path.join(tempDir(), 'v1.db');
    const db = new Database(file);
    migrate(db, file, MIGRATIONS, 1);
    expect(migrate(db, file, MIGRATIONS, 1)).toEqual({ from: 1, to: 1 });
    db.close();
  });
});

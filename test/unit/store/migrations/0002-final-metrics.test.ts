import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openStore } from '../../../../src-main/store/db';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../../src-main/store/migrations';
import { tempDir } from '../helpers';

/** A version-1 database with three runs: one with a summary, one without, one still running. */
function populatedV1(file: string): void {
  const db = new Database(file);
  migrate(db, file, MIGRATIONS, 1);
  db.prepare(`INSERT INTO models (id, source, sha256, format, params, created_at) VALUES ('m1', 'demo', 'h', 'tfjs-layers', 5, 1)`).run();
  const run = db.prepare(
    `INSERT INTO runs (id, kind, method, status, config, model_id, backend, versions, summary, created_at, updated_at)
     VALUES (?, 'prune', 'magnitude', ?, '{"sparsity":0.5}', 'm1', 'cpu', '{}', ?, ?, ?)`,
  );
  run.run('with-summary', 'done', JSON.stringify({ before: { accuracy: 0.9 }, after: { accuracy: 0.88, sizeBytes: 1234, label: 'x' } }), 1, 1);
  run.run('no-summary', 'interrupted', null, 2, 2);
  run.run('still-running', 'running', null, 3, 3);
  const metric = db.prepare(`INSERT INTO metrics (run_pk, phase, name, step, value, t) VALUES (?, ?, ?, ?, ?, ?)`);
  metric.run(2, 'val', 'accuracy', 0, 0.6, 10);
  metric.run(2, 'val', 'accuracy', 1, 0.7, 20);
  metric.run(2, 'train', 'loss', 1, 0.3, 20);
  metric.run(3, 'val', 'accuracy', 0, 0.4, 30);
  db.prepare(`INSERT INTO tags (run_pk, tag) VALUES (1, 'best')`).run();
  db.close();
}

describe('migration 0002-final-metrics', () => {
  it('migrates a populated version-1 database: rows kept, final metrics backfilled', () => {
    const file = path.join(tempDir(), 'v1.db');
    populatedV1(file);
    const store = openStore(file);
    try {
      expect(store.schemaVersion).toBe(SCHEMA_VERSION);
      expect(store.integrityCheck()).toBe('ok');
      const page = store.reader.listRuns({ sort: 'created', direction: 'asc' });
      expect(page.items.map((r) => r.id)).toEqual(['with-summary', 'no-summary', 'still-running']);
      const [a, b, c] = page.items;
      // Numeric summary.after entries only; the string label is not a metric.
      expect(a.final).toEqual({ accuracy: 0.88, sizeBytes: 1234 });
      expect(a.tags).toEqual(['best']);
      // Without a summary, the last point of each series stands in.
      expect(b.final).toEqual({ accuracy: 0.7, loss: 0.3 });
      // A running run has no final values yet.
      expect(c.final).toEqual({});
      expect(store.reader.getRun('no-summary').metrics.find((s) => s.name === 'accuracy')?.points.map((p) => p.value)).toEqual([0.6, 0.7]);
      expect(store.reader.listRuns({ metrics: [{ name: 'accuracy', op: '>=', value: 0.75 }] }).items.map((r) => r.id)).toEqual(['with-summary']);
      const indexes = store.db.prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'run_final'`).pluck().all();
      expect(indexes).toContain('run_final_name');
    } finally {
      store.close();
    }
  });
});

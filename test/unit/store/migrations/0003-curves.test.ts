import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, openStore } from '../../../../src-main/store/db';
import { MIGRATIONS } from '../../../../src-main/store/migrations';
import { tempDir } from '../helpers';

/** A version-2 database with a finished run holding its per-epoch series and final metrics. */
function populatedV2(file: string): void {
  const db = new Database(file);
  migrate(db, file, MIGRATIONS, 2);
  db.prepare(`INSERT INTO models (id, source, sha256, format, params, created_at) VALUES ('m1', 'demo', 'h', 'tfjs-layers', 5, 1)`).run();
  db.prepare(
    `INSERT INTO runs (id, kind, method, status, config, model_id, backend, versions, summary, created_at, updated_at)
     VALUES ('old', 'prune', 'magnitude', 'done', '{}', 'm1', 'cpu', '{}', '{"after":{"accuracy":0.9}}', 1, 1)`,
  ).run();
  db.prepare(`INSERT INTO metrics (run_pk, phase, name, step, epoch, value, t) VALUES (1, 'train', 'loss', 1, 1, 0.4, 10)`).run();
  db.prepare(`INSERT INTO run_final (run_pk, name, value) VALUES (1, 'accuracy', 0.9)`).run();
  db.close();
}

describe('migration 0003-curves', () => {
  it('migrates a populated version-2 database: rows kept, old runs have no curves, new points are stored and read back', () => {
    const file = path.join(tempDir(), 'v2.db');
    populatedV2(file);
    const store = openStore(file);
    try {
      expect(store.schemaVersion).toBe(3);
      expect(store.integrityCheck()).toBe('ok');
      const old = store.reader.getRun('old');
      expect(old.final).toEqual({ accuracy: 0.9 });
      expect(old.metrics).toEqual([{ phase: 'train', name: 'loss', points: [{ step: 1, epoch: 1, value: 0.4, time: 10 }] }]);
      expect(old.curves).toEqual([]);
      store.writer.appendCurvePoints('old', [{ step: 5, epoch: 0.5, wallMs: 1200, values: { loss: 0.7, accuracy: 0.6 } }]);
      expect(store.reader.getRun('old').curves).toEqual([{ step: 5, epoch: 0.5, wallMs: 1200, values: { loss: 0.7, accuracy: 0.6 } }]);
      // Deleting the run deletes its curve rows (ON DELETE CASCADE).
      store.writer.deleteRun('old');
      expect(store.db.prepare('SELECT count(*) FROM curve_points').pluck().get()).toBe(0);
    } finally {
      store.close();
    }
  });
});

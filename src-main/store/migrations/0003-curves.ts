import type { Migration } from './types';

/**
 * Training curves: one row per sampled optimizer step (a few hundred a run), with the step, the
 * fractional epoch and the wall time since the run started, so a chart can use any of the three as
 * its x axis. The values are a JSON object (`{"loss":0.41,"accuracy":0.88,"sparsity":0.5,"lr":0.001}`)
 * rather than a row per value: a point is always read whole, and a regressor's names (r2) or values
 * only some points have (valLoss at an epoch's end) need no schema change. Nothing to backfill: the
 * per-epoch series of older runs stay in `metrics`.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'curves',
  up(db) {
    db.exec(`
      CREATE TABLE curve_points (
        run_pk  INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        step    INTEGER NOT NULL,
        epoch   REAL NOT NULL,
        wall_ms INTEGER NOT NULL,
        vals    TEXT NOT NULL CHECK (json_valid(vals)),
        PRIMARY KEY (run_pk, step)
      ) WITHOUT ROWID;
    `);
  },
};

import type { Migration } from './types';

/**
 * Final metrics as rows, not buried in `runs.summary` JSON: threshold filters ("accuracy >= 0.9"),
 * metric sorting and Pareto over 10,000 runs need an index on (name, value). Backfills from
 * `summary.after` (numeric entries) and, for runs without one, from the last point of each series.
 */
export const migration0002: Migration = {
  version: 2,
  name: 'final-metrics',
  up(db) {
    db.exec(`
      CREATE TABLE run_final (
        run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        name   TEXT NOT NULL,
        value  REAL,
        PRIMARY KEY (run_pk, name)
      ) WITHOUT ROWID;
      CREATE INDEX run_final_name ON run_final (name, value);

      INSERT OR IGNORE INTO run_final (run_pk, name, value)
        SELECT r.pk, j.key, j.value
        FROM runs r, json_each(r.summary, '$.after') j
        WHERE r.summary IS NOT NULL AND json_valid(r.summary) AND j.type IN ('integer', 'real');

      -- Runs that ended without a summary: the latest recorded point of each metric name stands in.
      INSERT OR IGNORE INTO run_final (run_pk, name, value)
        SELECT run_pk, name, value FROM (
          SELECT m.run_pk, m.name, m.value,
                 ROW_NUMBER() OVER (PARTITION BY m.run_pk, m.name ORDER BY m.t DESC, m.step DESC) AS rn
          FROM metrics m JOIN runs r ON r.pk = m.run_pk
          WHERE r.status IN ('done','failed','cancelled','interrupted')
            AND NOT EXISTS (SELECT 1 FROM run_final f WHERE f.run_pk = m.run_pk)
        ) WHERE rn = 1;
    `);
  },
};

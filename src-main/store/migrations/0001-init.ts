import type { Migration } from './types';

/**
 * The first schema. Times are INTEGER ms since the epoch (sortable, cheap to compare). Runs have a
 * public UUID (`id`, stable across machines so bundles merge) and a local integer key (`pk`) that
 * the high-volume child tables use, which keeps a million metric points compact.
 */
export const migration0001: Migration = {
  version: 1,
  name: 'init',
  up(db) {
    db.exec(`
      CREATE TABLE models (
        id         TEXT PRIMARY KEY,
        source     TEXT NOT NULL,
        sha256     TEXT NOT NULL UNIQUE,
        format     TEXT NOT NULL,
        params     INTEGER NOT NULL,
        name       TEXT,
        bytes      INTEGER,
        meta       TEXT,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE datasets (
        id           TEXT PRIMARY KEY,
        source       TEXT NOT NULL,
        sha256       TEXT,
        sample_shape TEXT NOT NULL,
        class_names  TEXT NOT NULL,
        train_size   INTEGER NOT NULL,
        test_size    INTEGER NOT NULL,
        created_at   INTEGER NOT NULL
      );
      -- A dataset is the same dataset when its hash matches, or (without a hash) its source does.
      CREATE UNIQUE INDEX datasets_identity ON datasets (source, IFNULL(sha256, ''));

      CREATE TABLE profiles (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        definition TEXT,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE runs (
        pk            INTEGER PRIMARY KEY,
        id            TEXT NOT NULL UNIQUE,
        name          TEXT,
        kind          TEXT NOT NULL,
        method        TEXT,
        status        TEXT NOT NULL CHECK (status IN ('queued','running','done','failed','cancelled','interrupted')),
        error         TEXT,
        config        TEXT NOT NULL,
        model_id      TEXT NOT NULL REFERENCES models (id),
        dataset_id    TEXT REFERENCES datasets (id),
        profile_id    TEXT REFERENCES profiles (id),
        parent_run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
        backend       TEXT NOT NULL,
        versions      TEXT NOT NULL,
        summary       TEXT,
        note          TEXT,
        origin        TEXT,
        owner_pid     INTEGER,
        owner_host    TEXT,
        owner_token   TEXT,
        created_at    INTEGER NOT NULL,
        started_at    INTEGER,
        finished_at   INTEGER,
        updated_at    INTEGER NOT NULL
      );
      CREATE INDEX runs_created ON runs (created_at);
      CREATE INDEX runs_status ON runs (status, created_at);
      CREATE INDEX runs_model ON runs (model_id, created_at);
      CREATE INDEX runs_dataset ON runs (dataset_id, created_at);
      CREATE INDEX runs_profile ON runs (profile_id, created_at);
      CREATE INDEX runs_method ON runs (method, created_at);
      CREATE INDEX runs_parent ON runs (parent_run_id);

      -- Clustered by run so a run's series is one contiguous range; re-appending a step replaces it.
      CREATE TABLE metrics (
        run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        phase  TEXT NOT NULL,
        name   TEXT NOT NULL,
        step   INTEGER NOT NULL,
        epoch  INTEGER,
        value  REAL,
        t      INTEGER NOT NULL,
        PRIMARY KEY (run_pk, phase, name, step)
      ) WITHOUT ROWID;

      CREATE TABLE layer_results (
        run_pk      INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        phase       TEXT NOT NULL CHECK (phase IN ('before','after')),
        ord         INTEGER NOT NULL,
        layer       TEXT NOT NULL,
        class_name  TEXT NOT NULL,
        params      INTEGER NOT NULL,
        non_zeros   INTEGER NOT NULL,
        macs        INTEGER NOT NULL,
        sparsity    REAL NOT NULL,
        sensitivity TEXT,
        PRIMARY KEY (run_pk, phase, layer)
      ) WITHOUT ROWID;

      CREATE TABLE artifacts (
        id           TEXT PRIMARY KEY,
        run_pk       INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        path         TEXT NOT NULL,
        format       TEXT NOT NULL,
        quant        TEXT NOT NULL,
        bytes        INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        verification TEXT,
        status       TEXT NOT NULL CHECK (status IN ('ok','failed','unverified')),
        reason       TEXT,
        created_at   INTEGER NOT NULL
      );
      CREATE INDEX artifacts_run ON artifacts (run_pk);

      CREATE TABLE plans (
        run_pk     INTEGER PRIMARY KEY REFERENCES runs (pk) ON DELETE CASCADE,
        plan       TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );

      CREATE TABLE tags (
        run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
        tag    TEXT NOT NULL,
        PRIMARY KEY (run_pk, tag)
      ) WITHOUT ROWID;
      CREATE INDEX tags_tag ON tags (tag, run_pk);
    `);
  },
};

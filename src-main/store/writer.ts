/**
 * The only code that changes the experiment database. Every multi-row change is one transaction;
 * the per-point metric append is a single prepared INSERT (WAL + synchronous=NORMAL: no fsync per
 * commit), which keeps it well under a millisecond.
 */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { ConfigError } from '../common/errors';
import { NotFoundError } from './errors';
import { currentOwner, isOwnerAlive } from './process-owner';
import {
  RUN_STATUSES,
  TERMINAL_STATUSES,
  type ArtifactInput,
  type CurvePoint,
  type DatasetInput,
  type Json,
  type JsonObject,
  type LayerResultInput,
  type MetricInput,
  type ModelInput,
  type ProfileInput,
  type RunDetail,
  type RunInput,
  type RunStatus,
  type RunSummary,
} from './types';

type Stmt = Database.Statement<unknown[], unknown>;

/** Where an imported run's references point in this database. */
export interface ImportRefs {
  modelId: string;
  datasetId: string | null;
  profileId: string | null;
  parentRunId: string | null;
  /** New on-disk path for each of `detail.artifacts`, same order. */
  artifactPaths: string[];
  /** Recorded in `runs.origin` (source machine, bundle file, import time). */
  origin: JsonObject;
}

export class StoreWriter {
  private readonly pkCache = new Map<string, number>();
  private readonly insertMetric: Stmt;
  private readonly insertCurvePoint: Stmt;
  private readonly selectPk: Stmt;

  constructor(private readonly db: Database.Database) {
    this.insertMetric = db.prepare(
      'INSERT OR REPLACE INTO metrics (run_pk, phase, name, step, epoch, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertCurvePoint = db.prepare('INSERT OR REPLACE INTO curve_points (run_pk, step, epoch, wall_ms, vals) VALUES (?, ?, ?, ?, ?)');
    this.selectPk = db.prepare('SELECT pk FROM runs WHERE id = ?').pluck();
  }

  /** Records a model, or returns the id of the one with the same sha256. */
  upsertModel(input: ModelInput): string {
    requireText(input.sha256, 'model sha256');
    requireText(input.source, 'model source');
    return this.db.transaction(() => {
      const existing = this.db.prepare('SELECT id FROM models WHERE sha256 = ?').pluck().get(input.sha256) as string | undefined;
      if (existing) return existing;
      const id = randomUUID();
      this.db
        .prepare('INSERT INTO models (id, source, sha256, format, params, name, bytes, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(id, input.source, input.sha256, input.format, input.params, input.name ?? null, input.bytes ?? null, jsonOrNull(input.meta), Date.now());
      return id;
    }).immediate();
  }

  /** Records a dataset, or returns the id of the same one (same source and hash). */
  upsertDataset(input: DatasetInput): string {
    requireText(input.source, 'dataset source');
    const sha = input.sha256 ?? null;
    return this.db.transaction(() => {
      const existing = this.db
        .prepare(`SELECT id FROM datasets WHERE source = ? AND IFNULL(sha256, '') = ?`)
        .pluck()
        .get(input.source, sha ?? '') as string | undefined;
      if (existing) return existing;
      const id = randomUUID();
      this.db
        .prepare('INSERT INTO datasets (id, source, sha256, sample_shape, class_names, train_size, test_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(id, input.source, sha, JSON.stringify(input.sampleShape), JSON.stringify(input.classNames), input.trainSize, input.testSize, Date.now());
      return id;
    }).immediate();
  }

  /** Records or updates a device profile; a missing definition keeps the stored one. */
  upsertProfile(input: ProfileInput): string {
    requireText(input.id, 'profile id');
    this.db
      .prepare(
        `INSERT INTO profiles (id, name, definition, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, definition = IFNULL(excluded.definition, definition), updated_at = excluded.updated_at`,
      )
      .run(input.id, input.name ?? input.id, jsonOrNull(input.definition ?? null), Date.now());
    return input.id;
  }

  /**
   * Creates a run owned by this process and returns its UUID. A profile id that is not yet stored is
   * recorded by id (the profile service may keep definitions elsewhere).
   */
  createRun(input: RunInput): string {
    if (input.config === null || typeof input.config !== 'object' || Array.isArray(input.config)) {
      throw new ConfigError('run config must be a JSON object');
    }
    requireText(input.kind, 'run kind');
    const status = input.status ?? 'running';
    if (status !== 'queued' && status !== 'running') throw new ConfigError(`a new run must be queued or running, got ${status}`);
    const id = input.id ?? randomUUID();
    const owner = input.owner ?? currentOwner();
    const now = Date.now();
    this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM models WHERE id = ?').get(input.modelId)) throw new NotFoundError(`model ${input.modelId} is not in the store`);
      if (input.datasetId && !this.db.prepare('SELECT 1 FROM datasets WHERE id = ?').get(input.datasetId)) {
        throw new NotFoundError(`dataset ${input.datasetId} is not in the store`);
      }
      if (input.parentRunId && !this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(input.parentRunId)) {
        throw new NotFoundError(`parent run ${input.parentRunId} is not in the store`);
      }
      if (input.profileId) this.db.prepare('INSERT OR IGNORE INTO profiles (id, name, updated_at) VALUES (?, ?, ?)').run(input.profileId, input.profileId, now);
      this.db
        .prepare(
          `INSERT INTO runs (id, name, kind, method, status, config, model_id, dataset_id, profile_id, parent_run_id, backend, versions,
                             owner_pid, owner_host, owner_token, created_at, started_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id, input.name ?? null, input.kind, input.method ?? null, status, JSON.stringify(input.config), input.modelId,
          input.datasetId ?? null, input.profileId ?? null, input.parentRunId ?? null, input.backend, JSON.stringify(input.versions),
          owner.pid, owner.host, owner.startToken, now, status === 'running' ? now : null, now,
        );
    }).immediate();
    return id;
  }

  /**
   * Moves a run to `status`. Entering `running` sets startedAt; entering a terminal status sets
   * finishedAt and, for metrics without a summary value, takes the last series point as final.
   */
  setRunStatus(runId: string, status: RunStatus, error?: string | null): void {
    if (!RUN_STATUSES.includes(status)) throw new ConfigError(`run status must be one of ${RUN_STATUSES.join(', ')}, got ${String(status)}`);
    const pk = this.pk(runId);
    const now = Date.now();
    const terminal = TERMINAL_STATUSES.includes(status);
    this.db.transaction(() => {
      this.db
        .prepare(
          `UPDATE runs SET status = ?, error = ?, updated_at = ?,
             started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END,
             finished_at = CASE WHEN ? THEN ? ELSE NULL END
           WHERE pk = ?`,
        )
        .run(status, error ?? null, now, status === 'running' ? 1 : 0, now, terminal ? 1 : 0, now, pk);
      if (terminal) this.finalsFromSeries(pk);
    }).immediate();
  }

  /** Appends one point of a metric series (replacing the same run/phase/name/step). < 1 ms. */
  appendMetric(runId: string, point: MetricInput): void {
    checkPoint(point);
    this.insertMetric.run(this.pk(runId), point.phase, point.name, point.step, point.epoch ?? null, realOrNull(point.value), point.time ?? Date.now());
  }

  /** Appends many points in one transaction (one commit, so much cheaper per point). */
  appendMetrics(runId: string, points: readonly MetricInput[]): void {
    const pk = this.pk(runId);
    const now = Date.now();
    this.db.transaction(() => {
      for (const p of points) checkPoint(p);
      for (const p of points) this.insertMetric.run(pk, p.phase, p.name, p.step, p.epoch ?? null, realOrNull(p.value), p.time ?? now);
    })();
  }

  /**
   * Appends training-curve points in one transaction (a point at a step already stored replaces
   * it). Values that are not finite numbers are dropped: JSON cannot hold them.
   */
  appendCurvePoints(runId: string, points: readonly CurvePoint[]): void {
    const pk = this.pk(runId);
    for (const p of points) checkCurvePoint(p);
    this.db.transaction(() => {
      for (const p of points) this.insertCurvePoint.run(pk, p.step, p.epoch, Math.round(p.wallMs), JSON.stringify(finiteValues(p.values)));
    })();
  }

  /** Replaces the run's per-layer rows for each phase present in `rows` (order is kept). */
  saveLayerResults(runId: string, rows: readonly LayerResultInput[]): void {
    const pk = this.pk(runId);
    const insert = this.db.prepare(
      `INSERT INTO layer_results (run_pk, phase, ord, layer, class_name, params, non_zeros, macs, sparsity, sensitivity)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.db.transaction(() => {
      for (const phase of new Set(rows.map((r) => r.phase))) {
        if (phase !== 'before' && phase !== 'after') throw new ConfigError(`layer result phase must be 'before' or 'after', got ${String(phase)}`);
        this.db.prepare('DELETE FROM layer_results WHERE run_pk = ? AND phase = ?').run(pk, phase);
      }
      rows.forEach((r, i) => {
        insert.run(pk, r.phase, i, r.layer, r.className, r.params, r.nonZeros, r.macs, r.sparsity, r.sensitivity === undefined ? null : JSON.stringify(r.sensitivity));
      });
    }).immediate();
  }

  /** Records an exported file and its verification result; returns the artifact id. */
  addArtifact(runId: string, a: ArtifactInput): string {
    const pk = this.pk(runId);
    if (!['ok', 'failed', 'unverified'].includes(a.status)) throw new ConfigError(`artifact status must be ok, failed or unverified, got ${String(a.status)}`);
    const id = randomUUID();
    this.db
      .prepare(
        `INSERT INTO artifacts (id, run_pk, path, format, quant, bytes, sha256, verification, status, reason, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, pk, a.path, a.format, a.quant, a.bytes, a.sha256, a.verification === null ? null : JSON.stringify(a.verification), a.status, a.reason ?? null, Date.now());
    return id;
  }

  /** Stores (replacing) the run's pruning plan so the run can be replayed. */
  savePlan(runId: string, plan: Json): void {
    this.db
      .prepare('INSERT INTO plans (run_pk, plan, created_at) VALUES (?, ?, ?) ON CONFLICT (run_pk) DO UPDATE SET plan = excluded.plan, created_at = excluded.created_at')
      .run(this.pk(runId), JSON.stringify(plan), Date.now());
  }

  /** Stores the run's summary; the numeric entries of `summary.after` become its final metrics. */
  setSummary(runId: string, summary: RunSummary): void {
    const pk = this.pk(runId);
    this.db.transaction(() => {
      this.db.prepare('UPDATE runs SET summary = ?, updated_at = ? WHERE pk = ?').run(JSON.stringify(summary), Date.now(), pk);
      if (summary.after) {
        this.db.prepare('DELETE FROM run_final WHERE run_pk = ?').run(pk);
        const insert = this.db.prepare('INSERT INTO run_final (run_pk, name, value) VALUES (?, ?, ?)');
        for (const [name, value] of Object.entries(summary.after)) {
          if (typeof value === 'number') insert.run(pk, name, realOrNull(value));
        }
        // A summary written after the run ended must not drop the finals its series gave.
        const status = this.db.prepare('SELECT status FROM runs WHERE pk = ?').pluck().get(pk) as RunStatus;
        if (TERMINAL_STATUSES.includes(status)) this.finalsFromSeries(pk);
      }
    }).immediate();
  }

  tag(runId: string, ...tags: string[]): void {
    const pk = this.pk(runId);
    const insert = this.db.prepare('INSERT OR IGNORE INTO tags (run_pk, tag) VALUES (?, ?)');
    this.db.transaction(() => {
      for (const t of tags) {
        const tag = t.trim();
        if (!tag) throw new ConfigError('a tag must not be empty');
        insert.run(pk, tag);
      }
    }).immediate();
  }

  untag(runId: string, ...tags: string[]): void {
    const pk = this.pk(runId);
    const del = this.db.prepare('DELETE FROM tags WHERE run_pk = ? AND tag = ?');
    this.db.transaction(() => {
      for (const t of tags) del.run(pk, t.trim());
    }).immediate();
  }

  /** Sets (or with null/empty, clears) the run's free-text note. */
  setNote(runId: string, note: string | null): void {
    this.db.prepare('UPDATE runs SET note = ?, updated_at = ? WHERE pk = ?').run(note ? note : null, Date.now(), this.pk(runId));
  }

  /**
   * Deletes a run and all its rows (metrics, layers, artifacts rows, plan, tags); children keep
   * existing with no parent. Returns the artifact paths it referenced; files are the caller's call.
   */
  deleteRun(runId: string): string[] {
    const pk = this.pk(runId);
    const paths = this.db.transaction(() => {
      const p = this.db.prepare('SELECT path FROM artifacts WHERE run_pk = ?').pluck().all(pk) as string[];
      this.db.prepare('DELETE FROM runs WHERE pk = ?').run(pk);
      return p;
    }).immediate();
    this.pkCache.delete(runId);
    return paths;
  }

  /**
   * Marks `running`/`queued` runs whose owner process is gone as `interrupted` (their history is
   * kept; finishedAt is the last sign of life). Runs of live processes and of other hosts are left.
   */
  markInterruptedRuns(): string[] {
    const candidates = this.db
      .prepare(`SELECT pk, id, owner_pid, owner_host, owner_token FROM runs WHERE status IN ('running', 'queued')`)
      .all() as { pk: number; id: string; owner_pid: number | null; owner_host: string | null; owner_token: string | null }[];
    const dead = candidates.filter(
      (r) => r.owner_pid === null || r.owner_host === null || !isOwnerAlive({ pid: r.owner_pid, host: r.owner_host, startToken: r.owner_token }),
    );
    if (dead.length === 0) return [];
    const now = Date.now();
    this.db.transaction(() => {
      const update = this.db.prepare(
        `UPDATE runs SET status = 'interrupted', updated_at = ?,
           error = IFNULL(error, 'the process running it (pid ' || IFNULL(owner_pid, '?') || ') ended without finishing it'),
           finished_at = MAX(updated_at, IFNULL((SELECT MAX(t) FROM metrics WHERE run_pk = runs.pk), 0))
         WHERE pk = ? AND status IN ('running', 'queued')`,
      );
      for (const r of dead) {
        update.run(now, r.pk);
        this.finalsFromSeries(r.pk);
      }
    }).immediate();
    return dead.map((r) => r.id);
  }

  /**
   * Inserts a run read from another database (a bundle). Returns false, changing nothing, when a
   * run with the same UUID is already here.
   */
  importRun(detail: RunDetail, refs: ImportRefs): boolean {
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM runs WHERE id = ?').get(detail.id)) return false;
      const ms = (s: string | null) => (s === null ? null : Date.parse(s));
      const info = this.db
        .prepare(
          `INSERT INTO runs (id, name, kind, method, status, error, config, model_id, dataset_id, profile_id, parent_run_id, backend, versions,
                             summary, note, origin, owner_pid, owner_host, owner_token, created_at, started_at, finished_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?, ?)`,
        )
        .run(
          detail.id, detail.name, detail.kind, detail.method,
          // A run that was live on the other machine cannot continue here.
          detail.status === 'running' || detail.status === 'queued' ? 'interrupted' : detail.status,
          detail.error, JSON.stringify(detail.config), refs.modelId, refs.datasetId, refs.profileId, refs.parentRunId, detail.backend,
          JSON.stringify(detail.versions), detail.summary === null ? null : JSON.stringify(detail.summary), detail.note,
          JSON.stringify(refs.origin), ms(detail.createdAt), ms(detail.startedAt), ms(detail.finishedAt), Date.now(),
        );
      const pk = Number(info.lastInsertRowid);
      for (const s of detail.metrics) {
        for (const p of s.points) this.insertMetric.run(pk, s.phase, s.name, p.step, p.epoch, realOrNull(p.value), p.time);
      }
      // Bundles and run records written before curves were kept have none.
      for (const p of detail.curves ?? []) this.insertCurvePoint.run(pk, p.step, p.epoch, Math.round(p.wallMs), JSON.stringify(finiteValues(p.values)));
      const layer = this.db.prepare(
        `INSERT INTO layer_results (run_pk, phase, ord, layer, class_name, params, non_zeros, macs, sparsity, sensitivity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      detail.layers.forEach((r, i) => {
        layer.run(pk, r.phase, i, r.layer, r.className, r.params, r.nonZeros, r.macs, r.sparsity, r.sensitivity === null ? null : JSON.stringify(r.sensitivity));
      });
      const artifact = this.db.prepare(
        `INSERT INTO artifacts (id, run_pk, path, format, quant, bytes, sha256, verification, status, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      detail.artifacts.forEach((a, i) => {
        artifact.run(
          randomUUID(), pk, refs.artifactPaths[i] ?? a.path, a.format, a.quant, a.bytes, a.sha256,
          a.verification === null ? null : JSON.stringify(a.verification), a.status, a.reason, Date.parse(a.createdAt),
        );
      });
      if (detail.plan !== null) this.db.prepare('INSERT INTO plans (run_pk, plan, created_at) VALUES (?, ?, ?)').run(pk, JSON.stringify(detail.plan), Date.now());
      const tag = this.db.prepare('INSERT OR IGNORE INTO tags (run_pk, tag) VALUES (?, ?)');
      for (const t of detail.tags) tag.run(pk, t);
      const final = this.db.prepare('INSERT OR REPLACE INTO run_final (run_pk, name, value) VALUES (?, ?, ?)');
      for (const [name, value] of Object.entries(detail.final)) final.run(pk, name, realOrNull(value));
      return true;
    }).immediate();
  }

  /** Fills final metrics the summary did not give from the latest point of each series. */
  private finalsFromSeries(pk: number): void {
    this.db
      .prepare(
        `INSERT OR IGNORE INTO run_final (run_pk, name, value)
         SELECT run_pk, name, value FROM (
           SELECT run_pk, name, value, ROW_NUMBER() OVER (PARTITION BY name ORDER BY t DESC, step DESC) AS rn
           FROM metrics WHERE run_pk = ?
         ) WHERE rn = 1`,
      )
      .run(pk);
  }

  private pk(runId: string): number {
    let pk = this.pkCache.get(runId);
    if (pk === undefined) {
      pk = this.selectPk.get(runId) as number | undefined;
      if (pk === undefined) throw new NotFoundError(`run ${runId} is not in the store`);
      this.pkCache.set(runId, pk);
    }
    return pk;
  }
}

/** Cheap checks only: this runs for every point of every epoch. */
function checkPoint(p: MetricInput): void {
  if (!Number.isInteger(p.step)) throw new ConfigError(`metric ${p.phase}/${p.name}: step must be an integer, got ${String(p.step)}`);
  if (typeof p.value !== 'number') throw new ConfigError(`metric ${p.phase}/${p.name}: value must be a number, got ${typeof p.value}`);
  if (!p.phase || !p.name) throw new ConfigError('a metric point needs a phase and a name');
}

function checkCurvePoint(p: CurvePoint): void {
  if (!Number.isInteger(p.step) || p.step < 0) throw new ConfigError(`curve point: step must be a non-negative integer, got ${String(p.step)}`);
  if (!Number.isFinite(p.epoch)) throw new ConfigError(`curve point at step ${p.step}: epoch must be a number, got ${String(p.epoch)}`);
  if (!Number.isFinite(p.wallMs)) throw new ConfigError(`curve point at step ${p.step}: wallMs must be a number, got ${String(p.wallMs)}`);
  if (p.values === null || typeof p.values !== 'object') throw new ConfigError(`curve point at step ${p.step}: values must be an object`);
}

/** The finite numbers of `values` (NaN and ±Infinity have no JSON form). */
export function finiteValues(values: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

function requireText(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`${field} must be a non-empty string, got ${JSON.stringify(value)}`);
}

function jsonOrNull(value: Json | JsonObject | undefined | null): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** NaN would become NULL anyway; ±Infinity survive as REAL. */
function realOrNull(value: number): number | null {
  return Number.isNaN(value) ? null : value;
}

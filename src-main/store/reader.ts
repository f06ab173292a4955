/**
 * Typed queries over the experiment database. Returns plain records (ISO timestamps, parsed JSON);
 * the SQL stays here. Lists fetch tags and final metrics for a whole page in two extra queries
 * (run keys passed as one JSON array), never one query per run.
 */
import type Database from 'better-sqlite3';
import { ConfigError } from '../common/errors';
import { NotFoundError } from './errors';
import { fromReal, iso, parseJson, toMs } from './internal';
import {
  RUN_STATUSES,
  type ArtifactRecord,
  type CurvePoint,
  type DatasetRecord,
  type JsonObject,
  type LayerPhase,
  type LayerResultRecord,
  type MetricSeries,
  type ModelRecord,
  type ProfileRecord,
  type RunDetail,
  type RunFilter,
  type RunHead,
  type RunPage,
  type RunQuery,
  type RunStatus,
  type RunSummary,
} from './types';

interface RunRow {
  pk: number;
  id: string;
  name: string | null;
  kind: string;
  method: string | null;
  status: RunStatus;
  error: string | null;
  model_id: string;
  model_source: string;
  model_name: string | null;
  dataset_id: string | null;
  dataset_source: string | null;
  profile_id: string | null;
  parent_run_id: string | null;
  backend: string;
  note: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const HEAD_COLUMNS = `r.pk, r.id, r.name, r.kind, r.method, r.status, r.error, r.model_id, m.source AS model_source, m.name AS model_name,
  r.dataset_id, d.source AS dataset_source, r.profile_id, r.parent_run_id, r.backend, r.note, r.created_at, r.started_at, r.finished_at`;
const HEAD_FROM = 'runs r JOIN models m ON m.id = r.model_id LEFT JOIN datasets d ON d.id = r.dataset_id';

const SORT_COLUMNS: Record<string, string> = {
  created: 'r.created_at',
  started: 'r.started_at',
  finished: 'r.finished_at',
  duration: '(r.finished_at - r.started_at)',
  status: 'r.status',
  method: 'r.method',
  kind: 'r.kind',
  name: 'r.name',
  profile: 'r.profile_id',
};

const OPS = new Set(['>=', '<=', '>', '<', '=']);

/** Final values of chosen metrics: `values[i][j]` is metric j of run `ids[i]`. */
export interface FinalMetricTable {
  ids: string[];
  values: number[][];
}

export class StoreReader {
  constructor(private readonly db: Database.Database) {}

  /** One page of runs, newest first unless `sort`/`direction` say otherwise. */
  listRuns(query: RunQuery = {}): RunPage {
    const limit = Math.min(1000, Math.max(1, Math.floor(query.limit ?? 50)));
    const offset = Math.max(0, Math.floor(query.offset ?? 0));
    const { where, params, from } = buildWhere(query);
    const dir = query.direction === 'asc' ? 'ASC' : 'DESC';
    const sort = query.sort ?? 'created';
    const total = this.db.prepare(`SELECT count(*) FROM ${from} ${where}`).pluck().get(...params) as number;
    if (sort.startsWith('metric:')) {
      const rows = this.pageByMetric(sort.slice('metric:'.length), dir, where, params, limit, offset);
      return { total, offset, limit, items: this.heads(rows) };
    }
    const col = SORT_COLUMNS[sort];
    if (!col) throw new ConfigError(`sort must be one of ${Object.keys(SORT_COLUMNS).join(', ')} or metric:NAME, got ${sort}`);
    // created_at is NOT NULL: ordering on it alone lets SQLite walk an index instead of sorting.
    const order = sort === 'created' ? `r.created_at ${dir}, r.pk ${dir}` : `${col} IS NULL, ${col} ${dir}, r.pk ${dir}`;
    const rows = this.db
      .prepare(`SELECT ${HEAD_COLUMNS} FROM ${HEAD_FROM} ${where} ORDER BY ${order} LIMIT ? OFFSET ?`)
      .all(...params, limit, offset) as RunRow[];
    return { total, offset, limit, items: this.heads(rows) };
  }

  /**
   * A page sorted by a final metric, runs lacking it last. Walks run_final's (name, value) index
   * in order (stopping after the page) instead of sorting every matching run, then fills the rest
   * of the page from the runs without the metric.
   */
  private pageByMetric(name: string, dir: 'ASC' | 'DESC', where: string, params: unknown[], limit: number, offset: number): RunRow[] {
    const and = where ? `AND ${where.slice('WHERE '.length)}` : '';
    const withMetricFrom = `run_final sf JOIN ${HEAD_FROM.replace('runs r', 'runs r ON r.pk = sf.run_pk')}`;
    const withMetricWhere = `WHERE sf.name = ? AND sf.value IS NOT NULL ${and}`;
    const rows = this.db
      .prepare(`SELECT ${HEAD_COLUMNS} FROM ${withMetricFrom} ${withMetricWhere} ORDER BY sf.value ${dir}, sf.run_pk ${dir} LIMIT ? OFFSET ?`)
      .all(name, ...params, limit, offset) as RunRow[];
    if (rows.length === limit) return rows;
    const withMetric = this.db.prepare(`SELECT count(*) FROM ${withMetricFrom} ${withMetricWhere}`).pluck().get(name, ...params) as number;
    const rest = this.db
      .prepare(
        `SELECT ${HEAD_COLUMNS} FROM ${HEAD_FROM}
         WHERE r.pk NOT IN (SELECT run_pk FROM run_final WHERE name = ? AND value IS NOT NULL) ${and}
         ORDER BY r.pk ${dir} LIMIT ? OFFSET ?`,
      )
      .all(name, ...params, limit - rows.length, Math.max(0, offset - withMetric)) as RunRow[];
    return [...rows, ...rest];
  }

  /** Ids of every run matching the filter, newest first (for export and Pareto). */
  listRunIds(filter: RunFilter = {}): string[] {
    const { where, params, from } = buildWhere(filter);
    return this.db.prepare(`SELECT r.id FROM ${from} ${where} ORDER BY r.created_at DESC, r.pk DESC`).pluck().all(...params) as string[];
  }

  /** How many runs match the filter. */
  countRuns(filter: RunFilter = {}): number {
    const { where, params, from } = buildWhere(filter);
    return this.db.prepare(`SELECT count(*) FROM ${from} ${where}`).pluck().get(...params) as number;
  }

  /** Run heads in the order of `ids`; throws NotFoundError naming the first unknown id. */
  getRunHeads(ids: readonly string[]): RunHead[] {
    if (ids.length === 0) return [];
    const rows = this.db
      .prepare(`SELECT ${HEAD_COLUMNS} FROM ${HEAD_FROM} WHERE r.id IN (SELECT value FROM json_each(?))`)
      .all(JSON.stringify(ids)) as RunRow[];
    const byId = new Map(this.heads(rows).map((h) => [h.id, h]));
    return ids.map((id) => {
      const h = byId.get(id);
      if (!h) throw new NotFoundError(`run ${id} is not in the store`);
      return h;
    });
  }

  /** Full run: head, config, versions, summary, plan, model, dataset, series, layers, artifacts. */
  getRun(id: string): RunDetail {
    const run = this.findRun(id);
    if (!run) throw new NotFoundError(`run ${id} is not in the store`);
    return run;
  }

  findRun(id: string): RunDetail | null {
    const row = this.db
      .prepare(
        `SELECT ${HEAD_COLUMNS}, r.config, r.versions, r.summary, r.origin, r.owner_pid, r.owner_host, r.owner_token, r.updated_at,
                (SELECT plan FROM plans p WHERE p.run_pk = r.pk) AS plan
         FROM ${HEAD_FROM} WHERE r.id = ?`,
      )
      .get(id) as
      | (RunRow & { config: string; versions: string; summary: string | null; origin: string | null; owner_pid: number | null; owner_host: string | null; owner_token: string | null; updated_at: number; plan: string | null })
      | undefined;
    if (!row) return null;
    const [head] = this.heads([row]);
    return {
      ...head,
      config: JSON.parse(row.config) as JsonObject,
      versions: JSON.parse(row.versions) as JsonObject,
      summary: parseJson<RunSummary>(row.summary),
      plan: parseJson(row.plan),
      origin: parseJson<JsonObject>(row.origin),
      owner: row.owner_pid === null || row.owner_host === null ? null : { pid: row.owner_pid, host: row.owner_host, startToken: row.owner_token },
      updatedAt: iso(row.updated_at),
      model: this.getModel(row.model_id),
      dataset: row.dataset_id === null ? null : this.getDataset(row.dataset_id),
      profile: row.profile_id === null ? null : this.getProfile(row.profile_id),
      childRunIds: this.db.prepare('SELECT id FROM runs WHERE parent_run_id = ? ORDER BY created_at').pluck().all(id) as string[],
      metrics: this.getMetricSeries([id]).get(id) ?? [],
      layers: this.getLayerResults([id]).get(id) ?? [],
      artifacts: this.getArtifacts(id),
      curves: this.getCurves([id]).get(id) ?? [],
    };
  }

  /** Training curves of several runs, keyed by run id, each in step order (runs without any are absent). */
  getCurves(runIds: readonly string[]): Map<string, CurvePoint[]> {
    const rows = this.db
      .prepare(
        `SELECT r.id, c.step, c.epoch, c.wall_ms, c.vals FROM runs r JOIN curve_points c ON c.run_pk = r.pk
         WHERE r.id IN (SELECT value FROM json_each(?)) ORDER BY r.pk, c.step`,
      )
      .raw()
      .all(JSON.stringify(runIds)) as [string, number, number, number, string][];
    const out = new Map<string, CurvePoint[]>();
    for (const [id, step, epoch, wallMs, vals] of rows) {
      let list = out.get(id);
      if (!list) out.set(id, (list = []));
      list.push({ step, epoch, wallMs, values: JSON.parse(vals) as Record<string, number> });
    }
    return out;
  }

  /**
   * Resolves a full id or a unique prefix (as typed on the command line) to a run id.
   * Throws NotFoundError when nothing matches and ConfigError when the prefix is ambiguous.
   */
  resolveRunId(idOrPrefix: string): string {
    const exact = this.db.prepare('SELECT id FROM runs WHERE id = ?').pluck().get(idOrPrefix) as string | undefined;
    if (exact) return exact;
    if (idOrPrefix.length < 4) throw new NotFoundError(`run ${idOrPrefix} is not in the store (give at least 4 characters of its id)`);
    // Range scan on the unique index instead of LIKE (ids may contain LIKE wildcards in theory).
    const matches = this.db
      .prepare('SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 3')
      .pluck()
      .all(idOrPrefix, `${idOrPrefix}\uffff`) as string[];
    if (matches.length === 0) throw new NotFoundError(`run ${idOrPrefix} is not in the store`);
    if (matches.length > 1) throw new ConfigError(`run id prefix ${idOrPrefix} is ambiguous: ${matches.join(', ')}${matches.length > 2 ? ', ...' : ''}`);
    return matches[0];
  }

  /** Metric series of several runs, keyed by run id, each sorted by phase, name and step. */
  getMetricSeries(runIds: readonly string[], names?: readonly string[]): Map<string, MetricSeries[]> {
    const rows = this.db
      .prepare(
        `SELECT r.id, x.phase, x.name, x.step, x.epoch, x.value, x.t FROM runs r JOIN metrics x ON x.run_pk = r.pk
         WHERE r.id IN (SELECT value FROM json_each(?)) ${names ? 'AND x.name IN (SELECT value FROM json_each(?))' : ''}
         ORDER BY r.pk, x.phase, x.name, x.step`,
      )
      .raw()
      .all(...(names ? [JSON.stringify(runIds), JSON.stringify(names)] : [JSON.stringify(runIds)])) as [string, string, string, number, number | null, number | null, number][];
    const out = new Map<string, MetricSeries[]>();
    let current: MetricSeries | undefined;
    let currentRun = '';
    for (const [id, phase, name, step, epoch, value, t] of rows) {
      if (!current || currentRun !== id || current.phase !== phase || current.name !== name) {
        current = { phase, name, points: [] };
        currentRun = id;
        let list = out.get(id);
        if (!list) out.set(id, (list = []));
        list.push(current);
      }
      current.points.push({ step, epoch, value: fromReal(value), time: t });
    }
    return out;
  }

  /** Per-layer rows of several runs (in recorded order), optionally one phase only. */
  getLayerResults(runIds: readonly string[], phase?: LayerPhase): Map<string, LayerResultRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT r.id, l.phase, l.layer, l.class_name, l.params, l.non_zeros, l.macs, l.sparsity, l.sensitivity
         FROM runs r JOIN layer_results l ON l.run_pk = r.pk
         WHERE r.id IN (SELECT value FROM json_each(?)) ${phase ? 'AND l.phase = ?' : ''}
         ORDER BY r.pk, l.phase DESC, l.ord`,
      )
      .all(...(phase ? [JSON.stringify(runIds), phase] : [JSON.stringify(runIds)])) as {
      id: string; phase: LayerPhase; layer: string; class_name: string; params: number; non_zeros: number; macs: number; sparsity: number; sensitivity: string | null;
    }[];
    const out = new Map<string, LayerResultRecord[]>();
    for (const r of rows) {
      let list = out.get(r.id);
      if (!list) out.set(r.id, (list = []));
      list.push({ phase: r.phase, layer: r.layer, className: r.class_name, params: r.params, nonZeros: r.non_zeros, macs: r.macs, sparsity: r.sparsity, sensitivity: parseJson(r.sensitivity) });
    }
    return out;
  }

  /** Config, versions and summary of several runs, in the order of `ids`. */
  getConfigs(ids: readonly string[]): { id: string; config: JsonObject; versions: JsonObject; summary: RunSummary | null }[] {
    const rows = this.db
      .prepare('SELECT id, config, versions, summary FROM runs WHERE id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(ids)) as { id: string; config: string; versions: string; summary: string | null }[];
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => {
      const r = byId.get(id);
      if (r === undefined) throw new NotFoundError(`run ${id} is not in the store`);
      return { id, config: JSON.parse(r.config) as JsonObject, versions: JSON.parse(r.versions) as JsonObject, summary: parseJson<RunSummary>(r.summary) };
    });
  }

  /**
   * A table of final metric values: one row per run matching `filter` that has every one of `names`
   * (as a non-NaN number), columns in the order of `names`. Built as one self-join per name on
   * run_final's (name, value) index, so Pareto over 10,000 runs reads 10,000 compact rows.
   */
  getFinalMetricTable(names: readonly string[], filter: RunFilter = {}): FinalMetricTable {
    if (names.length === 0) return { ids: [], values: [] };
    const { where, params, from } = buildWhere(filter);
    const joins = names.slice(1).map((_, i) => `JOIN run_final f${i + 1} ON f${i + 1}.run_pk = f0.run_pk AND f${i + 1}.name = ? AND f${i + 1}.value IS NOT NULL`);
    const cols = names.map((_, i) => `f${i}.value`).join(', ');
    const restrict = where ? `AND f0.run_pk IN (SELECT r.pk FROM ${from} ${where})` : '';
    const rows = this.db
      .prepare(`SELECT r.id, ${cols} FROM run_final f0 ${joins.join(' ')} JOIN runs r ON r.pk = f0.run_pk WHERE f0.name = ? AND f0.value IS NOT NULL ${restrict}`)
      .raw()
      .all(...names.slice(1), names[0], ...params) as [string, ...number[]][];
    return { ids: rows.map((r) => r[0]), values: rows.map((r) => r.slice(1) as number[]) };
  }

  getArtifacts(runId: string): ArtifactRecord[] {
    const rows = this.db
      .prepare(
        `SELECT a.* FROM artifacts a JOIN runs r ON r.pk = a.run_pk WHERE r.id = ? ORDER BY a.created_at, a.rowid`,
      )
      .all(runId) as { id: string; path: string; format: string; quant: string; bytes: number; sha256: string; verification: string | null; status: ArtifactRecord['status']; reason: string | null; created_at: number }[];
    return rows.map((a) => ({
      id: a.id, runId, path: a.path, format: a.format, quant: a.quant, bytes: a.bytes, sha256: a.sha256,
      verification: parseJson(a.verification), status: a.status, reason: a.reason, createdAt: iso(a.created_at),
    }));
  }

  getModel(id: string): ModelRecord {
    const m = this.db.prepare('SELECT * FROM models WHERE id = ?').get(id) as
      | { id: string; source: string; sha256: string; format: string; params: number; name: string | null; bytes: number | null; meta: string | null; created_at: number }
      | undefined;
    if (!m) throw new NotFoundError(`model ${id} is not in the store`);
    return { id: m.id, source: m.source, sha256: m.sha256, format: m.format, params: m.params, name: m.name, bytes: m.bytes, meta: parseJson(m.meta), createdAt: iso(m.created_at) };
  }

  findModelBySha(sha256: string): ModelRecord | null {
    const id = this.db.prepare('SELECT id FROM models WHERE sha256 = ?').pluck().get(sha256) as string | undefined;
    return id ? this.getModel(id) : null;
  }

  getDataset(id: string): DatasetRecord {
    const d = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as
      | { id: string; source: string; sha256: string | null; sample_shape: string; class_names: string; train_size: number; test_size: number; created_at: number }
      | undefined;
    if (!d) throw new NotFoundError(`dataset ${id} is not in the store`);
    return {
      id: d.id, source: d.source, sha256: d.sha256, sampleShape: JSON.parse(d.sample_shape) as number[], classNames: JSON.parse(d.class_names) as string[],
      trainSize: d.train_size, testSize: d.test_size, createdAt: iso(d.created_at),
    };
  }

  getProfile(id: string): ProfileRecord | null {
    const p = this.db.prepare('SELECT * FROM profiles WHERE id = ?').get(id) as { id: string; name: string; definition: string | null; updated_at: number } | undefined;
    return p ? { id: p.id, name: p.name, definition: parseJson<JsonObject>(p.definition), updatedAt: iso(p.updated_at) } : null;
  }

  /** Every tag in use with how many runs carry it. */
  listTags(): { tag: string; runs: number }[] {
    return this.db.prepare('SELECT tag, count(*) AS runs FROM tags GROUP BY tag ORDER BY tag').all() as { tag: string; runs: number }[];
  }

  private heads(rows: RunRow[]): RunHead[] {
    if (rows.length === 0) return [];
    const pks = JSON.stringify(rows.map((r) => r.pk));
    const tags = new Map<number, string[]>();
    for (const [pk, tag] of this.db.prepare('SELECT run_pk, tag FROM tags WHERE run_pk IN (SELECT value FROM json_each(?)) ORDER BY tag').raw().all(pks) as [number, string][]) {
      let list = tags.get(pk);
      if (!list) tags.set(pk, (list = []));
      list.push(tag);
    }
    const finals = new Map<number, Record<string, number>>();
    for (const [pk, name, value] of this.db.prepare('SELECT run_pk, name, value FROM run_final WHERE run_pk IN (SELECT value FROM json_each(?))').raw().all(pks) as [number, string, number | null][]) {
      let rec = finals.get(pk);
      if (!rec) finals.set(pk, (rec = {}));
      rec[name] = fromReal(value);
    }
    return rows.map((r) => ({
      id: r.id, name: r.name, kind: r.kind, method: r.method, status: r.status, error: r.error,
      modelId: r.model_id, modelSource: r.model_source, modelName: r.model_name,
      datasetId: r.dataset_id, datasetSource: r.dataset_source, profileId: r.profile_id, parentRunId: r.parent_run_id,
      backend: r.backend, createdAt: iso(r.created_at), startedAt: iso(r.started_at), finishedAt: iso(r.finished_at),
      durationMs: r.started_at !== null && r.finished_at !== null ? r.finished_at - r.started_at : null,
      tags: tags.get(r.pk) ?? [], note: r.note, final: finals.get(r.pk) ?? {},
    }));
  }
}

/** Turns a RunFilter into a WHERE clause over `runs r` / `models m` / `datasets d`, validating it. */
function buildWhere(f: RunFilter): { where: string; params: unknown[]; from: string } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  // Counting 10,000 runs through the model/dataset joins costs ~50x more; join only when filtering on them.
  const terms = searchTerms(f.text);
  const from = f.model || f.dataset || terms.length > 0 ? HEAD_FROM : 'runs r';
  if (f.model) {
    clauses.push(`(r.model_id = ? OR m.source LIKE ? ESCAPE '\\' OR m.name LIKE ? ESCAPE '\\')`);
    params.push(f.model, likeText(f.model), likeText(f.model));
  }
  if (f.dataset) {
    clauses.push(`(r.dataset_id = ? OR d.source LIKE ? ESCAPE '\\')`);
    params.push(f.dataset, likeText(f.dataset));
  }
  if (f.profile) {
    clauses.push('r.profile_id = ?');
    params.push(f.profile);
  }
  if (f.kind) {
    clauses.push('r.kind = ?');
    params.push(f.kind);
  }
  if (f.method) {
    // Runs record `magnitude/unstructured`: the method alone matches every granularity of it.
    clauses.push(`(r.method = ? OR r.method LIKE ? ESCAPE '\\')`);
    params.push(f.method, `${f.method.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`);
  }
  // An empty status list means "any status" (as an unset filter does), not "no runs".
  const statuses = f.status === undefined ? [] : Array.isArray(f.status) ? f.status : [f.status];
  if (statuses.length > 0) {
    for (const s of statuses) {
      if (!RUN_STATUSES.includes(s)) throw new ConfigError(`status must be one of ${RUN_STATUSES.join(', ')}, got ${String(s)}`);
    }
    clauses.push(statuses.length === 1 ? 'r.status = ?' : `r.status IN (${statuses.map(() => '?').join(', ')})`);
    params.push(...statuses);
  }
  for (const tag of f.tag === undefined ? [] : Array.isArray(f.tag) ? f.tag : [f.tag]) {
    clauses.push('r.pk IN (SELECT run_pk FROM tags WHERE tag = ?)');
    params.push(tag);
  }
  if (f.since !== undefined) {
    clauses.push('r.created_at >= ?');
    params.push(toMs(f.since, 'since'));
  }
  if (f.until !== undefined) {
    clauses.push('r.created_at < ?');
    params.push(toMs(f.until, 'until'));
  }
  for (const t of f.metrics ?? []) {
    if (!OPS.has(t.op)) throw new ConfigError(`metric threshold operator must be one of >=, <=, >, <, =, got ${String(t.op)}`);
    if (typeof t.value !== 'number' || Number.isNaN(t.value)) throw new ConfigError(`metric threshold for ${t.name} must be a number, got ${String(t.value)}`);
    // An IN-set from the (name, value) index: one range scan instead of a probe per run.
    clauses.push(`r.pk IN (SELECT run_pk FROM run_final WHERE name = ? AND value ${t.op} ?)`);
    params.push(t.name, t.value);
  }
  // Every word must appear (case-insensitively) in one of the fields people remember a run by.
  for (const term of terms) {
    const like = likeText(term);
    clauses.push(
      `(r.name LIKE ? ESCAPE '\\' OR r.note LIKE ? ESCAPE '\\' OR r.method LIKE ? ESCAPE '\\' OR r.kind LIKE ? ESCAPE '\\'` +
        ` OR r.profile_id LIKE ? ESCAPE '\\' OR m.source LIKE ? ESCAPE '\\' OR m.name LIKE ? ESCAPE '\\' OR d.source LIKE ? ESCAPE '\\'` +
        ` OR r.pk IN (SELECT run_pk FROM tags WHERE tag LIKE ? ESCAPE '\\'))`,
    );
    params.push(like, like, like, like, like, like, like, like, like);
  }
  if (f.ids) {
    clauses.push('r.id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(f.ids));
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params, from };
}

/** The words of a free-text search (at most 8; quotes group words: `"fit to budget" mcu`). */
export function searchTerms(text: string | undefined): string[] {
  if (!text) return [];
  const terms = [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => (m[1] ?? m[2]).trim()).filter(Boolean);
  return terms.slice(0, 8);
}

function likeText(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

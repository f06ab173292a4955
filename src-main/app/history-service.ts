/**
 * Run history: list, show, compare, Pareto, export (CSV/JSON), run bundles, tags, notes, delete.
 * Talks to the database only through the store's typed reader and writer; the logic that is not
 * storage (config diff, dominance, CSV) lives here as small pure functions.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError, inFile } from '../common/errors';
import { checkOutputFile, checkOutputFolder } from '../node/output-paths';
import { realPathInside } from '../node/safe-paths';
import { openStore, type OpenStoreOptions, type Store } from '../store/db';
import { recordRunDetail, recoverRuns, type RecoverResult } from './run-record';
import type {
  Json,
  JsonObject,
  RunDetail,
  RunFilter,
  RunHead,
  RunPage,
  RunQuery,
  RunStatus,
} from '../store/types';
import { RUN_STATUSES } from '../store/types';
import type { ConfigDiffRow, MetricComparisonRow, SeriesOverlay, LayerComparisonRow, RunComparison, ParetoObjective, ParetoPoint, ParetoResult, ExportedRun, RunsExport, RunBundle, BundleExportResult, BundleImportResult, DeleteResult } from '../common/contract/history';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { ConfigDiffRow, MetricComparisonRow, SeriesOverlay, LayerComparisonRow, RunComparison, ParetoObjective, ParetoPoint, ParetoResult, ExportedRun, RunsExport, RunBundle, BundleExportResult, BundleImportResult, DeleteResult };

// ---------------------------------------------------------------------------------------------
// Result types

// ---------------------------------------------------------------------------------------------

const EXPORT_CHUNK = 200;

export interface HistoryOptions {
  /**
   * The data folder's run directory: each run's files live in `<runsDir>/<runId>/`, and deletion
   * never removes anything outside it. Default: `runs/` next to the database.
   */
  runsDir?: string;
}

export class HistoryService {
  /** `<runsDir>/<runId>/` is the only place a run's files are created or deleted by the history. */
  readonly runsDir: string;

  constructor(
    private readonly store: Store,
    options: HistoryOptions = {},
  ) {
    this.runsDir = path.resolve(options.runsDir ?? path.join(path.dirname(path.resolve(store.file)), 'runs'));
  }

  /**
   * Opens the store at `file`, marks runs of dead processes interrupted, returns the service.
   * `verify` checks the database first (for commands that change it; see openStore).
   */
  static open(file: string, options: HistoryOptions & Pick<OpenStoreOptions, 'verify'> = {}): HistoryService {
    const store = openStore(file, { verify: options.verify });
    store.markInterruptedRuns();
    return new HistoryService(store, options);
  }

  close(): void {
    this.store.close();
  }

  /** Resolves a full id or a unique prefix of at least 4 characters. */
  resolve(idOrPrefix: string): string {
    return this.store.reader.resolveRunId(idOrPrefix);
  }

  list(query: RunQuery = {}): RunPage {
    return this.store.reader.listRuns(query);
  }

  /** Ids of every run matching the filter, newest first. */
  matchingIds(filter: RunFilter = {}): string[] {
    return this.store.reader.listRunIds(filter);
  }

  show(idOrPrefix: string): RunDetail {
    return this.store.reader.getRun(this.resolve(idOrPrefix));
  }

  /**
   * Compares 2..N runs: config keys that differ (nested JSON flattened to dotted keys), final
   * metrics with deltas against the baseline (the first run unless `baseline` names another),
   * metric series for overlay charts, and per-layer `after` sparsity side by side.
   */
  compare(idsOrPrefixes: readonly string[], options: { baseline?: string } = {}): RunComparison {
    const ids = idsOrPrefixes.map((s) => this.resolve(s));
    if (ids.length < 2) throw new ConfigError(`compare needs at least 2 runs, got ${ids.length}`);
    if (new Set(ids).size !== ids.length) throw new ConfigError('compare got the same run twice');
    const { reader } = this.store;
    const runs = reader.getRunHeads(ids);
    const baseline = options.baseline === undefined ? defaultBaseline(runs) : ids.indexOf(this.resolve(options.baseline));
    if (baseline < 0) throw new ConfigError(`baseline ${options.baseline} is not one of the compared runs`);
    const { rows: config, identical } = diffConfigs(reader.getConfigs(ids).map((c) => c.config));
    const seriesByRun = reader.getMetricSeries(ids);
    const overlays = new Map<string, SeriesOverlay>();
    for (const id of ids) {
      for (const s of seriesByRun.get(id) ?? []) {
        const key = `${s.phase}\u0000${s.name}`;
        let o = overlays.get(key);
        if (!o) overlays.set(key, (o = { phase: s.phase, name: s.name, runs: [] }));
        o.runs.push({ runId: id, points: s.points });
      }
    }
    return {
      runs,
      baseline,
      unfinished: runs.flatMap((r, i) => (r.status === 'done' ? [] : [i])),
      config,
      identicalConfigKeys: identical,
      metrics: compareMetrics(runs.map((r) => r.final), baseline),
      series: [...overlays.values()],
      layers: compareLayers(ids, reader.getLayerResults(ids, 'after')),
    };
  }

  /**
   * The Pareto frontier of finished runs (optionally filtered) over final metrics: a run is on it
   * when no other run is at least as good on every objective and strictly better on one. Runs that
   * did not finish are counted in `unfinished`, never considered.
   */
  pareto(objectives: readonly ParetoObjective[], filter: RunFilter = {}, options: { includeAll?: boolean } = {}): ParetoResult {
    validateObjectives(objectives);
    const finished = finishedOnly(filter);
    const table = finished ? this.store.reader.getFinalMetricTable(objectives.map((o) => o.metric), finished) : { ids: [], values: [] };
    const points: ParetoPoint[] = table.ids.map((runId, i) => ({ runId, values: table.values[i] }));
    const frontierIdx = paretoFrontier(table.values, objectives.map((o) => o.direction));
    const heads = new Map(this.store.reader.getRunHeads(frontierIdx.map((i) => points[i].runId)).map((h) => [h.id, h]));
    const total = this.store.reader.countRuns(filter);
    const result: ParetoResult = {
      objectives: [...objectives],
      frontier: frontierIdx.map((i) => ({ ...points[i], run: heads.get(points[i].runId) as RunHead })),
      considered: points.length,
      skipped: total - points.length,
      unfinished: this.unfinishedCounts(filter),
    };
    if (options.includeAll) {
      const on = new Set(frontierIdx);
      result.points = points.map((p, i) => ({ ...p, onFrontier: on.has(i) }));
    }
    return result;
  }

  /** How many runs matching `filter` have each status other than `done`. */
  private unfinishedCounts(filter: RunFilter): { status: RunStatus; runs: number }[] {
    const asked = filter.status === undefined ? [] : [filter.status].flat();
    return RUN_STATUSES.filter((s) => s !== 'done' && (asked.length === 0 || asked.includes(s)))
      .map((status) => ({ status, runs: this.store.reader.countRuns({ ...filter, status }) }))
      .filter((c) => c.runs > 0);
  }

  /** Runs matching `filter` with config, summary, tags, timings and full metric histories. */
  exportJson(filter: RunFilter = {}): RunsExport {
    const ids = this.store.reader.listRunIds(filter);
    const runs: ExportedRun[] = [];
    for (let i = 0; i < ids.length; i += EXPORT_CHUNK) runs.push(...this.exportChunk(ids.slice(i, i + EXPORT_CHUNK)));
    return { format: 'topiary-runs', version: 1, exportedAt: new Date().toISOString(), filter, runs };
  }

  /**
   * Two CSV documents (RFC 4180): `runs`, one row per run (ids, model, dataset, status, timings,
   * tags, note, config as JSON, one `final.<metric>` column per metric seen); and `metrics`, the
   * metric histories in long form (run_id, phase, name, step, epoch, value, time).
   */
  exportCsv(filter: RunFilter = {}): { runs: string; metrics: string } {
    const data = this.exportJson(filter).runs;
    const finals = [...new Set(data.flatMap((r) => Object.keys(r.final)))].sort();
    const head = [
      'id', 'name', 'kind', 'method', 'status', 'error', 'model', 'model_id', 'dataset', 'profile', 'parent_run_id', 'backend',
      'created_at', 'started_at', 'finished_at', 'duration_ms', 'tags', 'note', 'config', ...finals.map((n) => `final.${n}`),
    ];
    const runRows = data.map((r) => [
      r.id, r.name, r.kind, r.method, r.status, r.error, r.modelSource, r.modelId, r.datasetSource, r.profileId, r.parentRunId, r.backend,
      r.createdAt, r.startedAt, r.finishedAt, r.durationMs, r.tags.join(';'), r.note, JSON.stringify(r.config), ...finals.map((n) => r.final[n]),
    ]);
    const metricRows: unknown[][] = [];
    for (const r of data) {
      for (const s of r.metrics) {
        for (const [step, epoch, value, t] of s.points) metricRows.push([r.id, s.phase, s.name, step, epoch, value, new Date(t).toISOString()]);
      }
    }
    return {
      runs: toCsv(head, runRows),
      metrics: toCsv(['run_id', 'phase', 'name', 'step', 'epoch', 'value', 'time'], metricRows),
    };
  }

  /**
   * Writes a run bundle. `dest` ending in `.json` gives a single JSON file (artifact rows only);
   * otherwise `dest` is a folder with `bundle.json` and the artifact files under `artifacts/<runId>/`.
   */
  exportBundle(idsOrPrefixes: readonly string[], dest: string): BundleExportResult {
    if (idsOrPrefixes.length === 0) throw new ConfigError('a bundle needs at least one run');
    const ids = [...new Set(idsOrPrefixes.map((s) => this.resolve(s)))];
    const single = dest.toLowerCase().endsWith('.json');
    // Checked before any artifact is copied: a new or empty folder, or a .json file.
    if (single) checkOutputFile(dest, 'bundle destination');
    else checkOutputFolder(dest, 'bundle destination');
    const file = single ? dest : path.join(dest, 'bundle.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    let artifactsCopied = 0;
    const artifactsMissing: string[] = [];
    const runs: RunBundle['runs'] = ids.map((id) => {
      const run = this.store.reader.getRun(id);
      const artifactFiles = run.artifacts.map((a, i) => {
        if (single) return null;
        if (!fs.existsSync(a.path)) {
          artifactsMissing.push(a.path);
          return null;
        }
        // The index keeps two artifacts with the same file name (model.tflite int8 / float16) apart.
        const rel = path.posix.join('artifacts', id, String(i), path.basename(a.path));
        fs.cpSync(a.path, path.join(dest, rel), { recursive: true });
        artifactsCopied++;
        return rel;
      });
      return { run, artifactFiles };
    });
    const bundle: RunBundle = { format: 'topiary-run-bundle', version: 1, exportedAt: new Date().toISOString(), host: os.hostname(), runs };
    fs.writeFileSync(file, `${JSON.stringify(bundle, null, 1)}\n`);
    return { file, runs: ids, artifactsCopied, artifactsMissing };
  }

  /**
   * Merges a bundle (folder or .json) into this history. Runs keep their UUIDs, so a run already
   * here is skipped; models and datasets are matched by content hash (their local ids differ);
   * artifact files are checked against their sha256 and copied to `<artifactsDir>/<runId>/<n>/`.
   * `artifactsDir` defaults to the run directory, the app's per-run folders. An artifact whose file
   * did not travel keeps its row, but its path is rewritten to where the file would be in the
   * run's own folder: a path recorded on another machine (or crafted) is never kept, because
   * `delete --delete-artifacts` removes what the rows name.
   */
  importBundle(src: string, options: { artifactsDir?: string } = {}): BundleImportResult {
    const file = fs.existsSync(src) && fs.statSync(src).isDirectory() ? path.join(src, 'bundle.json') : src;
    const root = path.dirname(file);
    const bundle = readBundle(file);
    const artifactsDir = path.resolve(options.artifactsDir ?? this.runsDir);
    const result: BundleImportResult = { imported: [], skipped: [], artifactsCopied: 0 };
    // Parents before children, so lineage inside the bundle survives.
    const entries = orderParentsFirst(bundle.runs);
    // Check every copied file before touching the database: a corrupt bundle imports nothing.
    for (const { run, artifactFiles } of entries) {
      artifactFiles.forEach((rel, i) => {
        if (rel === null) return;
        const from = path.join(root, rel);
        if (!fs.existsSync(from)) throw new ConfigError(inFile(file, `artifact ${rel} of run ${run.id} is missing from the bundle`));
        // A link would import (and later re-export) whatever it points at, anywhere on this machine.
        const link = realPathInside(root, from).inside ? firstSymlink(from) : from;
        if (link !== undefined) {
          throw new ConfigError(inFile(file, `artifact ${path.relative(root, link) || rel} of run ${run.id} is a symlink; a bundle may only carry plain files and folders`));
        }
        const a = run.artifacts[i];
        if (fs.statSync(from).isFile() && sha256File(from) !== a.sha256) {
          throw new ConfigError(inFile(file, `artifact ${rel} does not match its sha256 ${a.sha256}`));
        }
      });
    }
    for (const { run, artifactFiles } of entries) {
      if (this.store.reader.findRun(run.id)) {
        result.skipped.push(run.id);
        continue;
      }
      const artifactPaths = run.artifacts.map((a, i) => {
        const rel = artifactFiles[i];
        if (rel === null) return path.join(artifactsDir, run.id, String(i), plainBaseName(a.path));
        const to = path.join(artifactsDir, run.id, String(i), path.basename(rel));
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.cpSync(path.join(root, rel), to, { recursive: true });
        result.artifactsCopied++;
        return to;
      });
      recordRunDetail(this.store, run, {
        artifactPaths,
        origin: { host: bundle.host, bundle: path.resolve(file), exportedAt: bundle.exportedAt, importedAt: new Date().toISOString(), parentRunId: run.parentRunId },
      });
      result.imported.push(run.id);
    }
    return result;
  }

  /**
   * Re-records runs from their folders' `run.json` (default: every folder in the run directory),
   * e.g. into a fresh database after a damaged one was moved aside. Runs already here are skipped.
   */
  recover(from: string = this.runsDir): RecoverResult {
    return recoverRuns(this.store, from);
  }

  tag(idOrPrefix: string, tags: readonly string[]): string[] {
    const id = this.resolve(idOrPrefix);
    this.store.writer.tag(id, ...tags);
    return this.store.reader.getRunHeads([id])[0].tags;
  }

  untag(idOrPrefix: string, tags: readonly string[]): string[] {
    const id = this.resolve(idOrPrefix);
    this.store.writer.untag(id, ...tags);
    return this.store.reader.getRunHeads([id])[0].tags;
  }

  note(idOrPrefix: string, note: string | null): void {
    this.store.writer.setNote(this.resolve(idOrPrefix), note);
  }

  /**
   * Deletes a run's rows. Its artifact files are removed only with `deleteArtifacts` (asking the
   * user is the front door's job), and only those that really lie inside the run's own folder
   * `<runsDir>/<runId>/` (after `..` and symlinks are resolved): a row is data, possibly imported
   * or crafted, and must not be able to name a user's folder for recursive deletion. Others are
   * listed in `artifactsRefused` with the reason.
   */
  delete(idOrPrefix: string, options: { deleteArtifacts?: boolean } = {}): DeleteResult {
    const runId = this.resolve(idOrPrefix);
    const paths = this.store.writer.deleteRun(runId);
    const result: DeleteResult = { runId, artifactsDeleted: [], artifactsKept: [], artifactsRefused: [] };
    const runDir = path.join(this.runsDir, runId);
    for (const p of paths) {
      if (!options.deleteArtifacts || !fs.existsSync(p)) {
        result.artifactsKept.push(p);
        continue;
      }
      const { inside, real } = realPathInside(runDir, p);
      if (!inside) {
        result.artifactsRefused.push({ path: p, reason: `${real} is outside the run folder ${runDir}; not deleted` });
        continue;
      }
      // rm never follows a symlink it is given: a link inside the run folder goes, not its target.
      fs.rmSync(p, { recursive: true, force: true });
      result.artifactsDeleted.push(p);
    }
    return result;
  }

  private exportChunk(ids: string[]): ExportedRun[] {
    const { reader } = this.store;
    const heads = reader.getRunHeads(ids);
    const configs = reader.getConfigs(ids);
    const series = reader.getMetricSeries(ids);
    return heads.map((h, i) => {
      return {
        ...h,
        config: configs[i].config,
        versions: configs[i].versions,
        summary: configs[i].summary,
        metrics: (series.get(h.id) ?? []).map((s) => ({
          phase: s.phase,
          name: s.name,
          points: s.points.map((p): [number, number | null, number | null, number] => [p.step, p.epoch, Number.isNaN(p.value) ? null : p.value, p.time]),
        })),
      };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Pure helpers

/**
 * Only finished runs are results: `filter` narrowed to status `done`, or null when it asks only for
 * other statuses (an empty status list would mean "any status" to the store).
 * @example finishedOnly({ tag: 'x' }) // { tag: 'x', status: 'done' }
 */
export function finishedOnly(filter: RunFilter): RunFilter | null {
  const asked = filter.status === undefined ? [] : [filter.status].flat();
  if (asked.length > 0 && !asked.includes('done')) return null;
  return { ...filter, status: 'done' };
}

/** The first finished run, else the first: deltas against a killed run's partial numbers mean nothing. */
function defaultBaseline(runs: readonly RunHead[]): number {
  return Math.max(0, runs.findIndex((r) => r.status === 'done'));
}

/**
 * Flattens nested JSON objects to dotted keys; arrays and scalars are leaves (a shape `[28, 28, 1]`
 * is one value, not three).
 * @example flattenJson({ a: { b: 1 }, c: [1, 2] }) // { 'a.b': 1, c: [1, 2] }
 */
export function flattenJson(value: Json, prefix = ''): Record<string, Json> {
  const out: Record<string, Json> = {};
  const walk = (v: Json, key: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) walk(child, key ? `${key}.${k}` : k);
    } else {
      out[key] = v;
    }
  };
  walk(value, prefix);
  return out;
}

/**
 * Config keys whose values are not the same in every config (missing counts as different),
 * sorted by key, and how many keys were identical.
 */
export function diffConfigs(configs: readonly JsonObject[]): { rows: ConfigDiffRow[]; identical: number } {
  const flat = configs.map((c) => flattenJson(c));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const rows: ConfigDiffRow[] = [];
  let identical = 0;
  for (const key of keys) {
    const present = flat.map((f) => Object.prototype.hasOwnProperty.call(f, key));
    const encoded = flat.map((f, i) => (present[i] ? JSON.stringify(f[key]) : undefined));
    if (present.every(Boolean) && encoded.every((e) => e === encoded[0])) {
      identical++;
      continue;
    }
    rows.push({ key, values: flat.map((f, i) => (present[i] ? f[key] : null)), missing: present.flatMap((p, i) => (p ? [] : [i])) });
  }
  return { rows, identical };
}

/**
 * Indexes of the non-dominated points. With every objective oriented so larger is better, `a`
 * dominates `b` when a >= b everywhere and a > b somewhere. Points are sorted lexicographically
 * best-first, so a dominator always precedes what it dominates and only frontier members need
 * checking: O(n log n + n·|frontier|). Identical points are all kept.
 * @example paretoFrontier([[0.9, 100], [0.8, 50], [0.7, 80]], ['max', 'min']) // [0, 1]
 */
export function paretoFrontier(points: readonly number[][], directions: readonly ('max' | 'min')[]): number[] {
  const oriented = points.map((p) => p.map((v, j) => (directions[j] === 'min' ? -v : v)));
  const order = oriented.map((_, i) => i).sort((a, b) => {
    for (let j = 0; j < directions.length; j++) {
      const d = oriented[b][j] - oriented[a][j];
      if (d !== 0) return d;
    }
    return a - b;
  });
  const frontier: number[] = [];
  for (const i of order) {
    const p = oriented[i];
    const dominated = frontier.some((f) => {
      const q = oriented[f];
      let strictly = false;
      for (let j = 0; j < p.length; j++) {
        if (q[j] < p[j]) return false;
        if (q[j] > p[j]) strictly = true;
      }
      return strictly;
    });
    if (!dominated) frontier.push(i);
  }
  return frontier;
}

/** RFC 4180 CSV: fields with a comma, quote or line break are quoted; null/undefined are empty. */
export function toCsv(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const field = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'number' && Number.isNaN(v) ? 'NaN' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

function compareMetrics(finals: readonly Record<string, number>[], baseline: number): MetricComparisonRow[] {
  const names = [...new Set(finals.flatMap((f) => Object.keys(f)))].sort();
  return names.map((name) => {
    const values = finals.map((f) => (name in f ? f[name] : null));
    const base = values[baseline];
    const deltas = values.map((v) => (v === null || base === null ? null : v - base));
    const relative = deltas.map((d) => (d === null || base === null || base === 0 ? null : d / Math.abs(base)));
    return { name, values, deltas, relative };
  });
}

function compareLayers(ids: readonly string[], layersByRun: Map<string, { layer: string; className: string; sparsity: number; nonZeros: number }[]>): LayerComparisonRow[] {
  const rows = new Map<string, LayerComparisonRow>();
  ids.forEach((id, i) => {
    for (const l of layersByRun.get(id) ?? []) {
      let row = rows.get(l.layer);
      if (!row) rows.set(l.layer, (row = { layer: l.layer, className: l.className, sparsity: ids.map(() => null), nonZeros: ids.map(() => null) }));
      row.sparsity[i] = l.sparsity;
      row.nonZeros[i] = l.nonZeros;
    }
  });
  return [...rows.values()];
}

function validateObjectives(objectives: readonly ParetoObjective[]): void {
  if (objectives.length === 0) throw new ConfigError('pareto needs at least one objective, e.g. accuracy:max sizeBytes:min');
  const seen = new Set<string>();
  for (const o of objectives) {
    if (!o.metric) throw new ConfigError('a pareto objective needs a metric name');
    if (o.direction !== 'max' && o.direction !== 'min') throw new ConfigError(`objective ${o.metric}: direction must be max or min, got ${String(o.direction)}`);
    if (seen.has(o.metric)) throw new ConfigError(`objective ${o.metric} is given twice`);
    seen.add(o.metric);
  }
}

function readBundle(file: string): RunBundle {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(inFile(file, `cannot read the run bundle (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`), { file, cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(inFile(file, `run bundle is not valid JSON: ${(err as Error).message}`), { file, cause: err });
  }
  const b = data as Partial<RunBundle>;
  if (b?.format !== 'topiary-run-bundle') throw new ConfigError(inFile(file, `not a Topiary run bundle (format is ${JSON.stringify(b?.format)})`), { file });
  if (b.version !== 1) throw new ConfigError(inFile(file, `run bundle version ${String(b.version)} is not supported (expected 1)`), { file });
  if (!Array.isArray(b.runs)) throw new ConfigError(inFile(file, 'run bundle has no runs array'), { file });
  b.runs.forEach((entry, i) => {
    const r = entry?.run;
    const where = `runs[${i}]`;
    if (!r || typeof r.id !== 'string' || !r.id) throw new ConfigError(inFile(file, `${where}.run.id is missing`), { file });
    // The id names the folder its artifacts are copied to.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(r.id) || r.id.includes('..')) {
      throw new ConfigError(inFile(file, `${where}.run.id ${JSON.stringify(r.id)} is not a valid run id`), { file });
    }
    if (!r.model || typeof r.model.sha256 !== 'string') throw new ConfigError(inFile(file, `${where}.run.model.sha256 is missing`), { file });
    if (!r.config || typeof r.config !== 'object') throw new ConfigError(inFile(file, `${where}.run.config must be an object`), { file });
    for (const key of ['metrics', 'layers', 'artifacts', 'tags'] as const) {
      if (!Array.isArray(r[key])) throw new ConfigError(inFile(file, `${where}.run.${key} must be an array`), { file });
    }
    if (!Array.isArray(entry.artifactFiles) || entry.artifactFiles.length !== r.artifacts.length) {
      throw new ConfigError(inFile(file, `${where}.artifactFiles must list one entry per artifact`), { file });
    }
    for (const rel of entry.artifactFiles) {
      // A bundle must not write outside its own folder when read.
      if (rel !== null && (typeof rel !== 'string' || path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..'))) {
        throw new ConfigError(inFile(file, `${where}.artifactFiles has an unsafe path ${JSON.stringify(rel)}`), { file });
      }
    }
  });
  return b as RunBundle;
}

function orderParentsFirst(entries: RunBundle['runs']): RunBundle['runs'] {
  const byId = new Map(entries.map((e) => [e.run.id, e]));
  const out: RunBundle['runs'] = [];
  const done = new Set<string>();
  const visit = (e: RunBundle['runs'][number], depth: number) => {
    if (done.has(e.run.id) || depth > entries.length) return;
    const parent = e.run.parentRunId ? byId.get(e.run.parentRunId) : undefined;
    if (parent) visit(parent, depth + 1);
    if (!done.has(e.run.id)) {
      done.add(e.run.id);
      out.push(e);
    }
  };
  for (const e of entries) visit(e, 0);
  return out;
}

/** The first symlink at or below `p` (depth first), or undefined when the tree has none. */
function firstSymlink(p: string): string | undefined {
  const stat = fs.lstatSync(p);
  if (stat.isSymbolicLink()) return p;
  if (!stat.isDirectory()) return undefined;
  for (const name of fs.readdirSync(p)) {
    const found = firstSymlink(path.join(p, name));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The last component of a path written on any OS, never empty, `.` or `..`. */
function plainBaseName(p: string): string {
  const base = String(p).split(/[\\/]/).pop() ?? '';
  return base === '' || base === '.' || base === '..' ? 'artifact' : base;
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

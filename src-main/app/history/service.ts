/**
 * Run history: list, show, compare, Pareto, export (CSV/JSON), run bundles, tags, notes, delete.
 * Talks to the database only through the store's typed reader and writer; what is not storage
 * lives beside it as pure functions (compare.ts, pareto.ts, csv.ts) and the bundle format
 * (bundle.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, inFile } from '../../common/errors';
import type {
  BundleExportResult,
  BundleImportResult,
  DeleteResult,
  ExportedRun,
  ParetoObjective,
  ParetoPoint,
  ParetoResult,
  RunBundle,
  RunComparison,
  RunDetail,
  RunFilter,
  RunHead,
  RunPage,
  RunQuery,
  RunStatus,
  RunsExport,
  SeriesOverlay,
} from '../../common/contract';
import { RUN_STATUSES } from '../../common/contract';
import { checkOutputFile, checkOutputFolder } from '../../node/output-paths';
import { realPathInside } from '../../node/safe-paths';
import { openStore, type OpenStoreOptions, type Store } from '../../store/db';
import { recordRunDetail, recoverRuns, type RecoverResult } from '../run-record';
import { firstSymlink, orderParentsFirst, plainBaseName, readBundle, sha256File } from './bundle';
import { compareLayers, compareMetrics, defaultBaseline, diffConfigs } from './compare';
import { runsCsv } from './csv';
import { shippedOf, withDeployView } from '../deploy/view';
import { finishedOnly, paretoFrontier, validateObjectives } from './pareto';

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

  /** A page of runs, each with the size of the file it ships (see deploy/view.ts). */
  list(query: RunQuery = {}): RunPage {
    const { reader } = this.store;
    const page = reader.listRuns(query);
    const summaries = new Map(reader.getConfigs(page.items.map((r) => r.id)).map((c) => [c.id, c.summary]));
    return { ...page, items: page.items.map((r) => ({ ...r, shipped: shippedOf(summaries.get(r.id) ?? null, () => reader.getArtifacts(r.id)) })) };
  }

  /** Ids of every run matching the filter, newest first. */
  matchingIds(filter: RunFilter = {}): string[] {
    return this.store.reader.listRunIds(filter);
  }

  /** Everything about one run, with its shipped size, fit verdict and per-layer structure (see deploy/view.ts). */
  show(idOrPrefix: string): RunDetail {
    return withDeployView(this.store.reader.getRun(this.resolve(idOrPrefix)));
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
      curves: ((byRun) => ids.map((runId) => ({ runId, points: byRun.get(runId) ?? [] })))(reader.getCurves(ids)),
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
      const names = this.store.reader.getRunHeads(points.map((p) => p.runId)).map((h) => h.name);
      result.points = points.map((p, i) => ({ ...p, onFrontier: on.has(i), name: names[i] }));
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

  /** The runs matching `filter` as two CSV documents, runs and metric histories (see runsCsv). */
  exportCsv(filter: RunFilter = {}): { runs: string; metrics: string } {
    return runsCsv(this.exportJson(filter).runs);
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

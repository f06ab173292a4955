/**
 * A run's own record in its folder, `<runDir>/run.json`: the whole run (config, model, dataset,
 * metric series, layers, plan, artifacts, summary, status) in the shape the database returns it
 * (RunDetail). The run service writes it before every database write of the run, so a run whose
 * database write failed, or whose database was damaged or lost, can be recorded again from its
 * folder (`topiary runs recover`) instead of being lost with the work it cost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ConfigError, inFile } from '../common/errors';
import type { Store } from '../store/db';
import { currentOwner } from '../store/process-owner';
import { TERMINAL_STATUSES } from '../store/types';
import { finiteValues } from '../store/writer';
import type {
  ArtifactInput,
  CurvePoint,
  DatasetInput,
  Json,
  JsonObject,
  LayerResultInput,
  MetricInput,
  MetricSeries,
  ModelInput,
  RunDetail,
  RunStatus,
  RunSummary,
} from '../store/types';

export const RUN_RECORD_FILE = 'run.json';

export interface RunRecordFile {
  format: 'topiary-run-record';
  version: 1;
  /** The folder the run wrote into when this was written (artifact paths lie inside it). */
  runDir: string;
  run: RunDetail;
}

/** What the run service knows when a run's model and data are loaded. */
export interface RunStart {
  id: string;
  config: JsonObject;
  kind: string;
  method: string | null;
  name: string | null;
  profileId: string | null;
  parentRunId: string | null;
  backend: string;
  versions: JsonObject;
  model: ModelInput;
  dataset: DatasetInput;
}

/**
 * The run's record as its events arrive; `save()` writes it (atomically: a temporary file renamed
 * over the old one, so a kill mid-write leaves the previous record, never half of one).
 */
export class RunFolderRecord {
  readonly file: string;
  private readonly run: RunDetail;

  constructor(
    private readonly runDir: string,
    start: RunStart,
  ) {
    this.file = path.join(runDir, RUN_RECORD_FILE);
    const now = new Date().toISOString();
    this.run = {
      id: start.id, name: start.name, kind: start.kind, method: start.method, status: 'running', error: null,
      modelId: '', modelSource: start.model.source, modelName: start.model.name ?? null,
      datasetId: null, datasetSource: start.dataset.source, profileId: start.profileId, parentRunId: start.parentRunId,
      backend: start.backend, createdAt: now, startedAt: now, finishedAt: null, durationMs: null, tags: [], note: null, final: {},
      config: start.config, versions: start.versions, summary: null, plan: null, owner: currentOwner(), origin: null, updatedAt: now,
      model: {
        id: '', source: start.model.source, sha256: start.model.sha256, format: start.model.format, params: start.model.params,
        name: start.model.name ?? null, bytes: start.model.bytes ?? null, meta: start.model.meta ?? null, createdAt: now,
      },
      dataset: {
        id: '', source: start.dataset.source, sha256: start.dataset.sha256 ?? null, sampleShape: start.dataset.sampleShape,
        classNames: start.dataset.classNames, trainSize: start.dataset.trainSize, testSize: start.dataset.testSize, createdAt: now,
      },
      profile: null, childRunIds: [], metrics: [], layers: [], artifacts: [], curves: [],
    };
  }

  /** The ids the database gave the model and dataset (kept so the record reads like the database's). */
  setIds(modelId: string, datasetId: string): void {
    this.run.modelId = this.run.model.id = modelId;
    this.run.datasetId = datasetId;
    if (this.run.dataset) this.run.dataset.id = datasetId;
  }

  addMetrics(points: readonly MetricInput[]): void {
    const now = Date.now();
    for (const p of points) {
      let series = this.run.metrics.find((s) => s.phase === p.phase && s.name === p.name);
      if (!series) this.run.metrics.push((series = { phase: p.phase, name: p.name, points: [] }));
      const point = { step: p.step, epoch: p.epoch ?? null, value: p.value, time: p.time ?? now };
      const same = series.points.findIndex((q) => q.step === p.step);
      if (same >= 0) series.points[same] = point;
      else series.points.push(point);
    }
  }

  /** Adds training-curve points (a point at a step already held replaces it), as the store does. */
  addCurvePoints(points: readonly CurvePoint[]): void {
    for (const p of points) {
      const point = { ...p, values: finiteValues(p.values) };
      const same = this.run.curves.findIndex((q) => q.step === p.step);
      if (same >= 0) this.run.curves[same] = point;
      else this.run.curves.push(point);
    }
  }

  /** Replaces the rows of each phase present in `rows`, as the store does. */
  setLayers(rows: readonly LayerResultInput[]): void {
    const phases = new Set(rows.map((r) => r.phase));
    this.run.layers = [
      ...this.run.layers.filter((l) => !phases.has(l.phase)),
      ...rows.map((r) => ({ ...r, sensitivity: r.sensitivity ?? null })),
    ];
  }

  setPlan(plan: Json): void {
    this.run.plan = plan;
  }

  addArtifact(a: ArtifactInput): void {
    this.run.artifacts.push({ ...a, id: randomUUID(), runId: this.run.id, reason: a.reason ?? null, createdAt: new Date().toISOString() });
  }

  setSummary(summary: RunSummary): void {
    this.run.summary = summary;
    this.run.final = {};
    for (const [name, value] of Object.entries(summary.after ?? {})) if (typeof value === 'number') this.run.final[name] = value;
  }

  /** Enters `status`; a terminal one fills final metrics the summary lacks from each series' latest point. */
  finish(status: RunStatus, error: string | null): void {
    const now = new Date();
    this.run.status = status;
    this.run.error = error;
    this.run.updatedAt = now.toISOString();
    if (!TERMINAL_STATUSES.includes(status)) return;
    this.run.finishedAt = now.toISOString();
    this.run.durationMs = now.getTime() - Date.parse(this.run.startedAt ?? this.run.createdAt);
    Object.assign(this.run.final, { ...latestOfSeries(this.run.metrics), ...this.run.final });
  }

  save(): void {
    this.run.updatedAt = new Date().toISOString();
    const doc: RunRecordFile = { format: 'topiary-run-record', version: 1, runDir: this.runDir, run: this.run };
    fs.mkdirSync(this.runDir, { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(doc)}\n`);
    fs.renameSync(tmp, this.file);
  }
}

/** The latest point (by time, then step) of each series, by metric name, as the store's finals are. */
function latestOfSeries(series: readonly MetricSeries[]): Record<string, number> {
  const best = new Map<string, { time: number; step: number; value: number }>();
  for (const s of series) {
    for (const p of s.points) {
      const b = best.get(s.name);
      if (!b || p.time > b.time || (p.time === b.time && p.step > b.step)) best.set(s.name, p);
    }
  }
  return Object.fromEntries([...best].map(([name, p]) => [name, p.value]));
}

// ---------------------------------------------------------------------------------------------
// Recording a run read from elsewhere (a bundle, a run folder) into a store

/** Where a recorded run came from, and where its artifact files are now. */
export interface RecordRunOptions {
  artifactPaths: string[];
  origin: JsonObject;
}

/**
 * Inserts `run` (from a bundle or a run folder) into `store`: its model, dataset and profile are
 * matched by content (their ids differ between databases), a parent that is not here is dropped.
 * Returns false, changing nothing, when a run with its id is already here.
 */
export function recordRunDetail(store: Store, run: RunDetail, options: RecordRunOptions): boolean {
  const { reader, writer } = store;
  if (reader.findRun(run.id)) return false;
  const modelId = writer.upsertModel({
    source: run.model.source, sha256: run.model.sha256, format: run.model.format, params: run.model.params,
    name: run.model.name ?? undefined, bytes: run.model.bytes ?? undefined, meta: run.model.meta ?? undefined,
  });
  const datasetId = run.dataset
    ? writer.upsertDataset({
        source: run.dataset.source, sha256: run.dataset.sha256, sampleShape: run.dataset.sampleShape, classNames: run.dataset.classNames,
        trainSize: run.dataset.trainSize, testSize: run.dataset.testSize,
      })
    : null;
  const profileId = run.profileId
    ? writer.upsertProfile({ id: run.profileId, name: run.profile?.name ?? run.profileId, definition: run.profile?.definition ?? null })
    : null;
  const parentRunId = run.parentRunId && reader.findRun(run.parentRunId) ? run.parentRunId : null;
  return writer.importRun(run, { modelId, datasetId, profileId, parentRunId, artifactPaths: options.artifactPaths, origin: options.origin });
}

export interface RecoverResult {
  /** Runs recorded from their folders. */
  recovered: string[];
  /** Runs already in the database. */
  skipped: string[];
  /** Folders whose record could not be read, with why. */
  failed: { file: string; reason: string }[];
}

/**
 * Re-records runs from their folders' `run.json` into `store`: `from` is a runs folder (one
 * sub-folder per run) or one run's folder. Runs already in the store are skipped, so running it
 * twice changes nothing. A run that was still running when its record was last written is
 * recorded as interrupted. Artifact paths are moved along with the folder and never point
 * outside it.
 * @example recoverRuns(store, '/home/me/.topiary/runs') // { recovered: ['3f2a...'], skipped: [], failed: [] }
 */
export function recoverRuns(store: Store, from: string): RecoverResult {
  const dir = path.resolve(from);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ConfigError(`--from ${dir}: not a folder`);
  const files = fs.existsSync(path.join(dir, RUN_RECORD_FILE))
    ? [path.join(dir, RUN_RECORD_FILE)]
    : fs.readdirSync(dir).map((n) => path.join(dir, n, RUN_RECORD_FILE)).filter((f) => fs.existsSync(f));
  const result: RecoverResult = { recovered: [], skipped: [], failed: [] };
  const records: { file: string; doc: RunRecordFile }[] = [];
  for (const file of files) {
    try {
      records.push({ file, doc: readRunRecord(file) });
    } catch (err) {
      result.failed.push({ file, reason: (err as Error).message });
    }
  }
  // Oldest first, so a parent is recorded before the runs derived from it.
  records.sort((a, b) => a.doc.run.createdAt.localeCompare(b.doc.run.createdAt));
  for (const { file, doc } of records) {
    const folder = path.dirname(file);
    const run = unfinishedAsInterrupted(doc.run);
    const artifactPaths = run.artifacts.map((a) => moveWithFolder(a.path, doc.runDir, folder));
    const origin = { recoveredFrom: file, recoveredAt: new Date().toISOString() };
    if (recordRunDetail(store, run, { artifactPaths, origin })) result.recovered.push(run.id);
    else result.skipped.push(run.id);
  }
  return result;
}

/** Reads and checks a `run.json`; a ConfigError names the file and the problem. */
export function readRunRecord(file: string): RunRecordFile {
  let doc: Partial<RunRecordFile>;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<RunRecordFile>;
  } catch (err) {
    throw new ConfigError(inFile(file, `cannot read the run record: ${(err as Error).message}`), { file, cause: err });
  }
  if (doc?.format !== 'topiary-run-record' || doc.version !== 1) throw new ConfigError(inFile(file, 'not a Topiary run record (format topiary-run-record, version 1)'), { file });
  const r = doc.run;
  if (!r || typeof r.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(r.id) || r.id.includes('..')) throw new ConfigError(inFile(file, 'run.id is missing or not a run id'), { file });
  if (!r.model || typeof r.model.sha256 !== 'string') throw new ConfigError(inFile(file, 'run.model.sha256 is missing'), { file });
  if (typeof doc.runDir !== 'string') throw new ConfigError(inFile(file, 'runDir is missing'), { file });
  for (const key of ['metrics', 'layers', 'artifacts', 'tags'] as const) {
    if (!Array.isArray(r[key])) throw new ConfigError(inFile(file, `run.${key} must be an array`), { file });
  }
  // Records written before curves were kept have none.
  if (r.curves === undefined) r.curves = [];
  else if (!Array.isArray(r.curves)) throw new ConfigError(inFile(file, 'run.curves must be an array'), { file });
  // JSON has no NaN: a diverged loss was written as null and reads back as NaN, as from the store.
  for (const s of r.metrics) for (const p of s.points) if (p.value === null) p.value = Number.NaN;
  return doc as RunRecordFile;
}

function unfinishedAsInterrupted(run: RunDetail): RunDetail {
  if (TERMINAL_STATUSES.includes(run.status)) return run;
  const last = latestOfSeries(run.metrics);
  return {
    ...run,
    status: 'interrupted',
    error: run.error ?? 'the process running it ended without finishing it (recorded again from its folder)',
    finishedAt: run.updatedAt,
    final: { ...last, ...run.final },
  };
}

/** `p` recorded inside `oldDir` -> the same place inside `newDir`; anything else -> its name inside `newDir`. */
function moveWithFolder(p: string, oldDir: string, newDir: string): string {
  const rel = path.relative(oldDir, p);
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) return path.join(newDir, rel);
  const base = String(p).split(/[\\/]/).pop() ?? '';
  return path.join(newDir, base === '' || base === '.' || base === '..' ? 'artifact' : base);
}

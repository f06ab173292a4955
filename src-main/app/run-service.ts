/**
 * Runs pruning jobs and records them. Jobs wait in a queue (one at a time by default) and execute
 * in a worker thread (or in-process for the CLI); every event is persisted as it arrives, so a
 * run's history survives a crash, and is re-broadcast to the front doors.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { builtinProfile, parseProfile } from '../common/profiles';
import { RunConfigSchema, type RunConfig, type RunConfigInput } from '../common/run-config';
import { CancelledError, ConfigError, toErrorInfo, type ErrorInfo } from '../common/errors';
import { startJob, type JobHandle, type JobOutcome } from '../jobs/job-host';
import type { Store } from '../store/db';
import type { JsonObject } from '../store/types';
import { validatePruneConfig } from '../engine/prune/types';
import { RunFolderRecord } from './run-record';
import type { RunJob } from './run-pipeline';
import type { RunEvent, RunResult } from './run-events';
import { describeIssues, type ContractEvent, type RunFinished } from '../common/contract';
import { trainingBackendPreference, type GpuPeers, type GpuPreference } from './gpu-peers';
import { gpuAnswerer, peersGpuLink, type GpuLink } from './run/gpu-link';

/** The contract's run events (common/contract/events.ts). */
export type RunServiceEvent = Extract<ContractEvent, { name: 'runProgress' | 'runFinished' | 'runLog' }>;
export type { RunFinished };

export interface RunServiceOptions {
  /** Folder runs write their models and exports into: `<runsDir>/<runId>/`. */
  runsDir: string;
  /** Worker thread (app, web) or in-process (CLI, tests). Default 'worker'. */
  mode?: 'worker' | 'in-process';
  /**
   * What runs a job in-process (executeRun from run-pipeline). Injected rather than imported, so
   * that a RunService in worker mode (the Electron main process) never loads the engine.
   */
  executeRun?: RunExecutor;
  /** Runs executing at once (default 1). */
  concurrency?: number;
  /** GPU windows that may train runs (web mode registers them); without it every run trains on the CPU. */
  gpuPeers?: GpuPeers;
  /** Which backend should train: default trainingBackendPreference() (TOPIARY_BACKEND). */
  gpuPreference?: () => GpuPreference;
}

interface Pending {
  runId: string;
  config: RunConfig;
  cancelled: boolean;
  handle?: { cancel(): void };
  done: Promise<RunFinished>;
  resolve: (f: RunFinished) => void;
}

/** The worker entry: built JavaScript in a packaged app (TOPIARY_RUN_JOB_ENTRY), TypeScript in the checkout. */
function runJobEntry(): string {
  return process.env.TOPIARY_RUN_JOB_ENTRY ?? new URL('./run-job.ts', import.meta.url).href;
}

export type RunExecutor = (job: RunJob, emit: (e: RunEvent) => void, signal: AbortSignal, gpu?: GpuLink) => Promise<RunResult>;

export class RunService {
  private readonly queue: Pending[] = [];
  private readonly active = new Map<string, Pending>();
  private readonly listeners = new Set<(e: RunServiceEvent) => void>();
  private readonly gpu: GpuLink;

  constructor(
    private readonly store: Store,
    private readonly options: RunServiceOptions,
  ) {
    if (options.mode === 'in-process' && !options.executeRun) throw new Error('an in-process RunService needs options.executeRun');
    this.gpu = peersGpuLink(options.gpuPeers, options.gpuPreference ?? (() => trainingBackendPreference()));
  }

  on(listener: (e: RunServiceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Validates the config and queues the run; resolves at once with its id. */
  start(input: RunConfigInput): { runId: string; queued: number } {
    const parsed = RunConfigSchema.safeParse(input);
    if (!parsed.success) {
      throw new ConfigError(describeIssues(parsed.error.issues, 'config'));
    }
    const config = parsed.data;
    // What can be checked without the model is checked now, so a typo fails before a run exists.
    validatePruneConfig({ seed: config.seed, ...config.prune });
    this.applyProfileDefaults(config);
    if (config.model.startsWith('run:')) {
      // Derive: start from an earlier run's pruned model; that run becomes the parent (lineage).
      const parent = this.store.reader.resolveRunId(config.model.slice(4));
      config.model = `run:${parent}`;
      config.parentRunId ??= parent;
    }
    const runId = randomUUID();
    let resolve!: (f: RunFinished) => void;
    const done = new Promise<RunFinished>((r) => (resolve = r));
    this.queue.push({ runId, config, cancelled: false, done, resolve });
    // How many runs are ahead of this one (running or waiting).
    const queued = this.active.size + this.queue.length - 1;
    this.pump();
    return { runId, queued };
  }

  /**
   * A structured prune for a device profile keeps widths multiples of the profile's
   * `channelMultiple` unless `roundTo` was given; the run's config records the value used and where
   * it came from (`roundToSource`), so a replay or a comparison sees it.
   */
  private applyProfileDefaults(config: RunConfig): void {
    if (!config.profile || config.prune.granularity !== 'structured' || config.prune.roundTo !== undefined) return;
    const builtin = builtinProfile(config.profile);
    const stored = builtin ? undefined : this.store.reader.getProfile(config.profile)?.definition;
    const profile = builtin ?? (stored ? parseProfile(stored, `stored profile ${config.profile}`) : undefined);
    if (!profile) throw new ConfigError(`unknown profile "${config.profile}"`);
    if (profile.channelMultiple === undefined || profile.channelMultiple <= 1) return;
    config.prune.roundTo = profile.channelMultiple;
    config.prune.roundToSource = `profile ${profile.id}`;
  }

  /** A stored (user) profile travels with the job: the pipeline has no store (built-ins it looks up itself). */
  private storedProfile(id: string | undefined): { profile?: ReturnType<typeof parseProfile> } {
    if (!id || builtinProfile(id)) return {};
    const stored = this.store.reader.getProfile(id)?.definition;
    return stored ? { profile: parseProfile(stored, `stored profile ${id}`) } : {};
  }

  /** Resolves when the run ends, however it ends. */
  wait(runId: string): Promise<RunFinished> {
    const p = this.active.get(runId) ?? this.queue.find((q) => q.runId === runId);
    if (!p) throw new ConfigError(`no queued or running run ${runId}`);
    return p.done;
  }

  cancel(runId: string): boolean {
    const queuedIndex = this.queue.findIndex((q) => q.runId === runId);
    if (queuedIndex >= 0) {
      const [p] = this.queue.splice(queuedIndex, 1);
      p.cancelled = true;
      this.finish(p, { runId, status: 'cancelled', recorded: false });
      return true;
    }
    const p = this.active.get(runId);
    if (!p) return false;
    p.cancelled = true;
    p.handle?.cancel();
    return true;
  }

  /** Ids of runs waiting or executing. */
  pending(): { running: string[]; queued: string[] } {
    return { running: [...this.active.keys()], queued: this.queue.map((q) => q.runId) };
  }

  /** Cancels everything and waits for running jobs to stop. */
  async close(): Promise<void> {
    for (const q of [...this.queue]) this.cancel(q.runId);
    const running = [...this.active.values()];
    for (const p of running) this.cancel(p.runId);
    await Promise.all(running.map((p) => p.done));
  }

  private pump() {
    while (this.active.size < (this.options.concurrency ?? 1) && this.queue.length > 0) {
      const p = this.queue.shift()!;
      this.active.set(p.runId, p);
      void this.execute(p);
    }
  }

  private emit(e: RunServiceEvent) {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a broken listener (a closed connection) must not stop the run
      }
    }
  }

  private async execute(p: Pending) {
    const runDir = path.join(this.options.runsDir, p.runId);
    const job: RunJob = { runId: p.runId, config: p.config, runDir, ...this.storedProfile(p.config.profile) };
    const recorder = new RunRecorder(this.store, p, runDir, (e) => this.emit(e));
    let outcome: JobOutcome<RunResult>;
    if ((this.options.mode ?? 'worker') === 'worker') {
      const handle: JobHandle<RunResult> = startJob<RunEvent, RunResult>({
        entry: runJobEntry(),
        job,
        onEvent: (e) => recorder.handle(e),
        answer: gpuAnswerer(this.gpu),
      });
      p.handle = handle;
      outcome = await handle.finished;
    } else {
      const abort = new AbortController();
      p.handle = { cancel: () => abort.abort(new CancelledError()) };
      try {
        const result = await this.options.executeRun!(job, (e) => recorder.handle(e), abort.signal, this.gpu);
        outcome = { status: 'done', result };
      } catch (err) {
        const error = toErrorInfo(err);
        outcome = err instanceof CancelledError || abort.signal.aborted ? { status: 'cancelled', error } : { status: 'failed', error };
      }
    }
    if (p.cancelled && outcome.status === 'failed') outcome = { status: 'cancelled', error: outcome.error };
    const finished = recorder.finish(outcome);
    this.active.delete(p.runId);
    this.finish(p, finished);
    this.pump();
  }

  private finish(p: Pending, f: RunFinished) {
    this.emit({ name: 'runFinished', payload: f });
    p.resolve(f);
  }
}

/**
 * Persists a run's events as they arrive: first into the run's own record in its folder
 * (`<runDir>/run.json`, see ./run-record.ts), then through the store writer. A database write
 * that fails does not stop the run or lose it: later events still reach the folder's record, the
 * database is left alone for this run, and the run ends with `recordError` saying how to record it
 * again (`topiary runs recover`).
 */
/** Least time between two rewrites of run.json for curve points alone. */
const CURVE_SAVE_MS = 1000;

class RunRecorder {
  private recorded = false;
  private folder: RunFolderRecord | undefined;
  private dbError: ErrorInfo | undefined;
  private curveSavedAt = 0;

  constructor(
    private readonly store: Store,
    private readonly run: Pending,
    private readonly runDir: string,
    private readonly emit: (e: RunServiceEvent) => void,
  ) {}

  handle(e: RunEvent) {
    const runId = this.run.runId;
    switch (e.type) {
      case 'loaded': {
        // The stored config shows what was done: an `auto` input scale is recorded as resolved, and
        // the task the run used (inferred from the model when not given).
        const config = Object.assign(this.run.config, e.input ?? {}, e.task && !this.run.config.task ? { task: e.task } : {});
        const start = {
          id: runId,
          config: config as unknown as JsonObject,
          kind: 'prune',
          method: e.method,
          name: config.name ?? null,
          profileId: config.profile ?? null,
          parentRunId: config.parentRunId ?? null,
          backend: e.backend,
          versions: e.versions,
          model: e.model,
          dataset: e.dataset,
        };
        this.folder = new RunFolderRecord(this.runDir, start);
        this.folder.save();
        this.toDb((w) => {
          const modelId = w.upsertModel(e.model);
          const datasetId = w.upsertDataset(e.dataset);
          w.createRun({
            id: runId, config: start.config, modelId, datasetId, profileId: start.profileId, parentRunId: start.parentRunId,
            backend: e.backend, versions: e.versions, kind: start.kind, method: e.method, name: start.name, status: 'running',
          });
          this.folder?.setIds(modelId, datasetId);
          this.recorded = true;
        });
        return;
      }
      case 'progress':
        this.emit({ name: 'runProgress', payload: { runId, ...e.progress } });
        return;
      case 'log':
        this.emit({ name: 'runLog', payload: { runId, level: e.level, message: e.message } });
        return;
    }
    const folder = this.folder;
    if (!folder) return;
    switch (e.type) {
      case 'metrics':
        folder.addMetrics(e.points);
        folder.save();
        this.toDb((w) => w.appendMetrics(runId, e.points));
        break;
      case 'curve':
        folder.addCurvePoints(e.points);
        // At most one rewrite of run.json a second for curves (a point can come every few ms);
        // the next other event, and the run's end, write whatever is still held.
        if (Date.now() - this.curveSavedAt >= CURVE_SAVE_MS) {
          folder.save();
          this.curveSavedAt = Date.now();
        }
        this.toDb((w) => w.appendCurvePoints(runId, e.points));
        break;
      case 'layers':
        folder.setLayers(e.rows);
        folder.save();
        this.toDb((w) => w.saveLayerResults(runId, e.rows));
        break;
      case 'plan':
        folder.setPlan(e.plan as JsonObject);
        folder.save();
        this.toDb((w) => w.savePlan(runId, e.plan as JsonObject));
        break;
      case 'artifact':
        folder.addArtifact(e.artifact);
        folder.save();
        this.toDb((w) => w.addArtifact(runId, e.artifact));
        break;
      case 'summary':
        folder.setSummary(e.summary);
        folder.save();
        this.toDb((w) => w.setSummary(runId, e.summary));
        break;
    }
  }

  finish(outcome: JobOutcome<RunResult>): RunFinished {
    const runId = this.run.runId;
    const error = outcome.status === 'done' ? null : `${outcome.error.name}: ${outcome.error.message}`;
    if (this.folder) {
      this.folder.finish(outcome.status, error);
      this.folder.save();
    }
    if (this.recorded) this.toDb((w) => w.setRunStatus(runId, outcome.status, error));
    const recorded = this.recorded && !this.dbError;
    const recordError = this.dbError && { ...this.dbError, message: `${this.dbError.message}; the run's full record is in ${this.folder?.file}` };
    return outcome.status === 'done'
      ? { runId, status: 'done', recorded, ...(recordError ? { recordError } : {}) }
      : { runId, status: outcome.status, error: outcome.error, recorded, ...(recordError ? { recordError } : {}) };
  }

  /** One database write of this run, unless an earlier one failed (the folder's record has it all). */
  private toDb(write: (w: Store['writer']) => void): void {
    if (this.dbError) return;
    try {
      write(this.store.writer);
    } catch (err) {
      const info = toErrorInfo(err);
      this.dbError = { ...info, name: info.name === 'SqliteError' ? 'StoreError' : info.name, message: `${this.store.file}: could not record run ${this.run.runId}: ${info.message}` };
      this.emit({ name: 'runLog', payload: { runId: this.run.runId, level: 'warn', message: this.dbError.message } });
    }
  }
}

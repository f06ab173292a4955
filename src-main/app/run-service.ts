/**
 * Runs pruning jobs and records them. Jobs wait in a queue (one at a time by default) and execute
 * in a worker thread (or in-process for the CLI); every event is persisted as it arrives, so a
 * run's history survives a crash, and is re-broadcast to the front doors.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { RunConfigSchema, type RunConfig, type RunConfigInput } from '../common/run-config';
import { CancelledError, ConfigError, toErrorInfo } from '../common/errors';
import { startJob, type JobHandle, type JobOutcome } from '../jobs/job-host';
import type { Store } from '../store/db';
import type { JsonObject } from '../store/types';
import { validatePruneConfig } from '../engine/prune/types';
import { executeRun, type RunJob } from './run-pipeline';
import type { RunEvent, RunResult } from './run-events';
import { describeIssues, type ContractEvent, type RunFinished } from '../common/contract';

/** The contract's run events (common/contract/events.ts). */
export type RunServiceEvent = Extract<ContractEvent, { name: 'runProgress' | 'runFinished' | 'runLog' }>;
export type { RunFinished };

export interface RunServiceOptions {
  /** Folder runs write their models and exports into: `<runsDir>/<runId>/`. */
  runsDir: string;
  /** Worker thread (app, web) or in-process (CLI, tests). Default 'worker'. */
  mode?: 'worker' | 'in-process';
  /** Runs executing at once (default 1). */
  concurrency?: number;
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

export class RunService {
  private readonly queue: Pending[] = [];
  private readonly active = new Map<string, Pending>();
  private readonly listeners = new Set<(e: RunServiceEvent) => void>();

  constructor(
    private readonly store: Store,
    private readonly options: RunServiceOptions,
  ) {}

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
    const job: RunJob = { runId: p.runId, config: p.config, runDir };
    const recorder = new RunRecorder(this.store, p, (e) => this.emit(e));
    let outcome: JobOutcome<RunResult>;
    if ((this.options.mode ?? 'worker') === 'worker') {
      const handle: JobHandle<RunResult> = startJob<RunEvent, RunResult>({
        entry: runJobEntry(),
        job,
        onEvent: (e) => recorder.handle(e),
      });
      p.handle = handle;
      outcome = await handle.finished;
    } else {
      const abort = new AbortController();
      p.handle = { cancel: () => abort.abort(new CancelledError()) };
      try {
        const result = await executeRun(job, (e) => recorder.handle(e), abort.signal);
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

/** Persists a run's events through the store writer as they arrive. */
class RunRecorder {
  private recorded = false;

  constructor(
    private readonly store: Store,
    private readonly run: Pending,
    private readonly emit: (e: RunServiceEvent) => void,
  ) {}

  handle(e: RunEvent) {
    const w = this.store.writer;
    const runId = this.run.runId;
    switch (e.type) {
      case 'loaded': {
        const modelId = w.upsertModel(e.model);
        const datasetId = w.upsertDataset(e.dataset);
        // The stored config shows what was done: an `auto` input scale is recorded as resolved, and
        // the task the run used (inferred from the model when not given).
        const config = Object.assign(this.run.config, e.input ?? {}, e.task && !this.run.config.task ? { task: e.task } : {});
        w.createRun({
          id: runId,
          config: config as unknown as JsonObject,
          modelId,
          datasetId,
          profileId: config.profile ?? null,
          parentRunId: config.parentRunId ?? null,
          backend: e.backend,
          versions: e.versions,
          kind: 'prune',
          method: e.method,
          name: config.name ?? null,
          status: 'running',
        });
        this.recorded = true;
        return;
      }
      case 'progress':
        this.emit({ name: 'runProgress', payload: { runId, ...e.progress } });
        return;
      case 'log':
        this.emit({ name: 'runLog', payload: { runId, level: e.level, message: e.message } });
        return;
    }
    if (!this.recorded) return;
    switch (e.type) {
      case 'metrics':
        w.appendMetrics(runId, e.points);
        break;
      case 'layers':
        w.saveLayerResults(runId, e.rows);
        break;
      case 'plan':
        w.savePlan(runId, e.plan as JsonObject);
        break;
      case 'artifact':
        w.addArtifact(runId, e.artifact);
        break;
      case 'summary':
        w.setSummary(runId, e.summary);
        break;
    }
  }

  finish(outcome: JobOutcome<RunResult>): RunFinished {
    const runId = this.run.runId;
    if (this.recorded) {
      this.store.writer.setRunStatus(runId, outcome.status, outcome.status === 'done' ? null : `${outcome.error.name}: ${outcome.error.message}`);
    }
    return outcome.status === 'done'
      ? { runId, status: 'done', recorded: this.recorded }
      : { runId, status: outcome.status, error: outcome.error, recorded: this.recorded };
  }
}

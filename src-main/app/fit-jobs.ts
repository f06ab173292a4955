/**
 * Fit-to-budget jobs for the app and web mode: each runs in a worker thread (the search evaluates
 * many candidates; the winner is fine-tuned), streams what it tries, and ends with the run it
 * recorded. The CLI calls fitToBudget directly instead.
 */
import { randomUUID } from 'node:crypto';
import type { CommandPayload, ContractEvent } from '../common/contract';
import { bytes } from '../common/format';
import { startJob, type JobHandle } from '../jobs/job-host';
import type { FitCandidate } from '../engine/fit/search';
import type { FitAutoResult } from './fit-service';
import type { RunServiceEvent } from './run-service';

/** What a fit job pushes: the contract's fit events and the events of the run it records. */
export type FitJobEvent = Extract<ContractEvent, { name: 'fitProgress' | 'fitFinished' }> | RunServiceEvent;

type WorkerEvent = { kind: 'log'; message: string } | { kind: 'candidate'; candidate: FitCandidate } | { kind: 'run'; event: RunServiceEvent };


/** One line a person can read: `candidate 3: int8, uniform 40 % -> 931.0 KiB file, 237.0 KiB arena, accuracy 86.2 %: fits`. */
export function describeCandidate(n: number, c: FitCandidate): string {
  const pruning = c.level > 0 ? `${c.allocation} ${(100 * c.level).toFixed(0)} %` : 'no pruning';
  const accuracy = c.accuracy === null ? '' : `, accuracy ${(100 * c.accuracy).toFixed(1)} %`;
  return `candidate ${n}: ${c.numericType}, ${pruning} -> ${bytes(c.sizeBytes)} file, ${bytes(c.arenaBytes)} arena${accuracy}: ${c.fits ? 'fits' : `misses ${c.failed.join(', ')}`}`;
}

function fitJobEntry(): string {
  return process.env.TOPIARY_FIT_JOB_ENTRY ?? new URL('./fit-job.ts', import.meta.url).href;
}

export class FitJobs {
  private readonly jobs = new Map<string, JobHandle<FitAutoResult>>();

  constructor(
    private readonly opts: { dbPath: string; home: string },
    private readonly emit: (e: FitJobEvent) => void,
  ) {}

  start(req: CommandPayload<'startFit'>): { jobId: string } {
    const jobId = randomUUID();
    let candidates = 0;
    let runId: string | undefined;
    const handle = startJob<WorkerEvent, FitAutoResult>({
      entry: fitJobEntry(),
      job: { jobId, dbPath: this.opts.dbPath, home: this.opts.home, request: req },
      onEvent: (e) => {
        if (e.kind === 'run') {
          if (e.event.name === 'runProgress') runId = e.event.payload.runId;
          this.emit(e.event);
          return;
        }
        if (e.kind === 'candidate') candidates++;
        const message = e.kind === 'log' ? e.message : describeCandidate(candidates, e.candidate);
        this.emit({ name: 'fitProgress', payload: { jobId, message, candidates, ...(runId ? { runId } : {}) } });
      },
    });
    this.jobs.set(jobId, handle);
    void handle.finished.then((outcome) => {
      this.jobs.delete(jobId);
      this.emit({
        name: 'fitFinished',
        payload: outcome.status === 'done' ? { jobId, status: 'done', result: outcome.result } : { jobId, status: outcome.status, error: outcome.error },
      });
    });
    return { jobId };
  }

  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    job?.cancel();
    return Boolean(job);
  }

  async close(): Promise<void> {
    const running = [...this.jobs.values()];
    for (const j of running) j.cancel();
    await Promise.all(running.map((j) => j.finished));
  }
}

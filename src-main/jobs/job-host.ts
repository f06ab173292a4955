/**
 * Runs one job in a worker_threads worker: streams its events, supports cancel, and reports a worker
 * that died (crash, out of memory, terminate) as a failure with the reason. Long work never runs on
 * the caller's thread, so the Electron main process and the web server stay responsive.
 */
import { Worker } from 'node:worker_threads';
import type { ErrorInfo } from '../common/errors';
import type { HostToWorker, Unsequenced, WorkerToHost } from './messages';

export type JobOutcome<R> =
  | { status: 'done'; result: R }
  | { status: 'failed'; error: ErrorInfo }
  | { status: 'cancelled'; error: ErrorInfo };

export interface JobHandle<R> {
  /** Resolves when the job ends, however it ends; never rejects. */
  readonly finished: Promise<JobOutcome<R>>;
  /** Asks the worker to stop at its next check; terminates it if it does not within `graceMs`. */
  cancel(graceMs?: number): void;
}

export interface JobOptions<E> {
  /** Module (a .ts in the checkout, .js when built) whose default export is a JobRunner. */
  entry: string;
  job: unknown;
  onEvent?: (event: E) => void;
  resourceLimits?: { maxOldGenerationSizeMb?: number };
}

const BOOT = new URL('./worker-boot.mjs', import.meta.url);

export function startJob<E, R>(options: JobOptions<E>): JobHandle<R> {
  const worker = new Worker(BOOT, { workerData: { entry: options.entry }, resourceLimits: options.resourceLimits });
  let seq = 0;
  let lastSeq = -1;
  let cancelRequested = false;
  let settle: (o: JobOutcome<R>) => void = () => {};
  const finished = new Promise<JobOutcome<R>>((resolve) => {
    let settled = false;
    settle = (o) => {
      if (settled) return;
      settled = true;
      resolve(o);
      void worker.terminate();
    };
  });
  const send = (msg: Unsequenced<HostToWorker>) => worker.postMessage({ ...msg, seq: seq++ } as HostToWorker);

  worker.on('message', (msg: WorkerToHost) => {
    if (msg.seq <= lastSeq) return; // stale or duplicated
    lastSeq = msg.seq;
    switch (msg.type) {
      case 'ready':
        send({ type: 'start', job: options.job });
        break;
      case 'event':
        options.onEvent?.(msg.event as E);
        break;
      case 'done':
        settle({ status: 'done', result: msg.result as R });
        break;
      case 'error':
        settle(msg.cancelled || cancelRequested ? { status: 'cancelled', error: msg.error } : { status: 'failed', error: msg.error });
        break;
    }
  });
  worker.on('error', (err) => {
    settle({ status: 'failed', error: { name: err.name, message: `worker crashed: ${err.message}`, stack: err.stack } });
  });
  worker.on('exit', (code) => {
    if (cancelRequested) settle({ status: 'cancelled', error: { name: 'CancelledError', message: 'cancelled' } });
    else settle({ status: 'failed', error: { name: 'WorkerExit', message: `worker exited unexpectedly with code ${code}` } });
  });

  return {
    finished,
    cancel(graceMs = 5000) {
      if (cancelRequested) return;
      cancelRequested = true;
      send({ type: 'cancel' });
      const timer = setTimeout(() => void worker.terminate(), graceMs);
      void finished.then(() => clearTimeout(timer));
    },
  };
}

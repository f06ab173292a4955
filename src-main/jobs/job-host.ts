/**
 * Runs one job in a worker_threads worker: streams its events, supports cancel, and reports a worker
 * that died (crash, out of memory, terminate) as a failure with the reason. Long work never runs on
 * the caller's thread, so the Electron main process and the web server stay responsive.
 */
import { Worker } from 'node:worker_threads';
import { toErrorInfo, type ErrorInfo } from '../common/errors';
import type { CallHooks, HostToWorker, Unsequenced, WorkerAsk, WorkerToHost } from './messages';

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
  /**
   * Answers the job's calls to its host (worker-runtime's callHost), e.g. a run handing its training
   * to a GPU window. Without it every such call fails with an error saying so.
   */
  answer?: HostAnswerer;
}

/** What answers a job's host calls: the method, its payload, a signal the job's cancel fires, progress back. */
export type HostAnswerer = (method: string, payload: unknown, hooks: CallHooks<unknown>) => Promise<unknown>;

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
  // The job's calls to this host in flight, by id, so host-cancel (and the job ending) can abort them.
  const asks = new Map<number, AbortController>();
  const ask = (msg: Extract<WorkerAsk, { type: 'host-call' }>) => {
    const abort = new AbortController();
    asks.set(msg.id, abort);
    const answer = options.answer ?? (async (method: string) => Promise.reject(new Error(`this job host answers no calls (${method})`)));
    const reply = (m: Unsequenced<HostToWorker>) => {
      if (!asks.delete(msg.id)) return; // withdrawn, or the job ended
      try {
        send(m);
      } catch (err) {
        send({ type: 'host-error', id: msg.id, error: toErrorInfo(err) });
      }
    };
    new Promise((resolve) => resolve(answer(msg.method, msg.payload, { signal: abort.signal, onProgress: (progress) => asks.has(msg.id) && send({ type: 'host-progress', id: msg.id, progress }) }))).then(
      (result) => reply({ type: 'host-result', id: msg.id, result }),
      (err) => reply({ type: 'host-error', id: msg.id, error: toErrorInfo(err) }),
    );
  };
  void finished.then(() => {
    for (const a of asks.values()) a.abort();
    asks.clear();
  });

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
      case 'host-call':
        ask(msg);
        break;
      case 'host-cancel': {
        const a = asks.get(msg.id);
        asks.delete(msg.id);
        a?.abort();
        break;
      }
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

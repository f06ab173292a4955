/**
 * The worker side of the job protocols. A job module calls `serveJob(runner)`; the runner gets the
 * job, an emit function for events, and an AbortSignal that fires when the host cancels. The
 * long-lived engine worker calls `serveMethods(handlers)` instead and answers many calls.
 */
import { parentPort } from 'node:worker_threads';
import { CancelledError, fromErrorInfo, toErrorInfo } from '../common/errors';
import type { CallHooks, EngineToHost, HostAnswer, HostToEngine, HostToWorker, MethodHandlers, MethodMap, Unsequenced, WorkerToHost } from './messages';

/** Calls the job host (its `answer` option): resolves with its result, streams its progress, withdrawn by `signal`. */
export type HostCall = (method: string, payload: unknown, hooks?: Partial<CallHooks<unknown>>) => Promise<unknown>;

export type JobRunner = (job: unknown, emit: (event: unknown) => void, signal: AbortSignal, callHost: HostCall) => Promise<unknown>;

export function serveJob(runner: JobRunner): void {
  const port = parentPort;
  if (!port) throw new Error('serveJob must run inside a worker thread');
  let seq = 0;
  const post = (msg: Unsequenced<WorkerToHost>) => port.postMessage({ ...msg, seq: seq++ } as WorkerToHost);
  const abort = new AbortController();
  let nextId = 0;
  const calls = new Map<number, { resolve(r: unknown): void; reject(e: Error): void; onProgress?: (p: unknown) => void }>();
  const callHost: HostCall = (method, payload, hooks = {}) => {
    const { signal, onProgress } = hooks;
    if (signal?.aborted) return Promise.reject(new CancelledError());
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!calls.delete(id)) return;
        post({ type: 'host-cancel', id });
        reject(new CancelledError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);
      calls.set(id, { resolve: (r) => (done(), resolve(r)), reject: (e) => (done(), reject(e)), onProgress });
      post({ type: 'host-call', id, method, payload });
    });
  };
  const answered = (msg: HostAnswer) => {
    const call = calls.get(msg.id);
    if (!call) return; // withdrawn
    if (msg.type === 'host-progress') {
      try {
        call.onProgress?.(msg.progress);
      } catch (err) {
        // The job's own progress handler failed: the call is withdrawn and fails with that error.
        calls.delete(msg.id);
        post({ type: 'host-cancel', id: msg.id });
        call.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return;
    }
    calls.delete(msg.id);
    if (msg.type === 'host-result') call.resolve(msg.result);
    else call.reject(fromErrorInfo(msg.error));
  };
  port.on('message', (msg: HostToWorker) => {
    if (msg.type === 'cancel') abort.abort(new CancelledError());
    if (msg.type === 'host-progress' || msg.type === 'host-result' || msg.type === 'host-error') answered(msg);
    if (msg.type === 'start') {
      runner(msg.job, (event) => post({ type: 'event', event }), abort.signal, callHost).then(
        (result) => post({ type: 'done', result }),
        (err) => post({ type: 'error', error: toErrorInfo(err), cancelled: err instanceof CancelledError || abort.signal.aborted }),
      );
    }
  });
  post({ type: 'ready' });
}

/**
 * Answers calls from an EngineHost (jobs/engine-host.ts) until the worker is terminated. Calls run
 * concurrently (interleaved at their awaits); each has its own AbortSignal, fired by the host's
 * cancel for that call.
 */
export function serveMethods<M extends MethodMap<M>>(handlers: MethodHandlers<M>): void {
  const port = parentPort;
  if (!port) throw new Error('serveMethods must run inside a worker thread');
  let seq = 0;
  const post = (msg: Unsequenced<EngineToHost>) => port.postMessage({ ...msg, seq: seq++ } as EngineToHost);
  const calls = new Map<number, AbortController>();
  const table = handlers as Record<string, MethodHandlers<M>[keyof M]>;
  port.on('message', (msg: HostToEngine) => {
    if (msg.type === 'cancel') {
      calls.get(msg.id)?.abort(new CancelledError());
      return;
    }
    const { id, method } = msg;
    const abort = new AbortController();
    calls.set(id, abort);
    const answer = (reply: Unsequenced<EngineToHost>) => {
      calls.delete(id);
      try {
        post(reply);
      } catch (err) {
        // A result that cannot be cloned (a function, a class with private state) is the method's bug.
        post({ type: 'error', id, error: toErrorInfo(err), cancelled: false });
      }
    };
    new Promise((resolve) => {
      if (!Object.prototype.hasOwnProperty.call(table, method)) throw new Error(`the engine worker has no method "${method}"`);
      resolve(table[method](msg.payload as never, { signal: abort.signal, onProgress: (progress) => post({ type: 'progress', id, progress }) }));
    }).then(
      (result) => answer({ type: 'result', id, result }),
      (err) => answer({ type: 'error', id, error: toErrorInfo(err), cancelled: err instanceof CancelledError || abort.signal.aborted }),
    );
  });
  post({ type: 'ready' });
}

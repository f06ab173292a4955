/**
 * The worker side of the job protocols. A job module calls `serveJob(runner)`; the runner gets the
 * job, an emit function for events, and an AbortSignal that fires when the host cancels. The
 * long-lived engine worker calls `serveMethods(handlers)` instead and answers many calls.
 */
import { parentPort } from 'node:worker_threads';
import { CancelledError, toErrorInfo } from '../common/errors';
import type { EngineToHost, HostToEngine, HostToWorker, MethodHandlers, MethodMap, Unsequenced, WorkerToHost } from './messages';

export type JobRunner = (job: unknown, emit: (event: unknown) => void, signal: AbortSignal) => Promise<unknown>;

export function serveJob(runner: JobRunner): void {
  const port = parentPort;
  if (!port) throw new Error('serveJob must run inside a worker thread');
  let seq = 0;
  const post = (msg: Unsequenced<WorkerToHost>) => port.postMessage({ ...msg, seq: seq++ } as WorkerToHost);
  const abort = new AbortController();
  port.on('message', (msg: HostToWorker) => {
    if (msg.type === 'cancel') abort.abort(new CancelledError());
    if (msg.type === 'start') {
      runner(msg.job, (event) => post({ type: 'event', event }), abort.signal).then(
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

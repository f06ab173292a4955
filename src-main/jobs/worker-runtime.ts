/**
 * The worker side of the job protocol. A job module calls `serveJob(runner)`; the runner gets the
 * job, an emit function for events, and an AbortSignal that fires when the host cancels.
 */
import { parentPort } from 'node:worker_threads';
import { CancelledError, toErrorInfo } from '../common/errors';
import type { HostToWorker, Unsequenced, WorkerToHost } from './messages';

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

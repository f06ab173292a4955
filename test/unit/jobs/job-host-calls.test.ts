/**
 * A job asking its host (the run worker handing training to a GPU window): the worker calls, the
 * host's `answer` streams progress and answers, errors cross with their names, a cancelled job
 * withdraws its call (the host's signal fires), and a host without `answer` says so.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startJob, type HostAnswerer } from '../../../src-main/jobs/job-host';
import { GpuPeerLostError } from '../../../src-main/app/gpu-peers';

const entry = pathToFileURL(path.resolve(__dirname, '../../fixtures/jobs/asking-job.ts')).href;

describe('job host calls from the worker', () => {
  it('the host answers the worker\'s call, its progress arriving in order before the answer', async () => {
    const events: unknown[] = [];
    const answer: HostAnswerer = async (method, payload, hooks) => {
      for (let i = 0; i < 3; i++) hooks.onProgress({ i });
      return { method, doubled: (payload as { n: number }).n * 2, typed: new Float32Array([1.5, 2.5]) };
    };
    const outcome = await startJob({ entry, job: { method: 'double', payload: { n: 21 } }, answer, onEvent: (e) => events.push(e) }).finished;
    expect(outcome.status).toBe('done');
    if (outcome.status !== 'done') return;
    expect(outcome.result).toEqual({ result: { method: 'double', doubled: 42, typed: new Float32Array([1.5, 2.5]) } });
    expect(events).toEqual([{ progress: { i: 0 } }, { progress: { i: 1 } }, { progress: { i: 2 } }]);
  });

  it('an error the host throws reaches the worker with its name and message', async () => {
    const answer: HostAnswerer = async () => {
      throw new GpuPeerLostError('the GPU window stopped answering: no heartbeat for 16 s');
    };
    const outcome = await startJob({ entry, job: { method: 'gpu.runPruning', payload: {} }, answer }).finished;
    expect(outcome).toEqual({ status: 'done', result: { error: { name: 'GpuPeerLostError', message: 'the GPU window stopped answering: no heartbeat for 16 s' } } });
  });

  it('a host without an answerer refuses the call, naming the method', async () => {
    const outcome = await startJob({ entry, job: { method: 'gpu.choose', payload: {} } }).finished;
    expect(outcome).toEqual({ status: 'done', result: { error: { name: 'Error', message: 'this job host answers no calls (gpu.choose)' } } });
  });

  it('cancelling the job withdraws its call: the host\'s signal fires and the job ends cancelled', async () => {
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let hostSignal: AbortSignal | undefined;
    const answer: HostAnswerer = (_method, _payload, hooks) =>
      new Promise((_resolve, reject) => {
        hostSignal = hooks.signal;
        hooks.signal.addEventListener('abort', () => reject(new Error('aborted by the worker')));
        started();
      });
    const job = startJob({ entry, job: { method: 'slow', payload: {} }, answer });
    await running;
    expect(hostSignal?.aborted).toBe(false);
    job.cancel();
    const outcome = await job.finished;
    expect(outcome.status).toBe('cancelled');
    expect(hostSignal?.aborted).toBe(true);
  });
});

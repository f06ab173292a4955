import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startJob } from '../../../src-main/jobs/job-host';

const entry = pathToFileURL(path.resolve(__dirname, '../../fixtures/jobs/counting-job.ts')).href;

describe('job host', () => {
  it('streams events in order and returns the result', async () => {
    const events: { step: number }[] = [];
    const job = startJob<{ step: number }, { total: number }>({ entry, job: { count: 5, stepMs: 1, mode: 'ok' }, onEvent: (e) => events.push(e) });
    const outcome = await job.finished;
    expect(outcome).toEqual({ status: 'done', result: { total: 5 } });
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3, 4]);
  });

  it('an error thrown in the job arrives as a failure with its name and message', async () => {
    const outcome = await startJob({ entry, job: { count: 5, stepMs: 1, mode: 'throw' } }).finished;
    expect(outcome.status).toBe('failed');
    if (outcome.status !== 'failed') return;
    expect(outcome.error.name).toBe('RangeError');
    expect(outcome.error.message).toBe('step 2 went wrong');
  });

  it('a worker that dies is reported as failed with the reason', async () => {
    const outcome = await startJob({ entry, job: { count: 5, stepMs: 1, mode: 'exit' } }).finished;
    expect(outcome.status).toBe('failed');
    if (outcome.status !== 'failed') return;
    expect(outcome.error.message).toContain('exited unexpectedly with code 7');
  });

  it('cancel stops the job cleanly at its next check', async () => {
    const events: unknown[] = [];
    const job = startJob({ entry, job: { count: 1000, stepMs: 5, mode: 'ok' }, onEvent: (e) => events.push(e) });
    while (events.length < 3) await new Promise((r) => setTimeout(r, 5));
    job.cancel();
    const outcome = await job.finished;
    expect(outcome.status).toBe('cancelled');
    expect(events.length).toBeLessThan(1000);
  });

  it('cancel terminates a worker that never checks', async () => {
    const events: unknown[] = [];
    const job = startJob({ entry, job: { count: 1000, stepMs: 50, mode: 'ignore-cancel' }, onEvent: (e) => events.push(e) });
    while (events.length < 1) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    job.cancel(200);
    const outcome = await job.finished;
    expect(outcome.status).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, toErrorInfo } from '../../../src-main/common/errors';
import { EngineHost, EngineWorkerError } from '../../../src-main/jobs/engine-host';
import type { TestMethods } from '../../fixtures/jobs/engine-methods';

const entry = pathToFileURL(path.resolve(__dirname, '../../fixtures/jobs/engine-methods.ts')).href;
const hosts: EngineHost<TestMethods>[] = [];
const host = (cancelGraceMs = 5000) => {
  const h = new EngineHost<TestMethods>({ entry, init: { store: 'x.db' }, cancelGraceMs });
  hosts.push(h);
  return h;
};
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: Error) => e,
  );
}

describe('engine host', () => {
  it('starts its worker on the first call and answers many calls from that one worker', async () => {
    const h = host();
    expect(h.running).toBe(false);
    const [a, b] = await Promise.all([h.call('echo', { text: 'a' }), h.call('echo', { text: 'b' })]);
    expect(h.running).toBe(true);
    expect([a.text, b.text]).toEqual(['a', 'b']);
    expect(a.init).toEqual({ store: 'x.db' });
    const c = await h.call('echo', { text: 'c' });
    expect(c.threadId).toBe(a.threadId); // same worker, not a new one per call
  });

  it('a named error arrives as its class with message, file and exit code', async () => {
    const err = await rejection(host().call('fail', { kind: 'config' }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(toErrorInfo(err)).toMatchObject({ name: 'ConfigError', message: 'sparsity must be in [0, 1), got 1.2', file: '/data/config.json', exitCode: 2 });
    expect(err.stack).toContain('engine-methods.ts'); // where it was thrown, in the worker
  });

  it('any other error keeps its name and message, and no exit code is invented', async () => {
    const err = await rejection(host().call('fail', { kind: 'range' }));
    expect(toErrorInfo(err)).toEqual({ name: 'RangeError', message: 'index 9 out of range', stack: expect.stringContaining('RangeError') });
  });

  it('streams progress in order, then the result', async () => {
    const steps: number[] = [];
    const r = await host().call('count', { steps: 5, stepMs: 1 }, { onProgress: (p) => steps.push(p.step) });
    expect(r).toEqual({ counted: 5 });
    expect(steps).toEqual([0, 1, 2, 3, 4]);
  });

  it('cancel stops one call at its next check and leaves the others running', async () => {
    const h = host();
    const abort = new AbortController();
    const steps: number[] = [];
    const cancelled = h.call('count', { steps: 1000, stepMs: 5 }, { signal: abort.signal, onProgress: (p) => steps.push(p.step) });
    const other = h.call('count', { steps: 20, stepMs: 5 });
    while (steps.length < 3) await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    expect(await rejection(cancelled)).toBeInstanceOf(CancelledError);
    expect(steps.length).toBeLessThan(1000);
    expect(await other).toEqual({ counted: 20 });
  });

  it('a call that ignores cancel is answered as cancelled after the grace, and a fresh worker takes the next call', async () => {
    const h = host(200);
    const first = await h.call('echo', { text: 'before' });
    const abort = new AbortController();
    let started = false;
    const stuck = h.call('count', { steps: 100, stepMs: 100, ignoreCancel: true }, { signal: abort.signal, onProgress: () => (started = true) });
    while (!started) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    abort.abort();
    expect(await rejection(stuck)).toBeInstanceOf(CancelledError);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(h.running).toBe(false); // terminated: it was busy with work nobody wanted
    const after = await h.call('echo', { text: 'after' });
    expect(after.text).toBe('after');
    expect(after.threadId).not.toBe(first.threadId);
  });

  it('a worker that exits answers every pending call with an error naming the call, and the next call restarts it', async () => {
    const h = host();
    const slow = h.call('count', { steps: 1000, stepMs: 5 });
    await h.call('echo', { text: 'up' });
    const exit = h.call('exit', { code: 3 });
    const [slowErr, exitErr] = await Promise.all([rejection(slow), rejection(exit)]);
    expect(slowErr).toBeInstanceOf(EngineWorkerError);
    expect(slowErr.message).toBe('the engine worker exited unexpectedly (code 3) while count was running');
    expect(exitErr.message).toBe('the engine worker exited unexpectedly (code 3) while exit was running');
    expect(h.running).toBe(false);
    expect((await h.call('echo', { text: 'again' })).text).toBe('again');
  });

  it('an uncaught exception in the worker is a crash with its reason, not a hang', async () => {
    const err = await rejection(host().call('throwLater', {}));
    expect(err).toBeInstanceOf(EngineWorkerError);
    expect(err.message).toBe('the engine worker crashed while throwLater was running: TypeError: boom outside any call');
  });

  it('an entry that cannot load fails the call with the reason', async () => {
    const h = new EngineHost<TestMethods>({ entry: pathToFileURL(path.resolve(__dirname, 'no-such-entry.ts')).href });
    hosts.push(h);
    const err = await rejection(h.call('echo', { text: 'x' }));
    expect(err).toBeInstanceOf(EngineWorkerError);
    expect(err.message).toMatch(/^the engine worker crashed while echo was running: .*no-such-entry/);
  });

  it('close answers pending calls and refuses new ones', async () => {
    const h = host();
    const pending = rejection(h.call('count', { steps: 1000, stepMs: 5 }));
    await h.call('echo', { text: 'up' });
    await h.close();
    expect((await pending).message).toBe('the engine worker was closed while count was running');
    expect((await rejection(h.call('echo', { text: 'late' }))).message).toBe('the engine worker is closed; echo was not run');
  });

  it('an unknown method is refused by the worker with its name', async () => {
    const h = host() as unknown as EngineHost<{ nope: { payload: object; result: never; progress: never } }>;
    expect((await rejection(h.call('nope', {}))).message).toBe('the engine worker has no method "nope"');
  });
});

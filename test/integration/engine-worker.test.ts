/**
 * The real engine worker (app/engine-job.ts) behind createEngine: the calls the UI makes answer as
 * the services do in-process, errors keep their text, and evaluate streams progress and cancels.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, toErrorInfo } from '../../src-main/common/errors';
import { createEngine } from '../../src-main/app/engine-worker';
import { describeModel } from '../../src-main/app/model-service';
import type { WorkProgress } from '../../src-main/app/evaluate-service';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-engine-'));
const engine = createEngine({ dbPath: path.join(home, 'topiary.db'), home });

beforeAll(() => {
  process.env.TOPIARY_BACKEND = 'wasm';
});
afterAll(async () => {
  await engine.close();
  fs.rmSync(home, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>) {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

describe('the engine worker', () => {
  it('describes a model the way the service does in-process, and a bad model fails with the same error', async () => {
    const remote = await engine.call('describeModel', { spec: 'demo' });
    const local = await describeModel('demo');
    expect(remote).toEqual(local);
    const missing = path.join(home, 'nowhere', 'model.json');
    const remoteErr = toErrorInfo(await failure(engine.call('describeModel', { spec: missing })));
    const localErr = toErrorInfo(await failure(describeModel(missing)));
    expect({ ...remoteErr, stack: undefined }).toEqual({ ...localErr, stack: undefined });
    expect(remoteErr.message).toContain(missing);
  });

  it('evaluate streams its progress, and a cancelled evaluate stops with CancelledError', async () => {
    const seen: WorkProgress[] = [];
    const r = await engine.call('evaluate', { model: 'demo', data: 'demo', limit: 200, batchSize: 50, latencyRuns: 1 }, { onProgress: (p) => seen.push(p) });
    expect(r.samples).toBe(200);
    expect(r.accuracy).toBeGreaterThan(0.5);
    expect(seen.filter((p) => p.phase === 'evaluate').map((p) => p.done)).toEqual([50, 100, 150, 200]);

    const abort = new AbortController();
    const cancelled = failure(
      engine.call('evaluate', { model: 'demo', data: 'demo', batchSize: 10, latencyRuns: 1 }, {
        signal: abort.signal,
        onProgress: (p) => p.phase === 'evaluate' && abort.abort(),
      }),
    );
    expect(await cancelled).toBeInstanceOf(CancelledError);
    // The worker is still there for the next call.
    expect((await engine.call('describeModel', { spec: 'demo' })).analysis.params).toBeGreaterThan(0);
  });
});

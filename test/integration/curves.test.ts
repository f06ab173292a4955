import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openAppServices, type AppServices } from '../../src-main/app/services';
import { initBackend } from '../../src-main/node/backend';
import { saveModel } from '../../src-main/node/models';
import { lenet300100 } from '../../src-main/engine/models';
import { readRunRecord, recoverRuns } from '../../src-main/app/run-record';
import { openStore } from '../../src-main/store/db';
import type { RunServiceEvent } from '../../src-main/app/run-service';
import type { CurvePoint } from '../../src-main/common/contract';
import type { RunConfigInput } from '../../src-main/common/run-config';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-curves-'));
const modelDir = path.join(home, 'mlp');
let services: AppServices;

// 2 epochs of 512 samples at batch 32: 16 steps an epoch, 32 in all, so every step is a point.
const quick: RunConfigInput = {
  model: modelDir,
  data: 'demo',
  evalLimit: 200,
  latencyRuns: 3,
  exports: [],
  receiptBudgetMs: 0,
  prune: { method: 'magnitude', sparsity: 0.6, finetune: { epochs: 2, maxSamplesPerEpoch: 512, batchSize: 32, learningRate: 0.002 } },
};

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  await initBackend();
  const m = lenet300100({ seed: 5 });
  await saveModel(m, modelDir);
  m.dispose();
  services = await openAppServices({ dbPath: path.join(home, 'topiary.db'), home, mode: 'in-process' });
});
afterAll(async () => {
  await services.close();
  fs.rmSync(home, { recursive: true, force: true });
});

async function run(): Promise<{ runId: string; live: CurvePoint[] }> {
  const events: RunServiceEvent[] = [];
  const off = services.runs.on((e) => events.push(e));
  const { runId } = services.runs.start(quick);
  const finished = await services.runs.wait(runId);
  off();
  expect(finished.status, JSON.stringify(finished.error)).toBe('done');
  const live = events.flatMap((e) => (e.name === 'runProgress' && e.payload.curve ? [e.payload.curve] : []));
  return { runId, live: live.filter((p, i) => live.findIndex((q) => q.step === p.step) === i) };
}

describe('training curves of a real run', () => {
  it('stores a point per step in the store and in run.json, the same points the progress events carried', async () => {
    const { runId, live } = await run();
    const detail = services.history.show(runId);
    expect(detail.curves.map((p) => p.step)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    expect(detail.curves[15].epoch).toBe(1);
    expect(detail.curves[31].epoch).toBe(2);
    for (const p of detail.curves) {
      expect(Object.keys(p.values).sort()).toEqual(['accuracy', 'loss', 'lr', 'sparsity']);
      expect(p.values.lr).toBe(0.002);
      expect(p.values.sparsity).toBeCloseTo(0.6, 2);
    }
    const walls = detail.curves.map((p) => p.wallMs);
    expect(walls).toEqual([...walls].sort((a, b) => a - b));
    expect(walls[0]).toBeGreaterThan(0);
    expect(walls[31]).toBeLessThan(Date.parse(detail.finishedAt!) - Date.parse(detail.createdAt) + 60_000);
    // What a monitor saw live is what a reload reads.
    expect(live).toEqual(detail.curves);
    const record = readRunRecord(path.join(services.runsDir, runId, 'run.json'));
    expect(record.run.curves).toEqual(detail.curves);
    // Compare carries each run's curve.
    const other = (await run()).runId;
    const cmp = services.history.compare([runId, other]);
    expect(cmp.curves.map((c) => [c.runId, c.points.length])).toEqual([[runId, 32], [other, 32]]);
  }, 240_000);

  it('keeps every point in run.json when the database write fails, and `runs recover` restores them', async () => {
    const spy = vi.spyOn(services.store.writer, 'appendCurvePoints').mockImplementation(() => {
      throw new Error('disk I/O error');
    });
    const events: RunServiceEvent[] = [];
    const off = services.runs.on((e) => events.push(e));
    const { runId } = services.runs.start(quick);
    const finished = await services.runs.wait(runId);
    off();
    spy.mockRestore();
    expect(finished).toMatchObject({ status: 'done', recorded: false });
    expect(finished.recordError?.message).toMatch(/disk I\/O error/);
    const record = readRunRecord(path.join(services.runsDir, runId, 'run.json'));
    expect(record.run.curves.map((p) => p.step)).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
    const fresh = openStore(path.join(home, 'fresh.db'));
    try {
      expect(recoverRuns(fresh, path.join(services.runsDir, runId)).recovered).toEqual([runId]);
      expect(fresh.reader.getRun(runId).curves).toEqual(record.run.curves);
    } finally {
      fresh.close();
    }
  }, 240_000);
});

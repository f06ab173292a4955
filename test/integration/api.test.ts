import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../src-main/app/api';
import { describeCandidate } from '../../src-main/app/fit-jobs';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-api-'));
let api: Api;
const events: { name: string; payload: any }[] = [];

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  api = await createApi({ home, dbPath: path.join(home, 'topiary.db') });
  api.subscribe((name, payload) => events.push({ name, payload }));
});
afterAll(async () => {
  await api.close();
});

function next(name: string, match: (p: any) => boolean, timeoutMs = 120_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${timeoutMs} ms`)), timeoutMs);
    const check = setInterval(() => {
      const hit = events.find((e) => e.name === name && match(e.payload));
      if (hit) {
        clearTimeout(timer);
        clearInterval(check);
        resolve(hit.payload);
      }
    }, 20);
  });
}

describe('the app API (what the window and web mode call)', () => {
  it('fit to budget runs in a worker, reports what it tried, and records the winning run', async () => {
    const { jobId } = (await api.invoke('startFit', { model: 'demo', data: 'demo', profile: 'mcu-cortex-m4', epochs: 1, maxSamplesPerEpoch: 256, evalLimit: 200 })) as { jobId: string };
    const finished = await next('fitFinished', (p) => p.jobId === jobId);
    expect(finished.status, JSON.stringify(finished.error)).toBe('done');
    expect(finished.result.feasible).toBe(true);
    const progress = events.filter((e) => e.name === 'fitProgress' && e.payload.jobId === jobId).map((e) => e.payload.message);
    expect(progress.some((m: string) => /^candidate 1: int8, .* file, .* arena/.test(m))).toBe(true);
    const run = (await api.invoke('getRun', { runId: finished.result.runId })) as { status: string; profileId: string; tags: string[] };
    expect(run).toMatchObject({ status: 'done', profileId: 'mcu-cortex-m4' });
    expect(run.tags).toContain('fit-to-budget');
    // The run's own progress reached the front doors too.
    expect(events.some((e) => e.name === 'runProgress' && e.payload.runId === finished.result.runId)).toBe(true);
  });

  it('fit to budget for an unknown profile is refused before any work starts', async () => {
    await expect(api.invoke('startFit', { model: 'demo', data: 'demo', profile: 'no-such-device' })).rejects.toThrow(/no-such-device/);
  });

  it('previewDataset draws a few samples per class as the model sees them', async () => {
    const p = (await api.invoke('previewDataset', { spec: 'demo', model: 'demo', inputScale: 'auto', resize: 'crop', perClass: 2, maxClasses: 12 })) as {
      sampleShape: number[]; inputScale: string; inputScaleReason: string; classes: { name: string; images: { src: string }[] }[];
    };
    expect(p.sampleShape).toEqual([28, 28, 1]);
    expect(p.inputScale).toBe('0-1');
    expect(p.inputScaleReason).toMatch(/default/);
    expect(p.classes).toHaveLength(10);
    expect(p.classes.every((c) => c.images.length === 2 && c.images.every((i) => i.src.startsWith('data:image/png;base64,')))).toBe(true);
    const d = (await api.invoke('describeDataset', { spec: 'demo', model: 'demo', inputScale: '0-1' })) as { sampleShape: number[]; classNames: string[] };
    expect(d.sampleShape).toEqual([28, 28, 1]);
    expect(d.classNames).toHaveLength(10);
  });

  it('describeModel accepts run:<id> for a recorded run (derive)', async () => {
    const page = (await api.invoke('listRuns', { limit: 1, offset: 0 })) as { items: { id: string }[] };
    const d = (await api.invoke('describeModel', { spec: `run:${page.items[0].id.slice(0, 8)}` })) as { analysis: { params: number } };
    expect(d.analysis.params).toBeGreaterThan(0);
  });
});

describe('describeCandidate', () => {
  it('says what was tried and whether it fits, in words', () => {
    const line = describeCandidate(3, {
      index: 2, numericType: 'int8', allocation: 'uniform', level: 0.4, perLayer: {}, fits: false, failed: ['ram'],
      margins: {} as never, sizeBytes: 2048, arenaBytes: 1024, params: 1, macs: 1, latencyEstimateMs: 1, accuracy: 0.5,
    });
    expect(line).toBe('candidate 3: int8, uniform 40 % -> 2.0 KiB file, 1.0 KiB arena, accuracy 50.0 %: misses ram');
  });
});

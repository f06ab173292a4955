import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAppServices, type AppServices } from '../../src-main/app/services';
import { initBackend } from '../../src-main/node/backend';
import { loadModel, saveModel } from '../../src-main/node/models';
import { replayRun } from '../../src-main/app/replay-service';
import { lenet300100 } from '../../src-main/engine/models';
import type { RunServiceEvent } from '../../src-main/app/run-service';
import type { SpeedReceipt } from '../../src-main/engine/measure/receipt';
import type { RunConfigInput } from '../../src-main/common/run-config';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-runs-'));
const modelDir = path.join(home, 'mlp');
let services: AppServices;

const quick = (extra: Partial<RunConfigInput> = {}): RunConfigInput => ({
  model: modelDir,
  data: 'demo',
  evalLimit: 200,
  latencyRuns: 3,
  prune: { method: 'magnitude', sparsity: 0.7, finetune: { epochs: 1, maxSamplesPerEpoch: 256, batchSize: 64 } },
  ...extra,
});

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  await initBackend();
  const m = lenet300100({ seed: 3 });
  await saveModel(m, modelDir);
  m.dispose();
  services = await openAppServices({ dbPath: path.join(home, 'topiary.db'), home, mode: 'in-process' });
});
afterAll(async () => {
  await services.close();
});

describe('run service', () => {
  it('records a run as it progresses and ends it done, with before/after metrics, layers, plan and an export', async () => {
    const events: RunServiceEvent[] = [];
    const off = services.runs.on((e) => events.push(e));
    const startTensors = tf.memory().numTensors;
    const { runId } = services.runs.start(quick({ exports: [{ format: 'tflite', quant: 'none', verifySamples: 100 }], receiptBudgetMs: 500 }));
    const finished = await services.runs.wait(runId);
    off();
    expect(finished, JSON.stringify(finished.error)).toMatchObject({ status: 'done', recorded: true });
    expect(tf.memory().numTensors).toBe(startTensors);

    const run = services.history.show(runId);
    expect(run.status).toBe('done');
    expect(run.backend).toBe('wasm');
    expect(run.versions).toMatchObject({ tfjs: tf.version.tfjs });
    const summary = run.summary as { before: Record<string, number>; after: Record<string, number> };
    expect(summary.before.nonZeros).toBeGreaterThan(summary.after.nonZeros * 2);
    expect(summary.after.accuracy).toBeGreaterThan(0);
    expect(run.metrics.some((s) => s.phase === 'train' && s.name === 'loss' && s.points.length === 1)).toBe(true);
    expect(run.layers.filter((l) => l.phase === 'after').length).toBeGreaterThan(0);
    expect(run.plan).toMatchObject({ method: 'magnitude', granularity: 'unstructured' });
    const scanned = run.layers.filter((l) => l.phase === 'before' && l.sensitivity);
    expect(scanned.map((l) => l.layer).sort()).toEqual(['fc1', 'fc2', 'fc3']);
    expect((scanned[0].sensitivity as { sparsity: number[] }).sparsity).toEqual([0.3, 0.5, 0.7, 0.9]);
    expect(run.artifacts).toHaveLength(1);
    expect(run.artifacts[0]).toMatchObject({ format: 'tflite', status: 'ok' });
    expect(fs.existsSync(run.artifacts[0].path)).toBe(true);
    expect(fs.existsSync(path.join(path.dirname(run.artifacts[0].path), 'report.html'))).toBe(true);
    // The speedup receipt: the exported file and the parent's, timed in LiteRT in the same run.
    const [receipt] = (run.summary as unknown as { receipts: SpeedReceipt[] }).receipts;
    expect(receipt).toMatchObject({ format: 'tflite', quant: 'none', batch: 1, threads: 1, xnnpack: 'on' });
    expect(receipt.parent.latency.medianMs).toBeGreaterThan(0);
    expect(receipt.pruned.latency.runs).toBeGreaterThanOrEqual(15);
    expect(receipt.parent.params).toBe(receipt.pruned.params);
    expect(receipt.ratios.nonZeroMacs).toBeLessThan(0.5);
    expect(receipt.ratios.latency).toBeCloseTo(receipt.pruned.latency.medianMs / receipt.parent.latency.medianMs, 9);
    expect(receipt.ratios.bytes).toBeLessThan(1);
    expect(receipt.verdict).toMatch(/^non-zero MACs -\d+%, latency [+-]?[±\d]+%/);

    const phases = events.filter((e) => e.name === 'runProgress').map((e) => (e.payload as { phase: string }).phase);
    expect(phases).toEqual(expect.arrayContaining(['load', 'baseline', 'finetune', 'final', 'export', 'done']));
    // Fine-tuning counts finished batches: 256 samples at 64 end at 4/4, the first event already 1 done.
    const finetune = events.filter((e) => e.name === 'runProgress' && (e.payload as { phase: string }).phase === 'finetune').map((e) => e.payload as { done: number; total: number });
    expect(finetune[0].done).toBe(1);
    expect(finetune[finetune.length - 1]).toMatchObject({ done: 4, total: 4 });
    const fractions = events.filter((e) => e.name === 'runProgress').map((e) => (e.payload as { fraction: number }).fraction);
    expect(fractions.every((f, i) => i === 0 || f >= fractions[i - 1] - 1e-9)).toBe(true);
  });

  it('run:<id> derives a new run from an earlier run\'s pruned model and records the lineage', async () => {
    const first = services.history.list({ status: 'done' }).items[0];
    const { runId } = services.runs.start(quick({ model: `run:${first.id.slice(0, 8)}`, sensitivity: false, prune: { method: 'magnitude', sparsity: 0.85, finetune: { epochs: 0 } } }));
    const finished = await services.runs.wait(runId);
    expect(finished.status, JSON.stringify(finished.error)).toBe('done');
    const run = services.history.show(runId);
    expect(run.parentRunId).toBe(first.id);
    expect(run.config.model).toBe(`run:${first.id}`);
    const summary = run.summary as { before: Record<string, number> };
    expect(summary.before.nonZeros).toBeLessThan(services.history.show(first.id).layers.filter((l) => l.phase === 'before').reduce((a, l) => a + l.nonZeros, 0));
  });

  it('replaying a run\'s stored plan on the original model reproduces its pruned weights exactly', async () => {
    // Structured, no fine-tuning: the replayed model must equal the run's saved model bit for bit.
    const { runId } = services.runs.start(quick({ sensitivity: false, prune: { method: 'magnitude', granularity: 'structured', scope: 'layer', sparsity: 0.5, finetune: { epochs: 0 } } }));
    const finished = await services.runs.wait(runId);
    expect(finished.status, JSON.stringify(finished.error)).toBe('done');
    const out = path.join(home, 'replayed');
    const r = await replayRun(services, runId.slice(0, 8), out);
    expect(r.steps).toBe(1);
    const [replayed, saved] = await Promise.all([loadModel(out), loadModel(path.join(services.runsDir, runId, 'model'))]);
    expect(replayed.model.countParams()).toBe(saved.model.countParams());
    expect(replayed.model.countParams()).toBeLessThan(266_610);
    const a = replayed.model.getWeights().map((w) => w.dataSync());
    const b = saved.model.getWeights().map((w) => w.dataSync());
    expect(a.length).toBe(b.length);
    for (let i = 0; i < a.length; i++) expect(Array.from(a[i])).toEqual(Array.from(b[i]));
    replayed.model.dispose();
    saved.model.dispose();
  });

  it('a structured run for a device profile keeps widths multiples of the profile\'s channelMultiple, recorded in its config', async () => {
    const { runId } = services.runs.start(quick({
      sensitivity: false,
      profile: 'desktop-cpu',
      prune: { method: 'magnitude', granularity: 'structured', sparsity: 0.5, finetune: { epochs: 0 } },
    }));
    const finished = await services.runs.wait(runId);
    expect(finished.status, JSON.stringify(finished.error)).toBe('done');
    const run = services.history.show(runId);
    expect(run.config.prune).toMatchObject({ roundTo: 8, roundToSource: 'profile desktop-cpu' });
    const kept = (run.plan as { steps: { groups: { kept: number[]; channels: number }[] }[] }).steps[0].groups;
    expect(kept.length).toBeGreaterThan(0);
    for (const g of kept) expect(g.kept.length % 8 === 0 || g.kept.length === g.channels).toBe(true);
    // An explicit roundTo wins over the profile's.
    const explicit = services.runs.start(quick({ sensitivity: false, exports: [], profile: 'desktop-cpu', prune: { granularity: 'structured', sparsity: 0.5, roundTo: 2, finetune: { epochs: 0 } } }));
    await services.runs.wait(explicit.runId);
    expect(services.history.show(explicit.runId).config.prune).toMatchObject({ roundTo: 2 });
    expect((services.history.show(explicit.runId).config.prune as Record<string, unknown>).roundToSource).toBeUndefined();
  });

  it('runs wait in a queue and execute one at a time', async () => {
    const cfg = quick({ sensitivity: false, exports: [], prune: { method: 'magnitude', sparsity: 0.5, finetune: { epochs: 0 } } });
    const a = services.runs.start(cfg);
    const b = services.runs.start(cfg);
    expect(b.queued).toBe(1);
    expect(services.runs.pending()).toEqual({ running: [a.runId], queued: [b.runId] });
    const first = await services.runs.wait(a.runId);
    expect(first.status).toBe('done');
    expect((await services.runs.wait(b.runId)).status).toBe('done');
    const [ra, rb] = [services.history.show(a.runId), services.history.show(b.runId)];
    expect(Date.parse(rb.startedAt!)).toBeGreaterThanOrEqual(Date.parse(ra.finishedAt!));
  });

  it('a model file that cannot be read fails the run with the file named, and records nothing', async () => {
    const before = services.history.list({}).total;
    const { runId } = services.runs.start(quick({ model: path.join(home, 'missing-model') }));
    const finished = await services.runs.wait(runId);
    expect(finished.status).toBe('failed');
    expect(finished.recorded).toBe(false);
    expect(finished.error?.message).toContain('missing-model');
    expect(services.history.list({}).total).toBe(before);
  });

  it('a bad prune config is refused before anything runs', () => {
    expect(() => services.runs.start({ model: 'demo', data: 'demo', latencyRuns: -1 } as never)).toThrow(/latencyRuns/);
  });

  it('cancelling a running run marks it cancelled and keeps its partial history', async () => {
    const { runId } = services.runs.start(quick({ prune: { method: 'magnitude', sparsity: 0.5, finetune: { epochs: 50, maxSamplesPerEpoch: 256 } } }));
    await new Promise<void>((resolve) => {
      const off = services.runs.on((e) => {
        if (e.name === 'runProgress' && (e.payload as { phase: string }).phase === 'finetune') {
          off();
          resolve();
        }
      });
    });
    services.runs.cancel(runId);
    const finished = await services.runs.wait(runId);
    expect(finished.status).toBe('cancelled');
    const run = services.history.show(runId);
    expect(run.status).toBe('cancelled');
    expect(run.metrics.some((s) => s.phase === 'baseline')).toBe(true);
  });
});

describe('run service in a worker thread', () => {
  it('runs the job off the calling thread and records it', async () => {
    const workerServices = await openAppServices({ dbPath: path.join(home, 'worker.db'), home, mode: 'worker' });
    try {
      const { runId } = workerServices.runs.start(quick());
      const finished = await workerServices.runs.wait(runId);
      expect(finished, JSON.stringify(finished.error)).toMatchObject({ status: 'done', recorded: true });
      expect(workerServices.history.show(runId).status).toBe('done');
    } finally {
      await workerServices.close();
    }
  });
});

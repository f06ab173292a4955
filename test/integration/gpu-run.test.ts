/**
 * A run trained by a GPU peer, end to end in Node: the app's RunService in worker mode (the run in
 * a worker thread, its runPruning call crossing to the job host and on to the peer registry) and a
 * fake peer in this process that serves the call with the window's own code (gpu/remote-run.ts) on
 * the cpu backend. Checks what a user sees: where it trained (log line, summary.training), the
 * masks as asked, progress arriving, and the failures: a silent peer, a cancel crossing over.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GpuPeers } from '../../src-main/app/gpu-peers';
import type { RunServiceEvent } from '../../src-main/app/run-service';
import { openStoreServices, type AppServices } from '../../src-main/app/store-services';
import type { GpuInfo } from '../../src-main/common/contract/gpu';
import type { RunConfigInput } from '../../src-main/common/run-config';
import { lenet300100 } from '../../src-main/engine/models';
import { servePruningRequest } from '../../src-main/engine/remote/run';
import type { GpuProgress } from '../../src-main/engine/remote/wire';
import { saveModel } from '../../src-main/node/models';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-gpu-runs-'));
const modelDir = path.join(home, 'mlp');
const savedEnv = process.env.TOPIARY_BACKEND;
const ADAPTER = 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)';
const swiftshader: GpuInfo = {
  backend: 'webgl',
  adapter: ADAPTER,
  software: true,
  selfTest: { steps: 3, cpuLoss: 1, gpuLoss: 1, relDiff: 0, tolerance: 1e-5, passed: true, ms: 5 },
  skipped: [],
  tfjsVersion: tf.version.tfjs,
};

const quick = (extra: Partial<RunConfigInput> = {}): RunConfigInput => ({
  model: modelDir,
  data: 'demo',
  evalLimit: 100,
  latencyRuns: 3,
  sensitivity: false,
  receiptBudgetMs: 0,
  prune: { method: 'magnitude', sparsity: 0.7, schedule: { kind: 'poly', frequency: 2 }, finetune: { epochs: 1, maxSamplesPerEpoch: 128, batchSize: 32 } },
  ...extra,
});

let services: AppServices | undefined;
let peers: GpuPeers | undefined;
let stopPeer = () => {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  const m = lenet300100({ seed: 3 });
  await saveModel(m, modelDir);
  m.dispose();
});
afterEach(async () => {
  stopPeer();
  await services?.close();
  peers?.close();
  services = undefined;
  peers = undefined;
});
afterAll(() => {
  if (savedEnv === undefined) delete process.env.TOPIARY_BACKEND;
  else process.env.TOPIARY_BACKEND = savedEnv;
  fs.rmSync(home, { recursive: true, force: true });
});

/** A peer in this process: polls, serves with the window's code, posts progress and the answer. */
function fakePeer(registry: GpuPeers, info: GpuInfo, behave: 'serve' | 'go-silent' = 'serve') {
  const { peerId } = registry.register(info);
  const seen: { events: GpuProgress[]; cancelled: boolean; took: number } = { events: [], cancelled: false, took: 0 };
  let stopped = false;
  stopPeer = () => (stopped = true);
  void (async () => {
    while (!stopped) {
      const job = await registry.nextJob(peerId, 100).catch(() => undefined);
      if (!job) continue;
      seen.took++;
      if (behave === 'go-silent') return; // took the job, then the window closed
      const abort = new AbortController();
      try {
        const res = await servePruningRequest(job.request, { backend: 'webgl', adapter: ADAPTER, software: true }, {
          signal: abort.signal,
          onProgress: (p) => {
            seen.events.push(p);
            if (registry.progress(peerId, job.jobId, [p]).cancelled) {
              seen.cancelled = true;
              abort.abort();
            }
          },
        });
        registry.complete(peerId, job.jobId, res);
      } catch (err) {
        registry.fail(peerId, job.jobId, { name: (err as Error).name, message: (err as Error).message });
      }
    }
  })();
  return seen;
}

async function start(preference: string, lostAfterMs = 15_000) {
  process.env.TOPIARY_BACKEND = preference;
  peers = new GpuPeers({ lostAfterMs, checkEveryMs: 50 });
  services = await openStoreServices({ dbPath: path.join(home, `${preference}-${Date.now()}.db`), home, gpuPeers: peers });
  const events: RunServiceEvent[] = [];
  services.runs.on((e) => events.push(e));
  return { services, peers, events };
}

const logs = (events: RunServiceEvent[]) => events.filter((e) => e.name === 'runLog').map((e) => (e.payload as { message: string }).message);

describe('a run trained by a GPU peer', () => {
  it('TOPIARY_BACKEND=webgl: the run trains on the SwiftShader peer, records backend, adapter and software, masks as asked', async () => {
    const { services, peers, events } = await start('webgl');
    const seen = fakePeer(peers, swiftshader);
    const { runId } = services.runs.start(quick());
    const finished = await services.runs.wait(runId);
    expect(finished, JSON.stringify(finished.error)).toMatchObject({ status: 'done', recorded: true });
    expect(seen.took).toBe(1);
    const run = services.history.show(runId);
    const summary = run.summary as { training: Record<string, unknown>[]; prune: { achievedSparsity: number }; after: { nonZeros: number }; before: { nonZeros: number } };
    expect(summary.training).toHaveLength(1);
    expect(summary.training[0]).toMatchObject({ path: 'tfjs', backend: 'webgl', adapter: ADAPTER, software: true });
    expect(summary.prune.achievedSparsity).toBeCloseTo(0.7, 2);
    // The saved, measured model is the peer's: pruned (masks kept through training), not the original.
    expect(summary.after.nonZeros).toBeLessThan(summary.before.nonZeros * 0.45);
    expect(logs(events)).toContain(`GPU: training on webgl (${ADAPTER}, software rendering) in a GPU window`);
    expect(logs(events).filter((l) => l.startsWith('GPU: none used'))).toEqual([]);
    // The peer's progress became the run's: fine-tuning progress with loss, per-layer sparsity at a prune.
    const progress = events.filter((e) => e.name === 'runProgress').map((e) => e.payload as { phase: string; loss?: number; layerSparsity?: Record<string, number> });
    expect(progress.filter((p) => p.phase === 'finetune' && typeof p.loss === 'number').length).toBeGreaterThan(0);
    expect(Object.keys(progress.findLast((p) => p.phase === 'prune' && p.layerSparsity)?.layerSparsity ?? {})).toEqual(['fc1', 'fc2', 'fc3']);
    expect(seen.events.filter((e) => e.phase === 'prune').length).toBeGreaterThan(1); // poly re-pruned on the peer
    expect(run.metrics.some((s) => s.phase === 'train' && s.name === 'loss')).toBe(true);
  });

  it('auto with only a software peer: the run trains on the CPU and one line says why', async () => {
    const { services, peers, events } = await start('auto');
    const seen = fakePeer(peers, swiftshader);
    const { runId } = services.runs.start(quick());
    const finished = await services.runs.wait(runId);
    expect(finished, JSON.stringify(finished.error)).toMatchObject({ status: 'done' });
    expect(seen.took).toBe(0);
    const gpuLines = logs(events).filter((l) => l.startsWith('GPU:'));
    expect(gpuLines).toEqual([`GPU: none used (only a software GPU is connected (webgl on ${ADAPTER} (software)); auto does not train on software rendering, set TOPIARY_BACKEND=webgl or webgpu to use it)`]);
    const training = (services.history.show(runId).summary as { training: Record<string, unknown>[] }).training;
    expect(training[0]).not.toHaveProperty('backend');
  });

  it('a peer that took the run and went silent fails it with GpuPeerLostError instead of hanging', async () => {
    const { services, peers } = await start('webgl', 400);
    const seen = fakePeer(peers, swiftshader, 'go-silent');
    const { runId } = services.runs.start(quick());
    const finished = await services.runs.wait(runId);
    expect(seen.took).toBe(1);
    expect(finished.status).toBe('failed');
    expect(finished.error?.name).toBe('GpuPeerLostError');
    expect(finished.error?.message).toContain(`the GPU window training this run (webgl on ${ADAPTER}) stopped answering: no heartbeat for`);
  });

  it('cancelling the run reaches the peer, which stops; the run ends cancelled', async () => {
    const { services, peers, events } = await start('webgl');
    const seen = fakePeer(peers, swiftshader);
    const { runId } = services.runs.start(quick({ prune: { method: 'magnitude', sparsity: 0.7, finetune: { epochs: 50, batchSize: 8 } } }));
    while (!events.some((e) => e.name === 'runProgress' && (e.payload as { phase: string }).phase === 'finetune')) await new Promise((r) => setTimeout(r, 20));
    services.runs.cancel(runId);
    const finished = await services.runs.wait(runId);
    expect(finished.status).toBe('cancelled');
    for (let i = 0; i < 100 && !seen.cancelled; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen.cancelled).toBe(true);
  });
});

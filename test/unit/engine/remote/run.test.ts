/**
 * A delegated runPruning call, both ends in Node on the cpu backend (the GPU window runs the same
 * code on WebGL/WebGPU): request -> wire bytes -> the window's side -> wire bytes -> applied to the
 * run's model. Same backend, same seed: the weights must equal a local runPruning's exactly, masks
 * included, for a poly schedule that re-prunes during training and for structured pruning.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloneModel } from '../../../../src-main/engine/finetune/clone';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { runPruning } from '../../../../src-main/engine/prune/run';
import type { PruneConfig } from '../../../../src-main/engine/prune/types';
import { applyPruningResponse, pruningRequest, servePruningRequest } from '../../../../src-main/engine/remote/run';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, type GpuProgress } from '../../../../src-main/engine/remote/wire';
import { convnet, mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const device = { backend: 'webgl' as const, adapter: 'fake adapter', software: true };

async function delegated(model: tf.LayersModel, data: ReturnType<typeof syntheticDataset>, cfg: PruneConfig, events: GpuProgress[]) {
  const wire = encodeRequest('j', await pruningRequest(model, data, cfg));
  const answer = await servePruningRequest(decodeRequest(wire).request, device, { onProgress: (p) => events.push(p) });
  return applyPruningResponse(model, decodeResponse(encodeResponse(answer)), cfg);
}

const weightsOf = (m: tf.LayersModel) => m.weights.map((w) => Array.from(w.read().dataSync()));

describe('delegated runPruning', () => {
  it('poly unstructured: the run\'s own model gets the same weights as a local run, masks exact, progress streamed', async () => {
    const data = syntheticDataset([16], 3, 96, 16);
    const local = mlp();
    const remote = await cloneModel(local);
    const start = tf.memory().numTensors;
    const cfg = validatePruneConfig({ sparsity: 0.6, schedule: { kind: 'poly', frequency: 2 }, finetune: { epochs: 2, batchSize: 16, learningRate: 0.01 } }, local);
    const localEvents: GpuProgress[] = [];
    const want = await runPruning(local, data, cfg, { onProgress: (p) => localEvents.push(p) });
    const events: GpuProgress[] = [];
    const got = await delegated(remote, data, cfg, events);
    expect(got.model).toBe(remote); // in place, as a local unstructured run
    expect(got.device).toEqual(device);
    expect(weightsOf(remote)).toEqual(weightsOf(local));
    // The plan names the run's own variables (local and remote are two models: fc1/kernel vs fc1/kernel_N).
    const toRemote = new Map(local.weights.map((w, i) => [w.name, remote.weights[i].name]));
    const renamed = { ...want.plan, steps: want.plan.steps.map((st) => ('weight' in st ? { ...st, weight: toRemote.get(st.weight as string) } : st)) };
    expect(got.plan).toEqual(JSON.parse(JSON.stringify(renamed)));
    const remoteNames = new Set(remote.weights.map((w) => w.name));
    for (const st of got.plan.steps) if ('weight' in st) expect(remoteNames.has(st.weight as string), String(st.weight)).toBe(true);
    expect(got.history.map((h) => h.loss)).toEqual(want.history.map((h) => h.loss));
    expect(got.plan.achievedSparsity).toBeCloseTo(0.6, 2);
    // The same events in the same order; prune events carry each kernel's sparsity.
    expect(events.map((e) => `${e.phase}:${e.epoch}:${e.batch}`)).toEqual(localEvents.map((e) => `${e.phase}:${e.epoch}:${e.batch}`));
    const prunes = events.filter((e) => e.phase === 'prune');
    expect(prunes.length).toBeGreaterThan(1); // poly re-pruned during training
    expect(Object.keys(prunes.at(-1)!.layerSparsity ?? {})).toEqual(['fc1', 'fc2', 'out']);
    expect(tf.memory().numTensors).toBe(start);
    local.dispose();
    remote.dispose();
  });

  it('structured: a new, smaller model comes back, equal to a local run\'s, the run\'s model left as it was', async () => {
    const data = syntheticDataset([6, 6, 4], 3, 48, 8);
    const local = convnet();
    const remote = await cloneModel(local);
    const before = weightsOf(remote);
    const cfg = validatePruneConfig({ granularity: 'structured', sparsity: 0.5, finetune: { epochs: 1, batchSize: 16 } }, local);
    const want = await runPruning(local, data, cfg);
    const got = await delegated(remote, data, cfg, []);
    expect(got.model).not.toBe(remote);
    expect(weightsOf(remote)).toEqual(before);
    expect(got.model.countParams()).toBe(want.model.countParams());
    expect(got.model.countParams()).toBeLessThan(remote.countParams());
    expect(weightsOf(got.model)).toEqual(weightsOf(want.model));
    for (const m of [local, remote, want.model, got.model]) m.dispose();
  });

  it('cancel stops the window\'s side with CancelledError', async () => {
    const data = syntheticDataset([16], 3, 64, 8);
    const model = mlp();
    const cfg = validatePruneConfig({ sparsity: 0.5, finetune: { epochs: 5, batchSize: 8 } }, model);
    const abort = new AbortController();
    const req = await pruningRequest(model, data, cfg);
    const run = servePruningRequest(req, device, { signal: abort.signal, onProgress: (p) => p.phase === 'batch' && p.batch === 2 && abort.abort() });
    await expect(run).rejects.toMatchObject({ name: 'CancelledError' });
    model.dispose();
  });
  it('prepare adjusts the config before training (the GPU batch fit) and its note rides on the first progress event', async () => {
    const data = syntheticDataset([16], 3, 96, 16);
    const model = mlp();
    const cfg = validatePruneConfig({ sparsity: 0.5, finetune: { epochs: 1, batchSize: 32, learningRate: 0.01 } }, model);
    const req = decodeRequest(encodeRequest('j', { ...(await pruningRequest(model, data, cfg)), gpuMemoryLimitBytes: 5 * 2 ** 20 })).request;
    expect(req.gpuMemoryLimitBytes).toBe(5 * 2 ** 20);
    const seen: number[] = [];
    const events: GpuProgress[] = [];
    await servePruningRequest(req, device, {
      prepare: async (_m, c) => {
        seen.push(c.finetune.batchSize);
        return { config: { ...c, finetune: { ...c.finetune, batchSize: 8 } }, note: 'batch 32 → 8 to fit' };
      },
      onProgress: (p) => events.push(p),
    });
    expect(seen).toEqual([32]);
    expect(events[0].note).toBe('batch 32 → 8 to fit');
    expect(events.slice(1).some((e) => e.note === 'batch 32 → 8 to fit')).toBe(false);
    // 96 samples at batch 8: 12 batches an epoch, not 3.
    expect(events.find((e) => e.phase === 'batch')?.batches).toBe(12);
    model.dispose();
  });
});

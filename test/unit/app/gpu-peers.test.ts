import { ConfigError } from '../../../src-main/common/errors';
/**
 * The GPU peer registry with a fake peer (no browser): which peer a preference picks and why none,
 * the preference from TOPIARY_BACKEND, a job's round trip (poll, progress in order, answer), cancel
 * before and after the peer took the job, and a peer that goes silent failing its job by name.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GpuInfo } from '../../../src-main/common/contract/gpu';
import { CancelledError } from '../../../src-main/common/errors';
import { choosePeer, describeGpuWindows, GpuPeerLostError, GpuPeers, trainingBackendPreference, UnknownGpuPeerError, type GpuPeerView } from '../../../src-main/app/gpu-peers';
import type { GpuProgress, GpuPruningRequest, GpuPruningResponse } from '../../../src-main/engine/remote/wire';

const selfTest = { steps: 3, cpuLoss: 1, gpuLoss: 1, relDiff: 0, tolerance: 1e-5, passed: true, ms: 10 };
const info = (over: Partial<GpuInfo>): GpuInfo => ({ backend: 'webgl', adapter: 'ANGLE (NVIDIA GeForce RTX 4070)', software: false, selfTest, skipped: [], tfjsVersion: '4.22.0', ...over });
const view = (id: string, over: Partial<GpuInfo>, busy = 0): GpuPeerView => ({ id, info: info(over), busy });
const swiftshader = { adapter: 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)', software: true };

const request = { model: { topology: {}, weightSpecs: [], weights: new Uint8Array(4) }, train: { x: new Float32Array(2), y: new Int32Array(1), yPer: 1, sampleShape: [2], name: 't', source: 't', classNames: ['a'] }, config: {} } as unknown as GpuPruningRequest;
const response = { model: { topology: {}, weightSpecs: [], weights: new Uint8Array(4) }, plan: {}, history: [], stoppedEarly: false, training: [], device: { backend: 'webgl', software: true } } as unknown as GpuPruningResponse;
const progress = (batch: number): GpuProgress => ({ phase: 'batch', epoch: 0, batch, batches: 3, loss: 1, accuracy: 0.5, sparsity: 0.5 });

let registry: GpuPeers | undefined;
afterEach(() => registry?.close());

describe('choosePeer', () => {
  it('auto takes a real GPU that passed its self-test, WebGPU before WebGL, idle before busy', () => {
    const peers = [view('soft', { ...swiftshader }), view('gl', {}), view('gpu-busy', { backend: 'webgpu' }, 1), view('gpu', { backend: 'webgpu' })];
    expect(choosePeer('auto', peers).peer?.id).toBe('gpu');
    expect(choosePeer('auto', peers.slice(0, 2)).peer?.id).toBe('gl');
  });

  it('auto refuses software rendering and a failed self-test, and says which and how to force it', () => {
    const c = choosePeer('auto', [view('soft', { ...swiftshader }), view('bad', { selfTest: { ...selfTest, passed: false } })]);
    expect(c.peer).toBeUndefined();
    expect(c.reason).toBe(`only a software GPU is connected (webgl on ${swiftshader.adapter} (software)); auto does not train on software rendering, set TOPIARY_BACKEND=webgl or webgpu to use it`);
  });

  it('a named backend accepts SwiftShader, and only that backend', () => {
    const peers = [view('soft', { ...swiftshader })];
    expect(choosePeer('webgl', peers).peer?.id).toBe('soft');
    expect(choosePeer('webgpu', peers).reason).toBe(`no GPU window runs webgpu (connected: webgl on ${swiftshader.adapter} (software))`);
  });

  it('cpu never delegates; no peers, or none with a usable GPU, each says why', () => {
    expect(choosePeer('cpu', [view('gl', {})]).reason).toBe('training backend set to cpu');
    expect(choosePeer('auto', []).reason).toBe('no GPU window connected');
    const none = view('none', { backend: null, adapter: undefined, selfTest: undefined, skipped: [{ name: 'webgl', reason: 'this browser gives no WebGL context (GPU blocked or disabled)' }] });
    expect(choosePeer('webgl', [none]).reason).toBe('the GPU window found no usable GPU (webgl: this browser gives no WebGL context (GPU blocked or disabled))');
  });
});

describe('describeGpuWindows (the settings screen\'s list)', () => {
  it('marks the window the next run would take and says for each other one why not, by the run\'s own rule', () => {
    const peers = [view('soft', { ...swiftshader }), view('gl', {}), view('gpu', { backend: 'webgpu' }, 2)];
    const auto = describeGpuWindows(peers, 'auto');
    expect(auto.map((w) => w.chosen)).toEqual([false, false, true]);
    expect(auto[2]).toEqual({ backend: 'webgpu', adapter: 'ANGLE (NVIDIA GeForce RTX 4070)', software: false, busy: 2, chosen: true, line: 'trains the next run' });
    expect(auto[1].line).toBe('another window is chosen first');
    expect(auto[0].line).toMatch(/^only a software GPU is connected .*auto does not train on software rendering/);
    expect(describeGpuWindows(peers, 'webgl').map((w) => w.chosen)).toEqual([false, true, false]);
    expect(describeGpuWindows(peers, 'cpu').every((w) => !w.chosen && w.line === 'training backend set to cpu')).toBe(true);
    expect(describeGpuWindows([], 'auto')).toEqual([]);
  });
});

describe('trainingBackendPreference', () => {
  it('reads TOPIARY_BACKEND in any case, unset is auto, a Node backend name means the CPU', () => {
    expect(trainingBackendPreference({})).toBe('auto');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: ' WebGL ' })).toBe('webgl');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'WEBGPU' })).toBe('webgpu');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'Auto' })).toBe('auto');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'cpu' })).toBe('cpu');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'wasm' })).toBe('cpu');
  });

  it('the settings file decides when TOPIARY_BACKEND is unset or auto; the variable wins otherwise; a typo is refused', () => {
    expect(trainingBackendPreference({}, { trainingBackend: 'webgl' })).toBe('webgl');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'auto' }, { trainingBackend: 'cpu' })).toBe('cpu');
    expect(trainingBackendPreference({ TOPIARY_BACKEND: 'webgpu' }, { trainingBackend: 'cpu' })).toBe('webgpu');
    expect(() => trainingBackendPreference({ TOPIARY_BACKEND: 'gpu' })).toThrow(ConfigError);
  });
});

describe('GpuPeers with a fake peer', () => {
  it('a submitted job reaches the peer\'s poll; its progress arrives in order, then its answer', async () => {
    registry = new GpuPeers();
    const { peerId } = registry.register(info({ ...swiftshader }));
    expect(registry.choose('webgl').peer?.id).toBe(peerId);
    const seen: number[] = [];
    const poll = registry.nextJob(peerId, 5000); // waiting before the job exists
    const answer = registry.submit(peerId, request, { onProgress: (p) => seen.push(p.batch) });
    const job = await poll;
    expect(job?.request).toBe(request);
    expect(registry.list()[0].busy).toBe(1);
    expect(registry.progress(peerId, job!.jobId, [progress(0), progress(1), progress(2)])).toEqual({ cancelled: false });
    registry.complete(peerId, job!.jobId, response);
    await expect(answer).resolves.toBe(response);
    expect(seen).toEqual([0, 1, 2]);
    expect(registry.list()[0].busy).toBe(0);
  });

  it('a poll with nothing to do answers undefined after its wait', async () => {
    registry = new GpuPeers();
    const { peerId } = registry.register(info({}));
    await expect(registry.nextJob(peerId, 20)).resolves.toBeUndefined();
  });

  it('a peer\'s error fails the job with its name', async () => {
    registry = new GpuPeers();
    const { peerId } = registry.register(info({}));
    const answer = registry.submit(peerId, request);
    const job = await registry.nextJob(peerId, 1000);
    registry.fail(peerId, job!.jobId, { name: 'ConfigError', message: 'finetune.epochs must be >= 0' });
    await expect(answer).rejects.toMatchObject({ name: 'ConfigError', message: 'finetune.epochs must be >= 0' });
  });

  it('cancel before the peer took the job: it never reaches the peer', async () => {
    registry = new GpuPeers();
    const { peerId } = registry.register(info({}));
    const abort = new AbortController();
    const answer = registry.submit(peerId, request, { signal: abort.signal });
    abort.abort();
    await expect(answer).rejects.toBeInstanceOf(CancelledError);
    await expect(registry.nextJob(peerId, 20)).resolves.toBeUndefined();
  });

  it('cancel after the peer took it: the run is answered at once, the peer hears it at its next call', async () => {
    registry = new GpuPeers();
    const { peerId } = registry.register(info({}));
    const abort = new AbortController();
    const seen: number[] = [];
    const answer = registry.submit(peerId, request, { signal: abort.signal, onProgress: (p) => seen.push(p.batch) });
    const job = await registry.nextJob(peerId, 1000);
    abort.abort();
    await expect(answer).rejects.toBeInstanceOf(CancelledError);
    expect(registry.heartbeat(peerId)).toEqual({ cancel: [job!.jobId] });
    expect(registry.progress(peerId, job!.jobId, [progress(0)])).toEqual({ cancelled: true });
    expect(seen).toEqual([]); // progress after the cancel is not the run's any more
    registry.fail(peerId, job!.jobId, { name: 'CancelledError', message: 'cancelled' });
    expect(registry.heartbeat(peerId)).toEqual({ cancel: [] });
  });

  it('a peer silent past lostAfterMs is dropped and its job fails with GpuPeerLostError; calls from it are refused', async () => {
    let now = 0;
    registry = new GpuPeers({ lostAfterMs: 15_000, checkEveryMs: 5, now: () => now });
    const { peerId } = registry.register(info({ ...swiftshader }));
    const answer = registry.submit(peerId, request);
    await registry.nextJob(peerId, 1000);
    now = 10_000;
    registry.heartbeat(peerId); // still alive at 10 s
    now = 24_000;
    await new Promise((r) => setTimeout(r, 30));
    expect(registry.list()).toHaveLength(1); // 14 s since the heartbeat: not yet
    now = 26_000;
    const err = await answer.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuPeerLostError);
    expect((err as Error).message).toBe(`the GPU window training this run (webgl on ${swiftshader.adapter}) stopped answering: no heartbeat for 16 s; the run failed (start it again, or set TOPIARY_BACKEND=cpu)`);
    expect(registry.list()).toEqual([]);
    expect(() => registry!.heartbeat(peerId)).toThrow(UnknownGpuPeerError);
    await expect(registry.submit(peerId, request)).rejects.toBeInstanceOf(GpuPeerLostError);
  });
});

describe('GpuPeers: a busy page is not a dead one', () => {
  it('heartbeats from the worker keep a peer whose main thread is busy; one hung past stuckAfterMs is lost', async () => {
    registry = new GpuPeers({ stuckAfterMs: 60_000 });
    const { peerId } = registry.register(info({}));
    const answer = registry.submit(peerId, request);
    await registry.nextJob(peerId, 1000);
    expect(registry.heartbeat(peerId, 20_000)).toEqual({ cancel: [] }); // a long first step: alive
    expect(registry.list()).toHaveLength(1);
    registry.heartbeat(peerId, 61_000);
    await expect(answer).rejects.toThrow(/its page has not run for 61 s \(hung in one step\)/);
    expect(registry.list()).toEqual([]);
  });
});

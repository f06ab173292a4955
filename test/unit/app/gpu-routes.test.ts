/**
 * Web mode's /api/gpu/* over real HTTP, with a fake peer speaking it from Node as the GPU page
 * does: token-gated, register, long-poll a job (binary), progress, binary result; bad bodies are
 * 400s that say what was wrong, an unknown peer is 410 (register again).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuPeers } from '../../../src-main/app/gpu-peers';
import type { GpuInfo } from '../../../src-main/common/contract/gpu';
import { decodeRequest, encodeResponse, type GpuPruningRequest, type GpuPruningResponse } from '../../../src-main/engine/remote/wire';
import { startWebServer, type WebServer } from '../../../src-main/web/server';
import { gpuRoutes } from '../../../src-main/app/gpu-routes';

let server: WebServer;
let peers: GpuPeers;
let preference: 'auto' | 'cpu' | 'webgl' = 'webgl';
let base: string;

const info: GpuInfo = { backend: 'webgl', adapter: 'ANGLE (SwiftShader Device)', software: true, selfTest: { steps: 3, cpuLoss: 1, gpuLoss: 1, relDiff: 0, tolerance: 1e-5, passed: true, ms: 3 }, skipped: [], tfjsVersion: '4.22.0' };
const request = {
  model: { topology: { class_name: 'Sequential' }, weightSpecs: [{ name: 'd/kernel', shape: [2], dtype: 'float32' }], weights: new Uint8Array(new Float32Array([1, 2]).buffer) },
  train: { x: new Float32Array([0.5, 0.25]), y: new Int32Array([1]), yPer: 1, sampleShape: [2], name: 'n', source: 's', classNames: ['a', 'b'] },
  config: { sparsity: 0.5 },
} as unknown as GpuPruningRequest;
const response = { model: { topology: { class_name: 'Sequential' }, weightSpecs: [], weights: new Uint8Array([1, 2, 3, 4]) }, plan: { steps: [] }, history: [], stoppedEarly: false, training: [{ path: 'tfjs', shards: 1, microBatch: 16 }], device: { backend: 'webgl', software: true } } as unknown as GpuPruningResponse;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-web-gpu-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Topiary</title>');
  fs.writeFileSync(path.join(dir, 'gpu.html'), '<!doctype html><title>GPU</title>');
  peers = new GpuPeers();
  server = await startWebServer({ staticDir: dir, invoke: async () => ({}), subscribe: () => () => {}, gpu: gpuRoutes(peers, () => preference) });
  base = `http://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  peers.close();
  await server.close();
});

const post = (route: string, body: unknown, token = server.token) =>
  fetch(`${base}/api/gpu/${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-topiary-token': token }, body: JSON.stringify(body) });

describe('/api/gpu', () => {
  it('needs the token like every API route', async () => {
    expect((await post('register', { info }, 'wrong')).status).toBe(401);
    expect((await fetch(`${base}/api/gpu/status`)).status).toBe(401);
  });

  it('a peer registers, takes a job by long poll, streams progress and posts the binary result', async () => {
    const reg = await post('register', { info });
    expect(reg.status).toBe(200);
    const { peerId, heartbeatMs } = (await reg.json()) as { peerId: string; heartbeatMs: number };
    expect(heartbeatMs).toBeLessThan(peers.lostAfterMs / 3);
    const status = (await (await fetch(`${base}/api/gpu/status`, { headers: { 'x-topiary-token': server.token } })).json()) as { wanted: boolean; peers: unknown[] };
    expect(status).toMatchObject({ wanted: true, preference: 'webgl', peers: [{ id: peerId, backend: 'webgl', software: true, busy: 0 }] });

    const batches: number[] = [];
    const answer = peers.submit(peerId, request, { onProgress: (p) => batches.push(p.batch) });
    const next = await post('next', { peerId });
    expect(next.status).toBe(200);
    expect(next.headers.get('content-type')).toBe('application/octet-stream');
    const job = decodeRequest(new Uint8Array(await next.arrayBuffer()));
    expect(job.request.train).toEqual(request.train);
    expect(Array.from(new Float32Array(job.request.model.weights.buffer))).toEqual([1, 2]);

    const events = [0, 1].map((batch) => ({ phase: 'batch', epoch: 0, batch, batches: 2, loss: 1, accuracy: 0, sparsity: 0.5 }));
    expect(await (await post('progress', { peerId, jobId: job.jobId, events })).json()).toEqual({ cancelled: false });
    const res = await fetch(`${base}/api/gpu/result?peer=${peerId}&job=${job.jobId}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'x-topiary-token': server.token }, body: new Blob([encodeResponse(response) as Uint8Array<ArrayBuffer>]) });
    expect(res.status).toBe(200);
    expect(await answer).toEqual(response);
    expect(batches).toEqual([0, 1]);
  });

  it('a poll with no job answers 204; an unknown peer answers 410 so the page registers again', async () => {
    const { peerId } = (await (await post('register', { info })).json()) as { peerId: string };
    const t0 = Date.now();
    const idle = await Promise.race([post('next', { peerId }), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 300))]);
    expect(idle).toBe('waiting'); // held open: a long poll, not a busy loop
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    const gone = await post('heartbeat', { peerId: 'no-such-peer' });
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { error: { name: string } }).error.name).toBe('UnknownGpuPeerError');
  });

  it('bodies that are not what a route takes are 400s that say which field', async () => {
    const bad = await post('register', { info: { ...info, backend: 'cuda' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/backend/);
    const truncated = await fetch(`${base}/api/gpu/result?peer=p&job=j`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'x-topiary-token': server.token }, body: new Blob([new Uint8Array([1, 0])]) });
    expect(truncated.status).toBe(400);
    expect((await post('nope', {})).status).toBe(404);
  });

  it('gpu.html may be framed by the app\'s own page; index.html by nobody', async () => {
    const gpu = await fetch(`${base}/gpu.html`);
    expect(gpu.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    const index = await fetch(`${base}/?token=${server.token}`);
    expect(index.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('with the cpu preference the page is told no GPU is wanted', async () => {
    preference = 'cpu';
    const status = (await (await fetch(`${base}/api/gpu/status`, { headers: { 'x-topiary-token': server.token } })).json()) as { wanted: boolean };
    expect(status.wanted).toBe(false);
    preference = 'webgl';
  });
});

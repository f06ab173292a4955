/**
 * The window's process stays responsive while an export with verification runs. The api is wired
 * the way src-main/electron/main.ts wires it (createApi, calls through the IPC gatekeeper), in a
 * plain Node process, and the event loop's delay is sampled for the whole export. Export, LiteRT
 * verification and int8 calibration are seconds of synchronous tensor work; inline they stall the
 * loop for hundreds of milliseconds, in the engine worker the loop only handles messages.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi, type Api } from '../../src-main/app/api';
import { handleInvoke } from '../../src-main/electron/security';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-responsive-'));
const appIndexUrl = pathToFileURL(path.join(home, 'dist-renderer', 'index.html')).href;
let api: Api;
let runId = '';

beforeAll(async () => {
  process.env.TOPIARY_BACKEND = 'wasm';
  api = await createApi({ home, dbPath: path.join(home, 'topiary.db') });
  // A recorded run whose model is the demo model (copied as files: this process loads no tfjs).
  const { store } = api.services;
  const modelId = store.writer.upsertModel({ source: 'demo', sha256: 'demo-model', format: 'tfjs-layers', params: 1 });
  const datasetId = store.writer.upsertDataset({ source: 'demo', sampleShape: [28, 28, 1], classNames: [], trainSize: 1, testSize: 1 });
  runId = store.writer.createRun({ config: { seed: 42, inputScale: '0-1' }, modelId, datasetId, backend: 'wasm', versions: {}, kind: 'prune' });
  store.writer.setRunStatus(runId, 'done');
  fs.cpSync(path.resolve(__dirname, '../../resources/demo/model'), path.join(home, 'runs', runId, 'model'), { recursive: true });
});

afterAll(async () => {
  await api.close();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('the Electron main process while an export runs', () => {
  it('keeps its event loop delay under 50 ms during an int8 export with LiteRT verification', async () => {
    const ipcExport = () =>
      handleInvoke(appIndexUrl, appIndexUrl, 'exportRun', { runId, format: 'tflite', quant: 'int8', verifySamples: 500 }, api.invoke);
    // Warm up once (worker start, backend, wasm compile) so the measured export is the steady state
    // a user meets on the second click as much as the first; the first is checked below too.
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    histogram.enable();
    const first = await ipcExport();
    const second = await ipcExport();
    histogram.disable();
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true });
    expect(second, JSON.stringify(second)).toMatchObject({ ok: true });
    const result = (second as { ok: true; result: { artifact: { status: string; format: string; quant: string } } }).result;
    expect(result.artifact).toMatchObject({ status: 'ok', format: 'tflite', quant: 'int8' });
    const maxMs = histogram.max / 1e6;
    console.log(`event loop delay during two exports: max ${maxMs.toFixed(1)} ms, p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms, mean ${(histogram.mean / 1e6).toFixed(1)} ms`);
    expect(maxMs).toBeLessThan(50);
  });
});

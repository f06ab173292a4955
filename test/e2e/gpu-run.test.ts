/**
 * A real run trained in the browser's GPU window: `topiary web` (TOPIARY_BACKEND=webgl), the app
 * page opened in Debian's Chromium with SwiftShader (SOFTWARE_GPU); the page opens its hidden GPU
 * frame by itself, which registers with the server; a small prune + fine-tune run (poly schedule,
 * so the window re-prunes during training) trains there. Checked: where it trained as recorded
 * (backend webgl, SwiftShader adapter, software), the sparsity asked for, progress events from the
 * window, and the run detail and `topiary runs show` naming the backend. With auto and only
 * SwiftShader connected, the run trains on the CPU and one log line says why.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { CHROMIUM, hasChromium, SOFTWARE_GPU } from '../support/gpu-page';
import { modelSpec, shot, startWeb, topiary, type WebApp } from './harness';

const chromiumHere = hasChromium();
if (!chromiumHere) console.warn(`gpu-run.test.ts: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);

interface Pushed {
  name: string;
  payload: { runId?: string; phase?: string; message?: string; loss?: number; status?: string; error?: { name: string; message: string } };
}

/** The server's event stream (SSE) read in Node, as the page's transport reads it. */
function listen(origin: string, token: string): { events: Pushed[]; stop(): void } {
  const abort = new AbortController();
  const events: Pushed[] = [];
  void (async () => {
    const res = await fetch(`${origin}/api/events?token=${encodeURIComponent(token)}`, { signal: abort.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data) events.push({ name, payload: JSON.parse(data) });
      }
    }
  })().catch(() => {});
  return { events, stop: () => abort.abort() };
}

async function api<T>(origin: string, token: string, name: string, payload: unknown): Promise<T> {
  const res = await fetch(`${origin}/api/${name}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-topiary-token': token }, body: JSON.stringify(payload) });
  const body = (await res.json()) as { result: T; error?: { message: string } };
  if (!res.ok) throw new Error(`${name}: ${res.status} ${body.error?.message}`);
  return body.result;
}

interface GpuStatus {
  preference: string;
  wanted: boolean;
  peers: { backend: string | null; adapter?: string; software: boolean }[];
}

let web: WebApp | undefined;
let browser: Browser | undefined;
const savedEnv = process.env.TOPIARY_BACKEND;

afterEach(async () => {
  await browser?.close();
  await web?.stop();
  browser = undefined;
  web = undefined;
  if (savedEnv === undefined) delete process.env.TOPIARY_BACKEND;
  else process.env.TOPIARY_BACKEND = savedEnv;
});

/** `topiary web` with TOPIARY_BACKEND=`backend`, the app page open in Chromium with SwiftShader, its GPU frame registered. */
async function openApp(backend: string): Promise<{ origin: string; token: string; page: Page; status: GpuStatus; home: string }> {
  process.env.TOPIARY_BACKEND = backend;
  web = await startWeb();
  const url = new URL(web.url);
  const token = url.searchParams.get('token')!;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...SOFTWARE_GPU] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The GPU frame's own errors (a failed job, a lost server) say why a run did not train there.
  page.on('console', (m) => m.type() === 'error' && console.log(`[page error] ${m.text().slice(0, 300)}`));
  await page.goto(web.url);
  // The page opens its hidden GPU frame by itself; it registers once its self-test passed.
  let status: GpuStatus | undefined;
  for (let i = 0; i < 600; i++) {
    status = (await (await fetch(`${url.origin}/api/gpu/status`, { headers: { 'x-topiary-token': token } })).json()) as GpuStatus;
    if (status.peers.length > 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(errors).toEqual([]);
  expect(await page.locator('iframe#gpu-peer').count()).toBe(1);
  return { origin: url.origin, token, page, status: status!, home: web.home };
}

async function smallRun(origin: string, token: string, home: string) {
  const model = await modelSpec(home);
  const config = {
    model,
    data: 'demo',
    evalLimit: 64,
    latencyRuns: 2,
    sensitivity: false,
    receiptBudgetMs: 0,
    prune: { method: 'magnitude', sparsity: 0.6, schedule: { kind: 'poly', frequency: 1 }, finetune: { epochs: 1, maxSamplesPerEpoch: 64, batchSize: 16 } },
  };
  return api<{ runId: string }>(origin, token, 'startRun', config);
}

async function finished(events: Pushed[], runId: string): Promise<Pushed['payload']> {
  for (;;) {
    const f = events.find((e) => e.name === 'runFinished' && e.payload.runId === runId);
    if (f) return f.payload;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!chromiumHere)('a run trained in the GPU window (Chromium, SwiftShader)', () => {
  // WebGL through ANGLE on SwiftShader; WebGPU on SwiftShader's Vulkan (Chromium exposes it with SOFTWARE_GPU's flags).
  it.each([
    ['webgl', 'ANGLE .*SwiftShader.*'],
    ['webgpu', '.*swiftshader.*'],
  ] as const)('TOPIARY_BACKEND=%s: the run trains in the app page\'s GPU frame on that backend and records it', async (backend, adapterPattern) => {
    const adapter = new RegExp(adapterPattern, 'i');
    const { origin, token, page, status, home } = await openApp(backend);
    expect(status.preference).toBe(backend);
    expect(status.peers).toHaveLength(1);
    expect(status.peers[0]).toMatchObject({ backend, software: true });
    expect(status.peers[0].adapter).toMatch(adapter);
    const sse = listen(origin, token);
    try {
      await new Promise((r) => setTimeout(r, 300)); // the stream is open before the run starts
      const { runId } = await smallRun(origin, token, home);
      const end = await finished(sse.events, runId);
      expect(end, JSON.stringify(end.error)).toMatchObject({ status: 'done' });
      const mine = sse.events.filter((e) => e.payload.runId === runId);
      const logs = mine.filter((e) => e.name === 'runLog').map((e) => e.payload.message ?? '');
      expect(logs.filter((l) => l.startsWith('GPU:'))).toEqual([expect.stringMatching(new RegExp(`^GPU: training on ${backend} \\(${adapterPattern}, software rendering\\) in a GPU window$`, 'i'))]);
      const tuning = mine.filter((e) => e.name === 'runProgress' && e.payload.phase === 'finetune');
      expect(tuning.length).toBeGreaterThan(0);
      expect(tuning.some((e) => typeof e.payload.loss === 'number' && Number.isFinite(e.payload.loss))).toBe(true);

      const run = await api<{ summary: { training: { backend?: string; adapter?: string; software?: boolean }[]; prune: { achievedSparsity: number } }; layers: { phase: string; className: string; sparsity: number }[] }>(origin, token, 'getRun', { runId });
      expect(run.summary.training[0]).toMatchObject({ backend, software: true });
      expect(run.summary.training[0].adapter).toMatch(adapter);
      // Masks kept through training on the GPU: the saved model is as sparse as asked.
      expect(run.summary.prune.achievedSparsity).toBeCloseTo(0.6, 2);
      const after = run.layers.filter((l) => l.phase === 'after' && (l.className === 'Conv2D' || l.className === 'Dense'));
      expect(after.length).toBeGreaterThan(0);
      expect(Math.max(...after.map((l) => l.sparsity))).toBeGreaterThan(0.3);

      // The run detail shows where it trained; so does `topiary runs show`.
      await page.goto(`${origin}/?token=${token}#/runs/${runId}`);
      const paths = page.getByTestId('run-paths');
      await paths.waitFor({ timeout: 30_000 });
      expect(await paths.textContent()).toMatch(new RegExp(`fine-tuned by ${backend} on ${adapterPattern} \\(software rendering\\), tfjs step`, 'i'));
      await shot(page, `gpu-run-detail-${backend}`);
      const shown = await topiary(home, ['runs', 'show', runId]);
      expect(shown).toMatch(new RegExp(`fine-tuned by ${backend} on ${adapterPattern} \\(software rendering\\)`, 'i'));
      const json = JSON.parse(await topiary(home, ['runs', 'show', runId, '--json'])) as { summary: { training: { backend: string }[] } };
      expect(json.summary.training[0].backend).toBe(backend);
      // Settings lists the connected window and says the next run trains there.
      await page.goto(`${origin}/?token=${token}#/settings`);
      const windows = page.getByTestId('gpu-window');
      await windows.first().waitFor({ timeout: 30_000 });
      expect((await windows.allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())).toEqual([expect.stringMatching(new RegExp(`^${backend} on ${adapterPattern} \\(software rendering\\) — trains the next run$`, 'i'))]);
    } finally {
      sse.stop();
    }
  });

  it('auto with only SwiftShader connected: the run trains on the CPU and says why in one line', async () => {
    const { origin, token, status, home } = await openApp('auto');
    expect(status.peers[0]).toMatchObject({ software: true });
    const sse = listen(origin, token);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const { runId } = await smallRun(origin, token, home);
      const end = await finished(sse.events, runId);
      expect(end, JSON.stringify(end.error)).toMatchObject({ status: 'done' });
      const logs = sse.events.filter((e) => e.name === 'runLog' && e.payload.runId === runId).map((e) => e.payload.message ?? '');
      expect(logs.filter((l) => l.startsWith('GPU:'))).toEqual([expect.stringMatching(/^GPU: none used \(only a software GPU is connected \(.*SwiftShader.*\); auto does not train on software rendering, set TOPIARY_BACKEND=webgl or webgpu to use it\)$/i)]);
      const run = await api<{ summary: { training: Record<string, unknown>[] } }>(origin, token, 'getRun', { runId });
      expect(run.summary.training[0]).not.toHaveProperty('backend');
      const settings = await api<{ gpuWindows: { software: boolean; chosen: boolean; line: string }[] }>(origin, token, 'getSettings', {});
      expect(settings.gpuWindows).toEqual([expect.objectContaining({ software: true, chosen: false, line: expect.stringMatching(/^only a software GPU is connected/) })]);
    } finally {
      sse.stop();
    }
  });
});

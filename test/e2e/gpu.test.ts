/**
 * The GPU engine page (src-renderer/gpu.html -> src-main/gpu/) in Debian's Chromium with a software
 * GPU: SwiftShader behind ANGLE for WebGL, SwiftShader's Vulkan for WebGPU (Chromium exposes it with
 * the flags in SOFTWARE_GPU, on a secure origin only: 127.0.0.1 counts, file:// and about:blank not).
 * The page is built with the project's vite config into a temp folder and served over HTTP.
 *
 * Conformance: every layer kind of the modern nets, N = 5 Adam steps (lr 1e-3, batch 16, half of
 * every kernel masked), cpu backend vs GPU backend in the same page, same start and batches.
 * Tolerances (float32 on both sides; the GPU sums in a different order, so results differ by
 * float rounding and nothing else). Measured on SwiftShader (WebGL and WebGPU): losses within 2e-7 relative,
 * weights within 1e-6 absolute, updates within 7e-5 (L2, relative; the MobileNetV2 block, the rest
 * ~1e-6). Asserted with margin:
 *  - loss of every step: 1e-5 relative;
 *  - weights: ||w_gpu - w_cpu|| <= 1e-3 ||w_cpu - w0|| per tensor (a thousandth of what training
 *    changed), and no single weight off by more than 1e-5 (1% of one Adam step at lr 1e-3);
 *  - masks: exact. Pruned weights are exactly 0 after training on both backends.
 * Before adamEpsilon() (engine/finetune/adam.ts) WebGL's Adam used eps 1e-4 (a tfjs-backend-webgl
 * 4.22 bug) and the same run drifted by up to 30% of its update in 5 steps; these bounds catch that.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConformanceResult } from '../../src-main/gpu/conformance';
// Brings in the page's `window.topiaryGpu` declaration (types only; the page runs in Chromium).
import type { GpuWindowApi as _GpuWindowApi } from '../../src-main/gpu/page';
import type { GpuInfo } from '../../src-main/common/contract/gpu';
import { ROOT, shot } from './harness';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM) && spawnSync(CHROMIUM, ['--version']).status === 0;
if (!hasChromium) console.warn(`gpu.test.ts: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);

/** Software GPU flags: SwiftShader for WebGL (ANGLE) and for WebGPU (Dawn's SwiftShader adapter). */
// Without --enable-features=Vulkan --use-vulkan=swiftshader, Chromium 156 offers the SwiftShader
// adapter but every buffer mapped at creation fails ("size (768) is too large for the implementation").
const SOFTWARE_GPU = [
  '--use-gl=angle',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
];
export const TOLERANCE = { loss: 1e-5, update: 1e-3, weight: 1e-5 };

let dist = '';
let server: http.Server;
let base = '';
let browser: Browser;

async function serve(dir: string): Promise<{ server: http.Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  const s = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(dir, rel);
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { server: s, url: `http://127.0.0.1:${(s.address() as { port: number }).port}` };
}

async function openGpuPage(choice: string, args = SOFTWARE_GPU): Promise<{ page: Page; info: GpuInfo; close(): Promise<void> }> {
  const b = args === SOFTWARE_GPU ? browser : await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...args] });
  const page = await b.newPage({ viewport: { width: 1000, height: 600 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/gpu.html?backend=${choice}`);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state !== 'none' || window.topiaryGpu !== undefined, undefined, { timeout: 120_000 });
  expect(errors).toEqual([]);
  const info = await page.evaluate(() => window.topiaryGpu?.info);
  if (!info) throw new Error(`the GPU page did not start: ${await page.textContent('#status')}`);
  return { page, info, close: async () => (b === browser ? page.close() : b.close()) };
}

function report(label: string, rows: ConformanceResult[]): void {
  const lines = rows.map(
    (r) =>
      `  ${r.name.padEnd(22)} loss rel ${r.lossRel.toExponential(1)}  weights abs ${r.weightAbs.toExponential(1)}  of a step ${r.updateRel.toExponential(1)} (${r.worst})  leaks ${r.leaksGpu}/${r.pruned}  cpu ${r.cpuMs.toFixed(0)} ms gpu ${r.gpuMs.toFixed(0)} ms`,
  );
  console.log(`${label} vs cpu, ${rows[0]?.steps} Adam steps:\n${lines.join('\n')}`);
}

function expectConformant(rows: ConformanceResult[], cases: string[]): void {
  expect(rows.map((r) => r.name)).toEqual(cases);
  for (const r of rows) {
    expect(r.gpuLosses.length, r.name).toBe(r.steps);
    expect(r.lossRel, `${r.name}: losses ${r.gpuLosses} vs ${r.cpuLosses}`).toBeLessThanOrEqual(TOLERANCE.loss);
    expect(r.updateRel, `${r.name}: weights (${r.worst})`).toBeLessThanOrEqual(TOLERANCE.update);
    expect(r.weightAbs, `${r.name}: largest weight difference`).toBeLessThanOrEqual(TOLERANCE.weight);
    expect(r.pruned, r.name).toBeGreaterThan(0);
    expect(r.leaksCpu, `${r.name}: pruned weights not 0 on cpu`).toBe(0);
    expect(r.leaksGpu, `${r.name}: pruned weights not 0 on the GPU`).toBe(0);
  }
  // Training did something: losses moved on every case.
  for (const r of rows) expect(r.cpuLosses[0], r.name).not.toBe(r.cpuLosses.at(-1));
}

describe.skipIf(!hasChromium)('GPU engine page in Chromium with SwiftShader', () => {
  beforeAll(async () => {
    dist = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-gpu-dist-'));
    const { build } = await import('vite');
    await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: dist, emptyOutDir: true } });
    ({ server, url: base } = await serve(dist));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...SOFTWARE_GPU] });
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (dist) fs.rmSync(dist, { recursive: true, force: true });
  });

  it('auto picks a GPU backend that passes the self-test and names its adapter', async () => {
    const { page, info, close } = await openGpuPage('auto');
    try {
      expect(info.backend).not.toBeNull();
      expect(info.selfTest?.passed).toBe(true);
      // The self-test freed every tensor it made, on both backends.
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(0);
      expect(info.adapter).toMatch(/swiftshader/i);
      expect(info.software).toBe(true);
      const text = (await page.textContent('#status')) ?? '';
      expect(text).toContain(`GPU: ${info.backend} on `);
      expect(text).toContain('software rendering, not a real GPU');
      expect(text).toMatch(/self-test: passed, 3 Adam steps/);
      await shot(page, 'gpu-page-auto');
      console.log(`auto: ${text}`);
    } finally {
      await close();
    }
  });

  it('WebGL training matches the cpu backend for every layer kind, masks exact', async () => {
    const { page, info, close } = await openGpuPage('webgl');
    try {
      expect(info.backend).toBe('webgl');
      expect(info.adapter).toMatch(/swiftshader/i);
      const cases = await page.evaluate(() => window.topiaryGpu!.cases);
      const before = await page.evaluate(() => window.topiaryGpu!.memory().numTensors);
      const rows = await page.evaluate(() => window.topiaryGpu!.conformance('webgl'));
      report('webgl', rows);
      expectConformant(rows, cases);
      // Both backends' tensors were all freed.
      expect(await page.evaluate(() => window.topiaryGpu!.memory().numTensors)).toBe(before);
    } finally {
      await close();
    }
  });

  it('WebGPU training matches the cpu backend for every layer kind where it initializes; otherwise it is refused with the reason', async () => {
    const { page, info, close } = await openGpuPage('webgpu');
    try {
      if (info.backend !== 'webgpu') {
        // E.g. a Chromium whose SwiftShader adapter fails tfjs's first upload (createBuffer with
        // mappedAtCreation, see SOFTWARE_GPU): the page must refuse it, say why, and stay on cpu.
        expect(info.backend).toBeNull();
        expect(info.skipped).toHaveLength(1);
        expect(info.skipped[0].name).toBe('webgpu');
        expect((await page.textContent('#status')) ?? '').toContain(`webgpu not used: ${info.skipped[0].reason}`);
        console.warn(`webgpu: not usable in this Chromium, conformance not run: ${info.skipped[0].reason}`);
        return;
      }
      expect(info.adapter).toMatch(/swiftshader/i);
      const cases = await page.evaluate(() => window.topiaryGpu!.cases);
      const rows = await page.evaluate(() => window.topiaryGpu!.conformance('webgpu'));
      report('webgpu', rows);
      expectConformant(rows, cases);
    } finally {
      await close();
    }
  });

  it('without WebGPU in the browser, a forced webgpu says why and training stays on the cpu', async () => {
    // No --enable-unsafe-webgpu: Chromium on Linux offers no WebGPU adapter.
    const { page, info, close } = await openGpuPage('webgpu', ['--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader']);
    try {
      expect(info.backend).toBeNull();
      expect(info.skipped.map((s) => s.name)).toEqual(['webgpu']);
      expect(info.skipped[0].reason).toMatch(/no WebGPU adapter/);
      const text = (await page.textContent('#status')) ?? '';
      expect(text).toContain('GPU: none usable; training stays on the CPU');
      expect(text).toContain(`webgpu not used: ${info.skipped[0].reason}`);
      expect(await page.evaluate(() => document.getElementById('status')?.dataset.state)).toBe('none');
      console.log(`no webgpu: ${text}`);
    } finally {
      await close();
    }
  });
});

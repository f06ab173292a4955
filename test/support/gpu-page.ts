/**
 * The GPU engine page (src-renderer/gpu.html) for tests and benches: built with the project's vite
 * config into a temp folder, served over HTTP on 127.0.0.1 (WebGPU needs a secure origin; file://
 * and about:blank are not), opened in Debian's Chromium with the flags for a software or real GPU.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { GpuInfo } from '../../src-main/common/contract/gpu';
// Brings in the page's `window.topiaryGpu` declaration (types only; the page runs in Chromium).
import type { GpuWindowApi as _GpuWindowApi } from '../../src-main/gpu/page';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether Chromium is installed and starts (`--version`). */
export function hasChromium(): boolean {
  return fs.existsSync(CHROMIUM) && spawnSync(CHROMIUM, ['--version']).status === 0;
}

/**
 * Software GPU: SwiftShader behind ANGLE for WebGL, and SwiftShader's Vulkan for WebGPU. Without
 * --enable-features=Vulkan --use-vulkan=swiftshader, Chromium 156 offers the SwiftShader adapter but
 * every buffer mapped at creation fails ("size (768) is too large for the implementation").
 */
export const SOFTWARE_GPU = [
  '--use-gl=angle',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
];

/** A real GPU where there is one: WebGPU on (Linux keeps it behind a flag), the blocklist ignored. */
export const HARDWARE_GPU = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--ignore-gpu-blocklist'];

export interface GpuPageServer {
  base: string;
  launch(args: string[]): Promise<Browser>;
  close(): Promise<void>;
}

/** Builds gpu.html and serves it; `launch` starts Chromium with the given GPU flags. */
export async function serveGpuPage(): Promise<GpuPageServer> {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-gpu-dist-'));
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir: dist, emptyOutDir: true } });
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    const file = path.join(dist, rel);
    if (!file.startsWith(dist) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const browsers: Browser[] = [];
  return {
    base: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    async launch(args) {
      const b = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', ...args] });
      browsers.push(b);
      return b;
    },
    async close() {
      for (const b of browsers) await b.close().catch(() => {});
      server.close();
      fs.rmSync(dist, { recursive: true, force: true });
    },
  };
}

/** Opens gpu.html?backend=`choice` and waits until it has chosen (or given up on) a GPU. */
export async function openGpuPage(browser: Browser, base: string, choice: string): Promise<{ page: Page; info: GpuInfo; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/gpu.html?backend=${choice}`);
  await page.waitForFunction(() => window.topiaryGpu !== undefined || document.getElementById('status')?.dataset.state === 'error', undefined, { timeout: 120_000 });
  const info = await page.evaluate(() => window.topiaryGpu?.info);
  if (!info) throw new Error(`the GPU page did not start: ${await page.textContent('#status')}`);
  return { page, info, errors };
}

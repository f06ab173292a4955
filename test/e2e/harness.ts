/**
 * What the end-to-end tests share: web mode started as a user would start it (`topiary web --json`
 * against a fresh TOPIARY_HOME), Debian's Chromium driven by playwright-core, screenshots under
 * test-output/e2e/, and a model to prune (the bundled demo when installed, else a LeNet-5 written
 * to the temp home so the suite never depends on a trained demo being present).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const SHOTS = path.join(ROOT, 'test-output', 'e2e');

export interface WebApp {
  url: string;
  home: string;
  stop(): Promise<void>;
}

/** Starts `topiary web --json` and resolves once it printed its URL. */
export async function startWeb(opts: { build?: boolean } = {}): Promise<WebApp> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-e2e-'));
  const args = ['bin/topiary.mjs', 'web', '--json', ...(opts.build === false ? ['--no-build'] : [])];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: process.env.TOPIARY_BACKEND ?? 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        // the JSON document has not fully arrived yet
      }
    });
    child.once('exit', (code) => reject(new Error(`topiary web exited with ${code}:\n${err}`)));
  });
  return { url, home, stop: () => stopChild(child, home) };
}

async function stopChild(child: ChildProcess, home: string) {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  fs.rmSync(home, { recursive: true, force: true });
}

/** A fresh Chromium profile per launch, with everything that phones home switched off. */
export async function launchBrowser(opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    colorScheme: opts.colorScheme ?? 'light',
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // Failed requests are reported with their URL (the console line for them does not name it).
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(`console: ${m.text()}`));
  page.on('response', async (r) => {
    if (r.status() < 400) return;
    const body = await r.text().catch(() => '');
    problems.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname} ${r.request().postData() ?? ''} -> ${body.slice(0, 200)}`);
  });
  (page as Page & { problems?: string[] }).problems = problems;
  return {
    context,
    page,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Uncaught page errors and console errors seen so far on this page. */
export function pageProblems(page: Page): string[] {
  return (page as Page & { problems?: string[] }).problems ?? [];
}

export async function shot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * The model spec the wizard gets: `demo` when the trained demo is installed; otherwise an untrained
 * LeNet-5 saved under `home` (same architecture, so every screen shows the same tables).
 */
export async function modelSpec(home: string): Promise<string> {
  if (fs.existsSync(path.join(ROOT, 'resources', 'demo', 'model', 'model.json'))) return 'demo';
  const { initBackend } = await import('../../src-main/node/backend');
  const { lenet5 } = await import('../../src-main/engine/models');
  const { saveModel } = await import('../../src-main/node/models');
  await initBackend({ force: 'cpu' });
  const model = lenet5({ seed: 1 });
  const dir = path.join(home, 'lenet5');
  await saveModel(model, dir);
  model.dispose();
  return path.join(dir, 'model.json');
}

/** The window sizes every screen is checked at (issue 15): small laptop, common laptop, desktop. */
export const VIEWPORTS = [
  { name: '800x600', width: 800, height: 600 },
  { name: '1280x800', width: 1280, height: 800 },
  { name: '1920x1080', width: 1920, height: 1080 },
] as const;

/**
 * How far the current screen scrolls sideways, in CSS pixels (0 when it does not): the document and
 * every element wider than the window that is not itself a scroll container meant for it.
 */
export async function sideScroll(page: Page): Promise<number> {
  return page.evaluate(() => {
    const el = document.scrollingElement ?? document.documentElement;
    return Math.max(0, el.scrollWidth - el.clientWidth);
  });
}

/** Visits the screen at each of VIEWPORTS, saves `<name>-<viewport>.png`, and returns the sideways scroll at each. */
export async function atEveryViewport(page: Page, name: string, settle?: () => Promise<void>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of VIEWPORTS) {
    await page.setViewportSize({ width: v.width, height: v.height });
    if (settle) await settle();
    await page.waitForTimeout(150);
    out[v.name] = await sideScroll(page);
    await shot(page, `${name}-${v.name}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  return out;
}

/**
 * Runs the CLI against the web server's data folder (so runs made here show in the UI), e.g.
 * `['prune', 'demo', '--data', 'demo', '--epochs', '1', '--json']`; resolves with its stdout.
 */
export async function topiary(home: string, args: string[], timeoutMs = 300_000): Promise<string> {
  const child = spawn(process.execPath, ['bin/topiary.mjs', ...args], {
    cwd: ROOT,
    env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: process.env.TOPIARY_BACKEND ?? 'wasm' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`topiary ${args.join(' ')} exited with ${code}:\n${err.slice(-2000)}`);
  return out;
}

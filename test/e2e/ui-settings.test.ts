/**
 * Issue 18's settings screen in Chromium against web mode: reachable from the navigation, the
 * app's one line about the GPU, the training backend and GPU memory limit saved to the data
 * folder's settings.json (and seen by `topiary info`), a damaged file reported without breaking
 * the screen, and TOPIARY_BACKEND's override said in words. Every state at 800x600, 1280x800 and
 * 1920x1080 without sideways scroll; screenshots `ui-settings-*`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { atEveryViewport, launchBrowser, pageProblems, shot, startWeb, topiary, type WebApp } from './harness';

let app: WebApp;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const savedBackend = process.env.TOPIARY_BACKEND;

/** startWeb and topiary() pass TOPIARY_BACKEND through (default wasm); run this server as a user who set none. */
function withBackend(value: string | undefined) {
  if (value === undefined) delete process.env.TOPIARY_BACKEND;
  else process.env.TOPIARY_BACKEND = value;
}

beforeAll(async () => {
  withBackend('auto');
  app = await startWeb();
  browser = await launchBrowser();
  page = browser.page;
});

afterAll(async () => {
  withBackend(savedBackend);
  await browser?.close();
  await app?.stop();
});

const noSideScroll = (scroll: Record<string, number>) => expect(scroll).toEqual({ '800x600': 0, '1280x800': 0, '1920x1080': 0 });
const settingsFile = () => path.join(app.home, 'settings.json');

describe('settings', () => {
  test('reachable from the navigation: defaults, and the one line about the GPU', async () => {
    await page.goto(app.url);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await expect.poll(() => page.locator('h2').textContent()).toBe('Settings');
    expect(await page.getByRole('link', { name: 'Settings' }).getAttribute('aria-current')).toBe('page');
    const gpu = page.getByTestId('gpu-line');
    // Node trains on the CPU here (no tfjs-node-gpu): the line says no GPU is used and where one can be.
    await expect.poll(() => gpu.textContent(), { timeout: 60_000 }).toMatch(/^GPU:\s*none used \(the CLI trains on the CPU.*WebGPU\/WebGL run in a browser window/);
    expect(await page.getByTestId('gpu-page-link').getAttribute('href')).toBe('gpu.html');
    expect(await page.getByTestId('settings-backend').inputValue()).toBe('auto');
    expect(await page.getByTestId('settings-gpu-memory').inputValue()).toBe('2048');
    expect(await page.locator('#st-backend').textContent()).toBe('now: auto (default)');
    expect(await page.getByTestId('settings-override').count()).toBe(0);
    expect(await page.getByTestId('settings-save').isDisabled()).toBe(true);
    expect(fs.existsSync(settingsFile())).toBe(false);
    noSideScroll(await atEveryViewport(page, 'ui-settings-defaults'));
  });

  test('a limit out of bounds is refused at the field; a valid change is saved to settings.json and read back', async () => {
    const memory = page.getByTestId('settings-gpu-memory');
    await memory.fill('10');
    await expect.poll(() => page.locator('#st-memory').textContent()).toBe('must be at least 64 MiB, got 10');
    expect(await page.getByTestId('settings-save').isDisabled()).toBe(true);
    await memory.fill('4096');
    expect(await page.locator('#st-memory').textContent()).toBe('= 4 GiB');
    await page.getByTestId('settings-backend').selectOption('webgl');
    await page.getByTestId('settings-save').click();
    await expect.poll(() => page.getByTestId('settings-saved').textContent()).toBe('Saved.');
    expect(JSON.parse(fs.readFileSync(settingsFile(), 'utf8'))).toEqual({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 4096 });
    expect(await page.locator('#st-backend').textContent()).toBe('now: webgl (settings.json)');
    // The GPU line follows: WebGPU/WebGL are for the browser window, the settings chose WebGL.
    await expect.poll(() => page.getByTestId('gpu-line').textContent(), { timeout: 30_000 }).toContain('the settings choose webgl for the GPU window');
    await page.reload();
    await expect.poll(() => page.getByTestId('settings-gpu-memory').inputValue()).toBe('4096');
    expect(await page.getByTestId('settings-backend').inputValue()).toBe('webgl');
    // The same file, through the other front door.
    const info = await topiary(app.home, ['info']);
    expect(info).toMatch(/^trains on webgl \(settings\.json\)$/m);
    expect(info).toContain(`settings  ${settingsFile()}  (GPU memory limit 4096 MiB)`);
    noSideScroll(await atEveryViewport(page, 'ui-settings-saved'));
    expect(pageProblems(page)).toEqual([]);
  });

  test('a damaged settings.json is reported with the file and field; saving fixes it and keeps the old one', async () => {
    fs.writeFileSync(settingsFile(), JSON.stringify({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 'lots' }));
    await page.reload();
    const problem = page.getByTestId('settings-problem');
    await expect.poll(() => problem.textContent()).toContain(`${settingsFile()}: gpuMemoryLimitMiB must be a whole number of MiB from 64 to 262144, got "lots"`);
    // The valid field still applies; the bad one shows its default.
    expect(await page.getByTestId('settings-backend').inputValue()).toBe('webgpu');
    expect(await page.getByTestId('settings-gpu-memory').inputValue()).toBe('2048');
    noSideScroll(await atEveryViewport(page, 'ui-settings-damaged'));
    // Saving as shown is allowed (it repairs the file) before anything is changed.
    expect(await page.getByTestId('settings-save').isDisabled()).toBe(false);
    await page.getByTestId('settings-gpu-memory').fill('1024');
    await page.getByTestId('settings-save').click();
    await expect.poll(() => page.getByTestId('settings-saved').textContent()).toBe('Saved.');
    expect(await problem.count()).toBe(0);
    expect(JSON.parse(fs.readFileSync(settingsFile(), 'utf8'))).toEqual({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 1024 });
    expect(fs.readFileSync(`${settingsFile()}.bad`, 'utf8')).toContain('lots');
  });

  test('TOPIARY_BACKEND overrides the saved choice, and the screen says so', async () => {
    withBackend('webgl');
    const other = await startWeb({ build: false });
    try {
      fs.writeFileSync(path.join(other.home, 'settings.json'), JSON.stringify({ trainingBackend: 'cpu' }));
      await page.goto(`${other.url}#/settings`);
      const override = page.getByTestId('settings-override');
      await expect.poll(() => override.textContent()).toBe('TOPIARY_BACKEND=webgl overrides this: training uses webgl');
      expect(await page.getByTestId('settings-backend').inputValue()).toBe('cpu');
      await expect.poll(() => page.getByTestId('gpu-line').textContent(), { timeout: 60_000 }).toContain('TOPIARY_BACKEND=webgl applies to the GPU window');
      noSideScroll(await atEveryViewport(page, 'ui-settings-override'));
      await shot(page, 'ui-settings-override');
    } finally {
      await other.stop();
      withBackend('auto');
    }
  });
});

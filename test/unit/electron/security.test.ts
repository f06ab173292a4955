import { describe, expect, it, vi } from 'vitest';
import { handleInvoke, isTrustedUrl, mainWindowOptions } from '../../../src-main/electron/security';

const appUrl = 'file:///opt/topiary/resources/app.asar/dist-renderer/index.html';

describe('Electron main window', () => {
  it('uses the secure web preferences', () => {
    const o = mainWindowOptions('/opt/topiary/preload.cjs');
    expect(o.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: '/opt/topiary/preload.cjs',
    });
  });

  it('restores remembered bounds', () => {
    expect(mainWindowOptions('/p', { x: 10, y: 20, width: 1000, height: 700 })).toMatchObject({ x: 10, y: 20, width: 1000, height: 700 });
  });

  it('trusts only the app page itself for navigation', () => {
    expect(isTrustedUrl(appUrl, appUrl)).toBe(true);
    expect(isTrustedUrl(`${appUrl}#/runs`, appUrl)).toBe(true);
    expect(isTrustedUrl('https://example.com/', appUrl)).toBe(false);
    expect(isTrustedUrl('file:///etc/passwd', appUrl)).toBe(false);
    expect(isTrustedUrl('not a url', appUrl)).toBe(false);
  });
});

describe('IPC gatekeeper', () => {
  it('ignores calls from an unknown sender without calling the service', async () => {
    const invoke = vi.fn();
    const r = await handleInvoke('https://evil.example/', appUrl, 'getInfo', {}, invoke);
    expect(r.ok).toBe(false);
    expect(invoke).not.toHaveBeenCalled();
    const r2 = await handleInvoke(undefined, appUrl, 'getInfo', {}, invoke);
    expect(r2.ok).toBe(false);
  });

  it('rejects an invalid payload before it reaches a service', async () => {
    const invoke = vi.fn();
    const r = await handleInvoke(appUrl, appUrl, 'compareRuns', { runIds: 'not-an-array' }, invoke);
    expect(r).toMatchObject({ ok: false, error: { name: 'ConfigError' } });
    expect(invoke).not.toHaveBeenCalled();
  });

  it('rejects an unknown command', async () => {
    const invoke = vi.fn();
    const r = await handleInvoke(appUrl, appUrl, '__proto__', {}, invoke);
    expect(r.ok).toBe(false);
    expect(invoke).not.toHaveBeenCalled();
  });

  it('passes a valid payload (with defaults filled) to the service and returns its result', async () => {
    const invoke = vi.fn(async () => ({ deleted: true }));
    const r = await handleInvoke(appUrl, appUrl, 'deleteRun', { runId: 'abc' }, invoke);
    expect(r).toEqual({ ok: true, result: { deleted: true } });
    expect(invoke).toHaveBeenCalledWith('deleteRun', { runId: 'abc', deleteArtifacts: false });
  });

  it('returns service errors as {name, message}', async () => {
    const invoke = vi.fn(async () => {
      throw new RangeError('boom');
    });
    const r = await handleInvoke(appUrl, appUrl, 'getInfo', {}, invoke);
    expect(r).toMatchObject({ ok: false, error: { name: 'RangeError', message: 'boom' } });
  });
});

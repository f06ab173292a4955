/**
 * The Electron main process with Electron itself mocked: which window it opens, how it treats
 * navigation, new windows, permissions and IPC. main.ts starts on import, so the mocks record what
 * it did and each test inspects one part of that.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type Handler = (...args: unknown[]) => unknown;

const electron = vi.hoisted(() => {
  const state = {
    userData: '',
    windowOptions: undefined as Record<string, unknown> | undefined,
    webContentsHandlers: new Map<string, (...args: unknown[]) => unknown>(),
    windowHandlers: new Map<string, (...args: unknown[]) => unknown>(),
    windowOpenHandler: undefined as undefined | ((details: { url: string }) => unknown),
    ipcHandlers: new Map<string, (...args: unknown[]) => unknown>(),
    appHandlers: new Map<string, (...args: unknown[]) => unknown>(),
    protocolHandlers: new Map<string, (request: { url: string }) => Promise<Response>>(),
    headersHandler: undefined as undefined | ((details: unknown, cb: (r: unknown) => void) => void),
    permissionHandler: undefined as undefined | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
    sent: [] as unknown[][],
    loadedUrl: '',
    /** Every window main.ts made after the first (the hidden GPU window): its options and URL. */
    others: [] as { options: Record<string, unknown>; url?: string }[],
    showOpenDialog: undefined as unknown as ReturnType<typeof import('vitest').vi.fn>,
  };
  return state;
});

const api = vi.hoisted(() => ({
  invoke: undefined as unknown as ReturnType<typeof import('vitest').vi.fn>,
  listeners: [] as ((name: string, payload: unknown) => void)[],
}));

vi.mock('electron', () => {
  class BrowserWindow {
    webContents = {
      on: (name: string, fn: Handler) => electron.webContentsHandlers.set(name, fn),
      setWindowOpenHandler: (fn: (d: { url: string }) => unknown) => (electron.windowOpenHandler = fn),
      send: (...args: unknown[]) => electron.sent.push(args),
    };
    private readonly other?: { options: Record<string, unknown>; url?: string };
    constructor(options: Record<string, unknown>) {
      if (electron.windowOptions === undefined) electron.windowOptions = options;
      else electron.others.push((this.other = { options }));
    }
    once(name: string, fn: Handler) {
      electron.windowHandlers.set(name, fn);
    }
    on(name: string, fn: Handler) {
      electron.windowHandlers.set(name, fn);
    }
    show() {}
    isDestroyed() {
      return false;
    }
    getBounds() {
      return { x: 5, y: 6, width: 1111, height: 777 };
    }
    async loadURL(url: string) {
      if (this.other) this.other.url = url;
      else electron.loadedUrl = url;
    }
  }
  electron.showOpenDialog = vi.fn(async () => ({ canceled: false, filePaths: ['/picked/model.json'] }));
  return {
    app: {
      whenReady: async () => undefined,
      getPath: () => electron.userData,
      on: (name: string, fn: Handler) => electron.appHandlers.set(name, fn),
      quit: () => undefined,
    },
    protocol: {
      registerSchemesAsPrivileged: () => undefined,
      handle: (scheme: string, fn: (request: { url: string }) => Promise<Response>) => electron.protocolHandlers.set(scheme, fn),
    },
    BrowserWindow,
    dialog: { showOpenDialog: electron.showOpenDialog },
    ipcMain: { handle: (channel: string, fn: Handler) => electron.ipcHandlers.set(channel, fn) },
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: () => undefined },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: (fn: typeof electron.headersHandler) => (electron.headersHandler = fn) },
        setPermissionRequestHandler: (fn: typeof electron.permissionHandler) => (electron.permissionHandler = fn),
        setPermissionCheckHandler: () => undefined,
        setDevicePermissionHandler: () => undefined,
      },
    },
    shell: { showItemInFolder: vi.fn() },
  };
});

// The services are not under test here: a recording stand-in keeps SQLite and workers out of it.
vi.mock('../../../src-main/app/api', () => ({
  createApi: async () => {
    api.invoke = vi.fn(async (name: string) => ({ called: name }));
    return {
      invoke: api.invoke,
      subscribe: (l: (name: string, payload: unknown) => void) => {
        api.listeners.push(l);
        return () => undefined;
      },
      close: async () => undefined,
    };
  },
}));

// main.ts fills these in for the packaged app; put them back for whatever runs next in this process.
const ENV_KEYS = ['TOPIARY_HOME', 'TOPIARY_APP_ROOT', 'TOPIARY_RESOURCES', 'TOPIARY_RUN_JOB_ENTRY', 'TOPIARY_FIT_JOB_ENTRY', 'TOPIARY_ENGINE_JOB_ENTRY', 'TOPIARY_TRAIN_WORKER_ENTRY'] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
let appUrl = '';

beforeAll(async () => {
  electron.userData = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-electron-'));
  fs.writeFileSync(path.join(electron.userData, 'window-state.json'), JSON.stringify({ x: 40, y: 50, width: 1000, height: 700 }));
  process.env.TOPIARY_HOME = electron.userData;
  await import('../../../src-main/electron/main');
  await vi.waitFor(() => expect(electron.loadedUrl).not.toBe(''));
  appUrl = electron.loadedUrl;
});

afterAll(() => {
  fs.rmSync(electron.userData, { recursive: true, force: true });
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

const ipc = (channel: string, senderUrl: string | undefined, ...args: unknown[]) =>
  electron.ipcHandlers.get(channel)!({ senderFrame: senderUrl === undefined ? undefined : { url: senderUrl } }, ...args);

describe('Electron main window', () => {
  it('loads the bundled renderer from the app:// origin', () => {
    expect(appUrl).toBe('app://topiary/index.html');
    expect(electron.protocolHandlers.has('app')).toBe(true);
  });

  it('points every worker at its built bundle beside main.cjs, each one the build makes', async () => {
    // @ts-expect-error: a plain .mjs build script, no type declarations
    const { electronBundles } = await import('../../../scripts/bundles.mjs');
    const built = Object.keys(electronBundles('/'));
    const workers = { TOPIARY_RUN_JOB_ENTRY: 'run-job', TOPIARY_FIT_JOB_ENTRY: 'fit-job', TOPIARY_ENGINE_JOB_ENTRY: 'engine-job', TOPIARY_TRAIN_WORKER_ENTRY: 'train-worker' };
    for (const [key, name] of Object.entries(workers)) {
      expect(process.env[key]).toMatch(new RegExp(`^file://.*/${name}\\.cjs$`));
      expect(built).toContain(name);
    }
  });

  it('opens the window with the secure web preferences and the remembered bounds', () => {
    expect(electron.windowOptions).toMatchObject({ x: 40, y: 50, width: 1000, height: 700, show: false });
    const prefs = electron.windowOptions!.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webSecurity: true, webviewTag: false });
    expect(String(prefs.preload)).toMatch(/preload\.cjs$/);
  });

  it('remembers the window bounds on close', () => {
    electron.windowHandlers.get('close')!();
    expect(JSON.parse(fs.readFileSync(path.join(electron.userData, 'window-state.json'), 'utf8'))).toEqual({ x: 5, y: 6, width: 1111, height: 777 });
  });

  it('adds the strict CSP to every response and denies permission requests', () => {
    let headers: Record<string, unknown> = {};
    electron.headersHandler!({ responseHeaders: { 'X-Other': ['1'] } }, (r) => (headers = (r as { responseHeaders: Record<string, unknown> }).responseHeaders));
    expect(headers['X-Other']).toEqual(['1']);
    expect(String(headers['Content-Security-Policy'])).toContain("script-src 'self'");
    let granted: boolean | undefined;
    electron.permissionHandler!({}, 'media', (ok) => (granted = ok));
    expect(granted).toBe(false);
  });

  it('prevents navigation to foreign URLs but allows in-app hash routes', () => {
    const handlers = new Map<string, Handler>();
    electron.appHandlers.get('web-contents-created')!({}, { on: (name: string, fn: Handler) => handlers.set(name, fn), setWindowOpenHandler: (fn: (d: { url: string }) => unknown) => (electron.windowOpenHandler = fn) });
    const navigate = handlers.get('will-navigate')!;
    for (const [url, blocked] of [
      ['https://evil.example/', true],
      ['file:///etc/passwd', true],
      [`${appUrl}#/runs`, false],
    ] as const) {
      const e = { preventDefault: vi.fn() };
      navigate(e, url);
      expect(e.preventDefault, url).toHaveBeenCalledTimes(blocked ? 1 : 0);
    }
  });

  it('denies window.open', () => {
    expect(electron.windowOpenHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
  });
});

describe('the hidden GPU window', () => {
  const gpuUrl = () => new URL(electron.others[0]?.url ?? 'app://none/');

  it('opens on app://topiary/gpu.html with a token when the training backend is not cpu: hidden, sandboxed, no preload, not throttled', async () => {
    await vi.waitFor(() => expect(electron.others).toHaveLength(1));
    const { options } = electron.others[0];
    expect(options).toMatchObject({ show: false });
    expect(options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, backgroundThrottling: false });
    expect(options.webPreferences).not.toHaveProperty('preload');
    const url = gpuUrl();
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('app://topiary/gpu.html');
    expect(url.searchParams.get('backend')).toBe('auto');
    expect(url.searchParams.get('token')?.length).toBeGreaterThanOrEqual(24);
  });

  it('its /api/gpu routes answer on the app:// scheme, and only with the token', async () => {
    await vi.waitFor(() => expect(electron.others).toHaveLength(1));
    const handle = electron.protocolHandlers.get('app')!;
    const token = gpuUrl().searchParams.get('token')!;
    const status = await handle({ url: 'app://topiary/api/gpu/status', method: 'GET', headers: new Headers({ 'x-topiary-token': token }) } as never);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ preference: 'auto', wanted: true, peers: [] });
    const none = await handle({ url: 'app://topiary/api/gpu/status', method: 'GET', headers: new Headers() } as never);
    expect(none.status).toBe(401);
    const wrong = await handle({ url: 'app://topiary/api/gpu/status?token=nope', method: 'GET', headers: new Headers() } as never);
    expect(wrong.status).toBe(401);
    // A page's registration is validated like any other body.
    const bad = new TextEncoder().encode(JSON.stringify({ info: { backend: 'metal' } }));
    const reg = await handle({ url: 'app://topiary/api/gpu/register', method: 'POST', headers: new Headers({ 'x-topiary-token': token }), arrayBuffer: async () => bad.buffer } as never);
    expect(reg.status).toBe(400);
  });
});

describe('Electron IPC', () => {
  it('ignores calls from an unknown sender without reaching a service', async () => {
    api.invoke.mockClear();
    expect(await ipc('topiary:invoke', 'https://evil.example/', 'getInfo', {})).toMatchObject({ ok: false, error: { name: 'Forbidden' } });
    expect(await ipc('topiary:invoke', undefined, 'getInfo', {})).toMatchObject({ ok: false });
    expect(api.invoke).not.toHaveBeenCalled();
  });

  it('rejects an invalid payload with a ConfigError naming the field', async () => {
    api.invoke.mockClear();
    const r = (await ipc('topiary:invoke', appUrl, 'getRun', { runId: 42 })) as { ok: boolean; error: { name: string; message: string } };
    expect(r).toMatchObject({ ok: false, error: { name: 'ConfigError' } });
    expect(r.error.message).toContain('runId');
    expect(api.invoke).not.toHaveBeenCalled();
  });

  it('passes a valid call from the app page to the services', async () => {
    api.invoke.mockClear();
    expect(await ipc('topiary:invoke', `${appUrl}#/runs`, 'getRun', { runId: 'r1' })).toEqual({ ok: true, result: { called: 'getRun' } });
    expect(api.invoke).toHaveBeenCalledWith('getRun', { runId: 'r1' });
  });

  it('opens native dialogs only for the app page and valid requests', async () => {
    electron.showOpenDialog.mockClear();
    expect(await ipc('topiary:dialog', 'https://evil.example/', { kind: 'openModel' })).toBeNull();
    expect(await ipc('topiary:dialog', appUrl, { kind: 'formatDisk' })).toBeNull();
    expect(electron.showOpenDialog).not.toHaveBeenCalled();
    expect(await ipc('topiary:dialog', appUrl, { kind: 'openModel' })).toBe('/picked/model.json');
    expect(electron.showOpenDialog).toHaveBeenCalledTimes(1);
  });

  it('forwards service events to the window', () => {
    for (const l of api.listeners) l('runProgress', { runId: 'r1', fraction: 0.5 });
    expect(electron.sent).toContainEqual(['topiary:event', 'runProgress', { runId: 'r1', fraction: 0.5 }]);
  });
});

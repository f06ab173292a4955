/**
 * Electron hardening (issue 14, class 10), with Electron replaced by a recording fake (its binary is
 * not installed here): the app:// protocol registered before ready and contained to the renderer
 * folder, a guard on every web contents (navigation, redirects, new windows, <webview>), permission
 * checks refused beside permission requests, and the packaged binary's fuses in electron-builder.yml.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { APP_INDEX_URL, appProtocolHandler, resolveAppFile } from '../../src-main/electron/security';
import { root, tempDir } from './helpers';

type Handler = (...args: unknown[]) => unknown;

const fake = vi.hoisted(() => ({
  ready: false,
  /** Whether the app was ready when the schemes were registered (must be false). */
  registeredWhenReady: undefined as boolean | undefined,
  schemes: [] as { scheme: string; privileges?: Record<string, boolean> }[],
  protocolHandlers: new Map<string, (request: { url: string; method?: string }) => Promise<Response>>(),
  appHandlers: new Map<string, Handler>(),
  permissionRequest: undefined as undefined | Handler,
  permissionCheck: undefined as undefined | Handler,
  devicePermission: undefined as undefined | Handler,
  /** The main window's URL (the first loaded), and every URL any window loaded (the hidden GPU window too). */
  loadedUrl: '',
  loaded: [] as string[],
  userData: '',
  /** The folder main.ts gave the app:// handler. */
  rendererRoot: '',
}));

vi.mock('electron', () => {
  class BrowserWindow {
    webContents = { on: () => undefined, setWindowOpenHandler: () => undefined, send: () => undefined };
    once() {}
    on() {}
    isDestroyed() {
      return false;
    }
    getBounds() {
      return { x: 0, y: 0, width: 1, height: 1 };
    }
    async loadURL(url: string) {
      fake.loaded.push(url);
      if (!fake.loadedUrl) fake.loadedUrl = url;
    }
  }
  return {
    app: {
      whenReady: async () => {
        fake.ready = true;
      },
      getPath: () => fake.userData,
      on: (name: string, fn: Handler) => fake.appHandlers.set(name, fn),
      quit: () => undefined,
    },
    protocol: {
      registerSchemesAsPrivileged: (schemes: typeof fake.schemes) => {
        fake.registeredWhenReady = fake.ready;
        fake.schemes.push(...schemes);
      },
      handle: (scheme: string, fn: (request: { url: string }) => Promise<Response>) => fake.protocolHandlers.set(scheme, fn),
    },
    BrowserWindow,
    dialog: { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) },
    ipcMain: { handle: () => undefined },
    Menu: { buildFromTemplate: (t: unknown) => t, setApplicationMenu: () => undefined },
    session: {
      defaultSession: {
        webRequest: { onHeadersReceived: () => undefined },
        setPermissionRequestHandler: (fn: Handler) => (fake.permissionRequest = fn),
        setPermissionCheckHandler: (fn: Handler) => (fake.permissionCheck = fn),
        setDevicePermissionHandler: (fn: Handler) => (fake.devicePermission = fn),
      },
    },
    shell: { showItemInFolder: () => undefined },
  };
});

vi.mock('../../src-main/electron/security', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src-main/electron/security')>();
  return {
    ...actual,
    appProtocolHandler: (rendererRoot: string, ...rest: unknown[]) => {
      fake.rendererRoot = rendererRoot;
      return (actual.appProtocolHandler as (root: string, ...r: unknown[]) => unknown)(rendererRoot, ...rest);
    },
  };
});

vi.mock('../../src-main/app/api', () => ({
  createApi: async () => ({ invoke: async () => null, subscribe: () => () => undefined, close: async () => undefined }),
}));

const ENV_KEYS = ['TOPIARY_HOME', 'TOPIARY_APP_ROOT', 'TOPIARY_RESOURCES', 'TOPIARY_RUN_JOB_ENTRY', 'TOPIARY_FIT_JOB_ENTRY', 'TOPIARY_TRAIN_WORKER_ENTRY'] as const;
const savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));

beforeAll(async () => {
  fake.userData = tempDir('topiary-electron-hostile-');
  process.env.TOPIARY_HOME = fake.userData;
  await import('../../src-main/electron/main');
  await vi.waitFor(() => expect(fake.loadedUrl).not.toBe(''));
});

afterAll(() => {
  fs.rmSync(fake.userData, { recursive: true, force: true });
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

/** A stand-in web contents that records the guard's listeners. */
function guardedContents() {
  const listeners = new Map<string, Handler>();
  let openHandler: ((d: { url: string }) => unknown) | undefined;
  fake.appHandlers.get('web-contents-created')!({}, {
    on: (name: string, fn: Handler) => listeners.set(name, fn),
    setWindowOpenHandler: (fn: (d: { url: string }) => unknown) => (openHandler = fn),
  });
  const fire = (event: string, url?: string) => {
    const e = { url, preventDefault: vi.fn() };
    listeners.get(event)!(e, url);
    return e.preventDefault.mock.calls.length > 0;
  };
  return { listeners, fire, open: (url: string) => openHandler!({ url }) };
}

describe('the app protocol', () => {
  it('app:// is registered as a standard, secure scheme before the app is ready', () => {
    expect(fake.registeredWhenReady).toBe(false);
    expect(fake.schemes).toEqual([{ scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) }]);
  });

  it('the window loads app://topiary/index.html, not a file:// URL', () => {
    expect(fake.loadedUrl).toBe('app://topiary/index.html');
    expect(fake.protocolHandlers.has('app')).toBe(true);
  });

  it('every window, the hidden GPU window too, loads only app://topiary/ pages', async () => {
    await vi.waitFor(() => expect(fake.loaded.length).toBe(2));
    for (const url of fake.loaded) expect(url.startsWith('app://topiary/'), url).toBe(true);
    expect(fake.loaded[1]).toMatch(/^app:\/\/topiary\/gpu\.html\?backend=auto&token=[\w-]{24,}$/);
  });

  it('the GPU routes on app:// refuse a missing or wrong token, and reach no file through a crafted path', async () => {
    const handle = fake.protocolHandlers.get('app')!;
    for (const url of ['app://topiary/api/gpu/status', 'app://topiary/api/gpu/status?token=x', 'app://topiary/api/gpu/..%2F..%2Fetc%2Fpasswd']) {
      const res = await handle({ url, method: 'GET', headers: new Headers() } as never);
      expect(res.status, url).toBe(401);
    }
    const token = new URL(fake.loaded[1]).searchParams.get('token')!;
    const res = await handle({ url: `app://topiary/api/gpu/..%2F..%2Fetc%2Fpasswd?token=${token}`, method: 'GET', headers: new Headers() } as never);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('root:');
  });

  it('app:// is served from the built renderer folder beside the main bundle', () => {
    // main.ts runs from dist-electron/ when built and from src-main/electron/ here: either way ../dist-renderer.
    expect(fake.rendererRoot).toBe(path.join(root, 'src-main', 'dist-renderer'));
  });

  describe('serving a renderer folder', () => {
    let dir: string;
    let rendererRoot: string;
    beforeAll(() => {
      dir = tempDir('topiary-app-protocol-');
      rendererRoot = path.join(dir, 'dist-renderer');
      fs.mkdirSync(path.join(rendererRoot, 'assets'), { recursive: true });
      fs.writeFileSync(path.join(rendererRoot, 'index.html'), '<!doctype html>');
      fs.writeFileSync(path.join(rendererRoot, 'assets', 'app.js'), 'export {}');
      fs.writeFileSync(path.join(dir, 'secret.txt'), 'secret');
      fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(rendererRoot, 'assets', 'link.js'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it.each([
      ['an encoded ../ out of the renderer folder', 'app://topiary/..%2fsecret.txt'],
      ['an encoded backslash', 'app://topiary/..%5csecret.txt'],
      ['a dot segment (normalized away: stays inside)', 'app://topiary/%2e%2e/secret.txt'],
      ['a NUL byte', 'app://topiary/index.html%00.js'],
      ['a bad %-escape', 'app://topiary/%E0%A4%A'],
      ['another host', 'app://evil/index.html'],
      ['a port or user name', 'app://user@topiary:8080/index.html'],
      ['another scheme', `file://${path.sep}etc/passwd`],
    ])('answers 404 for %s', async (_what, url) => {
      const r = await appProtocolHandler(rendererRoot)({ url, method: 'GET' });
      expect(r.status).toBe(404);
      expect(await r.text()).toBe('not found');
    });

    it('serves the page and its scripts with their types and the CSP', async () => {
      const handler = appProtocolHandler(rendererRoot);
      const page = await handler({ url: APP_INDEX_URL, method: 'GET' });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const script = await handler({ url: 'app://topiary/assets/app.js', method: 'GET' });
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(await script.text()).toBe('export {}');
    });

    it('refuses a symlink that leads out of the renderer folder', async () => {
      expect(resolveAppFile(rendererRoot, 'app://topiary/assets/link.js')).toBeUndefined();
      expect((await appProtocolHandler(rendererRoot)({ url: 'app://topiary/assets/link.js', method: 'GET' })).status).toBe(404);
    });

    it('refuses a sibling folder whose name starts like the renderer folder', () => {
      fs.mkdirSync(`${rendererRoot}-evil`, { recursive: true });
      fs.writeFileSync(path.join(`${rendererRoot}-evil`, 'x.js'), '');
      expect(resolveAppFile(rendererRoot, 'app://topiary/..%2fdist-renderer-evil%2fx.js')).toBeUndefined();
    });

    it('refuses folders and methods other than GET/HEAD', async () => {
      expect(resolveAppFile(rendererRoot, 'app://topiary/assets')).toBeUndefined();
      expect((await appProtocolHandler(rendererRoot)({ url: APP_INDEX_URL, method: 'POST' })).status).toBe(405);
    });
  });
});

describe('the guard on every web contents', () => {
  it('is installed globally, for every web contents Electron creates', () => {
    expect(fake.appHandlers.has('web-contents-created')).toBe(true);
  });

  it.each(['https://evil.example/', 'file:///etc/passwd', 'app://evil/index.html', 'http://127.0.0.1:5173/', 'javascript:alert(1)'])(
    'navigation to %s is prevented (page, frame and redirect alike)',
    (url) => {
      const c = guardedContents();
      expect(c.fire('will-navigate', url)).toBe(true);
      expect(c.fire('will-frame-navigate', url)).toBe(true);
      expect(c.fire('will-redirect', url)).toBe(true);
    },
  );

  it('navigation inside the app origin (hash routes) is allowed', () => {
    const c = guardedContents();
    expect(c.fire('will-navigate', `${APP_INDEX_URL}#/runs`)).toBe(false);
    expect(c.fire('will-redirect', APP_INDEX_URL)).toBe(false);
  });

  it('window.open is denied for any URL', () => {
    const c = guardedContents();
    for (const url of ['https://example.com/', APP_INDEX_URL, 'about:blank']) expect(c.open(url)).toEqual({ action: 'deny' });
  });

  it('attaching a <webview> is prevented', () => {
    expect(guardedContents().fire('will-attach-webview')).toBe(true);
  });
});

describe('permissions', () => {
  it.each(['media', 'geolocation', 'notifications', 'clipboard-read', 'hid', 'serial'])('a permission check for %s answers false', (permission) => {
    expect(fake.permissionCheck!({}, permission, APP_INDEX_URL, {})).toBe(false);
  });

  it('permission requests and device permissions are refused too', () => {
    let granted: boolean | undefined;
    fake.permissionRequest!({}, 'media', (ok: boolean) => (granted = ok));
    expect(granted).toBe(false);
    expect(fake.devicePermission!({ deviceType: 'usb' })).toBe(false);
  });
});

describe('fuses of the packaged binary (electron-builder.yml)', () => {
  // js-yaml is electron-builder's own YAML reader; load it the way app-builder-lib does.
  const requireFromBuilder = createRequire(require.resolve('app-builder-lib/package.json'));
  const yaml = requireFromBuilder('js-yaml') as { load(text: string): unknown };
  const config = yaml.load(fs.readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as { electronFuses?: Record<string, unknown> };
  const schema = requireFromBuilder('./scheme.json') as { definitions: { FuseOptionsV1: { properties: Record<string, { type: string }> } } };

  it('sets the hardening fuses', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it("uses only fuse names the installed electron-builder's schema knows, as booleans", () => {
    const known = schema.definitions.FuseOptionsV1.properties;
    expect(Object.keys(config.electronFuses ?? {}).length).toBeGreaterThan(0);
    for (const [key, value] of Object.entries(config.electronFuses ?? {})) {
      expect(known[key], `unknown fuse ${key}`).toBeDefined();
      expect(known[key].type).toBe('boolean');
      expect(typeof value).toBe('boolean');
    }
  });
});

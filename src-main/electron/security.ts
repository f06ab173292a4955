/**
 * The window's security settings, the guards every web contents gets, the app protocol and the IPC
 * gatekeeper, kept free of Electron imports so they can be unit-tested with Electron mocked.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ZodError } from 'zod';
import { describeIssues, isCommandName, parsePayload, type CommandName } from '../common/contract';
import { toErrorInfo } from '../common/errors';

/**
 * The renderer is served from `app://topiary/`, a standard, secure scheme of its own, rather than
 * `file://`: the page gets a real origin ('self' in the CSP means exactly the app's files), and it
 * cannot read other local files the way file:// pages can.
 */
export const APP_SCHEME = 'app';
const APP_HOST = 'topiary';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`;

/** Passed to protocol.registerSchemesAsPrivileged before the app is ready. */
export const APP_SCHEME_PRIVILEGES = [
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, corsEnabled: true, codeCache: true } },
];

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Every window's web preferences: isolated, sandboxed, no Node, no webviews (the GPU window adds no preload). */
export const LOCKED_WEB_PREFERENCES = {
  contextIsolation: true,
  sandbox: true,
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  webSecurity: true,
  allowRunningInsecureContent: false,
  webviewTag: false,
  spellcheck: false,
} as const;

export function mainWindowOptions(preloadPath: string, bounds?: { x?: number; y?: number; width: number; height: number }) {
  return {
    width: bounds?.width ?? 1280,
    height: bounds?.height ?? 860,
    x: bounds?.x,
    y: bounds?.y,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Topiary',
    webPreferences: { preload: preloadPath, ...LOCKED_WEB_PREFERENCES },
  };
}

/** True for URLs of the app's own origin (`app://topiary/...`), the only place a page may go. */
export function isAppOrigin(url: string): boolean {
  try {
    return isAppUrl(new URL(url));
  } catch {
    return false;
  }
}

// WHATWG URL gives custom schemes an opaque origin ("null"), so scheme and host are compared instead.
function isAppUrl(u: URL): boolean {
  return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === '' && u.port === '';
}

/** The renderer is only ever loaded from the app's own files. */
export function isTrustedUrl(url: string, appIndexUrl: string): boolean {
  try {
    const u = new URL(url);
    const app = new URL(appIndexUrl);
    return u.protocol === app.protocol && u.host === app.host && u.pathname === app.pathname;
  } catch {
    return false;
  }
}

/** The part of Electron's WebContents the guards use (typed here so they test without Electron). */
export interface GuardedContents {
  on(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', listener: (event: { url?: string; preventDefault(): void }, url?: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/**
 * Locks one web contents (every window, frame host or view Electron creates, via
 * `app.on('web-contents-created')`): navigation and redirects stay inside the app's origin, no new
 * windows (the app has no external links), no <webview>.
 */
export function guardWebContents(contents: GuardedContents): void {
  const stayInApp = (event: { url?: string; preventDefault(): void }, url?: string) => {
    if (!isAppOrigin(event.url ?? url ?? '')) event.preventDefault();
  };
  contents.on('will-navigate', stayInApp);
  contents.on('will-frame-navigate', stayInApp);
  contents.on('will-redirect', stayInApp);
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-attach-webview', (event) => event.preventDefault());
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.woff2': 'font/woff2',
};

/**
 * The file an `app://topiary/...` URL names inside the built renderer folder, or undefined. Each
 * path segment is decoded on its own and must be a plain name (no `.`/`..`, separators, NUL or
 * drive colon), and the file's real path (after symlinks) must lie inside the folder.
 */
export function resolveAppFile(rendererRoot: string, url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (!isAppUrl(u)) return undefined;
  const segments: string[] = [];
  for (const raw of (u.pathname === '/' ? '/index.html' : u.pathname).slice(1).split('/')) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (s === '' || s === '.' || s === '..' || /[\\/:\0]/.test(s)) return undefined;
    segments.push(s);
  }
  try {
    const rootReal = fs.realpathSync(rendererRoot);
    const real = fs.realpathSync(path.join(rootReal, ...segments));
    if (!real.startsWith(rootReal + path.sep) || !fs.statSync(real).isFile()) return undefined;
    return real;
  } catch {
    return undefined;
  }
}

/**
 * The `protocol.handle(APP_SCHEME, ...)` handler: serves the built renderer's files with the CSP,
 * and answers 404 for anything else (another origin, a path escaping the folder, a missing file).
 * `gpuApi` answers `app://topiary/api/gpu/*`, the GPU window's routes (./gpu-window.ts).
 */
export function appProtocolHandler<R extends { url: string; method?: string }>(
  rendererRoot: string,
  gpuApi?: (request: R, url: URL) => Promise<Response>,
): (request: R) => Promise<Response> {
  return async (request) => {
    if (gpuApi) {
      const url = new URL(request.url);
      if (isAppUrl(url) && url.pathname.startsWith('/api/gpu/')) return gpuApi(request, url);
    }
    if (request.method !== undefined && request.method !== 'GET' && request.method !== 'HEAD') return new Response('method not allowed', { status: 405 });
    const file = resolveAppFile(rendererRoot, request.url);
    if (!file) return new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
    let data: Buffer;
    try {
      data = await fs.promises.readFile(file);
    } catch {
      return new Response('not found', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
    }
    return new Response(new Uint8Array(data), {
      status: 200,
      headers: {
        'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-store',
      },
    });
  };
}

export type IpcReply = { ok: true; result: unknown } | { ok: false; error: ReturnType<typeof toErrorInfo> };

/**
 * Handles one IPC call: ignores unknown senders, validates the payload against the contract's
 * schema, and only then calls the service. Errors cross as {name, message}.
 */
export async function handleInvoke(
  senderUrl: string | undefined,
  appIndexUrl: string,
  name: unknown,
  payload: unknown,
  invoke: (name: CommandName, payload: unknown) => Promise<unknown>,
): Promise<IpcReply> {
  if (!senderUrl || !isTrustedUrl(senderUrl, appIndexUrl)) {
    return { ok: false, error: { name: 'Forbidden', message: 'IPC from an unknown sender was ignored' } };
  }
  if (!isCommandName(name)) return { ok: false, error: { name: 'NotFound', message: `unknown command ${String(name)}` } };
  let valid: unknown;
  try {
    valid = parsePayload(name, payload);
  } catch (err) {
    const message = err instanceof ZodError ? describeIssues(err.issues, 'payload') : String(err);
    return { ok: false, error: { name: 'ConfigError', message } };
  }
  try {
    return { ok: true, result: await invoke(name, valid) };
  } catch (err) {
    const info = toErrorInfo(err);
    return { ok: false, error: { name: info.name, message: info.message, exitCode: info.exitCode } };
  }
}

/**
 * The window's security settings and the IPC gatekeeper, kept free of Electron imports so they can
 * be unit-tested with Electron mocked.
 */
import { ZodError } from 'zod';
import { describeIssues, isCommandName, parsePayload, type CommandName } from '../common/contract';
import { toErrorInfo } from '../common/errors';

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

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
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
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

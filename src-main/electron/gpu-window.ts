/**
 * The desktop app's GPU window: a hidden, locked-down window on `app://topiary/gpu.html`, the same
 * page web mode frames (src-main/gpu/page.ts). It self-tests WebGPU/WebGL, registers as a peer and
 * trains the runs handed to it (src-main/gpu/peer.ts), talking to the same /api/gpu routes
 * (app/gpu-routes.ts) that web mode serves over HTTP; here the app:// protocol handler answers them,
 * so no port is opened. A per-start token gates them, as in web mode. Kept free of Electron
 * imports so it can be unit-tested.
 */
import { timingSafeEqual } from 'node:crypto';
import type { GpuRouteHandler } from '../common/contract/gpu';
import type { GpuPreference } from '../app/gpu-peers';
import { LOCKED_WEB_PREFERENCES } from './security';

/** The largest JSON body a GPU window posts (progress batches); binary bodies (a trained model) may be larger. */
const MAX_JSON_BODY = 8 * 1024 * 1024;
const MAX_BINARY_BODY = 512 * 1024 * 1024;

/** What the handler needs of a protocol request (Electron passes a fetch Request). */
export interface GpuApiRequest {
  url: string;
  method?: string;
  headers?: { get(name: string): string | null };
  arrayBuffer?(): Promise<ArrayBuffer>;
}

/** The hidden window's options: no preload (it needs no IPC), sandboxed, and never throttled while hidden. */
export function gpuWindowOptions() {
  return {
    show: false,
    width: 480,
    height: 320,
    title: 'Topiary GPU engine',
    webPreferences: {
      ...LOCKED_WEB_PREFERENCES,
      // A hidden window's timers are throttled by default: its heartbeats and polls would stall.
      backgroundThrottling: false,
    },
  };
}

/** The GPU page for a preference (`auto` lets the page pick WebGPU, else WebGL), or undefined for cpu. */
export function gpuWindowUrl(origin: string, preference: GpuPreference, token: string): string | undefined {
  if (preference === 'cpu') return undefined;
  const backend = preference === 'webgl' || preference === 'webgpu' ? preference : 'auto';
  return `${origin}/gpu.html?backend=${backend}&token=${encodeURIComponent(token)}`;
}

const text = (status: number, body: string) => new Response(body, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' } });

class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Answers `app://topiary/api/gpu/<route>` with `routes`, as web mode's server does over HTTP: the
 * token (header `x-topiary-token` or `?token=`) must match; JSON bodies are objects; sizes are capped.
 */
export function gpuApiHandler(routes: GpuRouteHandler, token: string): (request: GpuApiRequest, url: URL) => Promise<Response> {
  const want = Buffer.from(token);
  const sameToken = (given: string | null | undefined) => {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === want.length && timingSafeEqual(b, want);
  };
  return async (request, url) => {
    if (!sameToken(request.headers?.get('x-topiary-token') ?? url.searchParams.get('token'))) return text(401, 'missing or wrong token');
    const body = async (max: number): Promise<Uint8Array> => {
      const bytes = new Uint8Array(request.arrayBuffer ? await request.arrayBuffer() : new ArrayBuffer(0));
      if (bytes.length > max) throw new BodyError(413, `request body over ${max} bytes`);
      return bytes;
    };
    try {
      const reply = await routes(url.pathname.slice('/api/gpu/'.length), {
        method: request.method ?? 'GET',
        query: url.searchParams,
        json: async () => {
          let value: unknown;
          try {
            value = JSON.parse(new TextDecoder().decode(await body(MAX_JSON_BODY)));
          } catch (err) {
            if (err instanceof BodyError) throw err;
            throw new BodyError(400, 'the body is not JSON');
          }
          if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BodyError(400, 'the body must be a JSON object');
          return value as Record<string, unknown>;
        },
        bytes: () => body(MAX_BINARY_BODY),
      });
      if ('bytes' in reply) return new Response(reply.bytes as Uint8Array<ArrayBuffer>, { status: 200, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' } });
      if (!('json' in reply)) return new Response(null, { status: reply.status, headers: { 'Cache-Control': 'no-store' } });
      return new Response(JSON.stringify(reply.json), { status: reply.status, headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' } });
    } catch (err) {
      if (err instanceof BodyError) return text(err.status, err.message);
      // Details stay in the main process's log, never in the answer.
      console.error('GPU route failed:', err);
      return text(500, 'internal error');
    }
  };
}

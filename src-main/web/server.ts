/**
 * Web mode: the same UI and services over HTTP + Server-Sent Events, on 127.0.0.1 only. A random
 * per-start token in the printed URL gates every request (the page passes it on as a header or
 * query parameter); Host and Origin are checked so other sites and DNS rebinding cannot reach it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { ZodError } from 'zod';
import { describeIssues, isCommandName, parsePayload, type CommandName, type EventName } from '../common/contract';
import { toErrorInfo } from '../common/errors';
import type { GpuRouteHandler } from '../common/contract/gpu';

export interface WebServerOptions {
  /** Calls a service for a validated command. */
  invoke: (name: CommandName, payload: unknown) => Promise<unknown>;
  /** Subscribes to pushed events; returns an unsubscribe function. */
  subscribe: (listener: (name: EventName, payload: unknown) => void) => () => void;
  /** Built renderer (index.html + assets). */
  staticDir: string;
  port?: number;
  token?: string;
  /** Where unexpected errors (with their stacks) are reported; default stderr. They never reach the client. */
  onError?: (err: unknown) => void;
  /** Answers /api/gpu/<route> (GPU windows that train runs: app/gpu-routes.ts); without it those routes answer 404. */
  gpu?: GpuRouteHandler;
}

export interface WebServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The largest request body read; larger ones answer 413. */
const MAX_BODY = 1024 * 1024;
/** The largest binary body a GPU window posts (a trained model's weights). */
const MAX_GPU_BODY = 512 * 1024 * 1024;
/** How much of an unwanted body is read and dropped so the client sees the answer instead of a reset. */
const MAX_DISCARD = 16 * MAX_BODY;
/** Nesting a request body may have; contract payloads need a handful of levels. */
const MAX_JSON_DEPTH = 64;
const STATIC_METHODS = 'GET, HEAD';

/** An answer decided before a service ran: status, a short error and, for 405, the allowed methods. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    override readonly name: string,
    message: string,
    readonly allow?: string,
  ) {
    super(message);
  }
}

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const tokenBytes = Buffer.from(token);
  let port = opts.port ?? 0;
  const onError = opts.onError ?? ((err: unknown) => console.error('topiary web: request failed:', err));
  const sameToken = (given: string | null | undefined) => {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes);
  };
  const staticRoot = realOrSelf(path.resolve(opts.staticDir));
  const gpu = opts.gpu;

  const server = http.createServer((req, res) => {
    // Whatever the answer, an unread body is drained (bounded) so the client reads the answer.
    res.on('finish', () => discardBody(req));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return sendError(res, err);
      // The stack goes to the terminal of whoever started web mode, never to the client.
      onError(err);
      sendError(res, new HttpError(500, 'InternalError', 'internal error'));
    });
  });
  // Requests Node's parser refuses (a bad request line, headers over the limit) never reach handle:
  // Node answers them with a bare 400 / 431 of its own.

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!req.headers.host || !allowedHosts.includes(req.headers.host)) throw new HttpError(403, 'Forbidden', 'bad Host header');
    const origin = req.headers.origin;
    if (origin && !allowedHosts.some((h) => origin === `http://${h}`)) throw new HttpError(403, 'Forbidden', 'bad Origin');
    const url = parseTarget(req.url);
    const header = req.headers['x-topiary-token'];
    const given = (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('token');

    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) {
      if (!sameToken(given)) throw new HttpError(401, 'Unauthorized', 'missing or wrong token');
      if (url.pathname === '/api/events' && req.method === 'GET') return serveEvents(req, res);
      if (url.pathname.startsWith('/api/gpu/')) {
        if (!gpu) throw new HttpError(404, 'NotFound', 'this server has no GPU peers');
        const reply = await gpu(url.pathname.slice('/api/gpu/'.length), {
          method: req.method ?? 'GET',
          query: url.searchParams,
          json: () => readJsonBody(req),
          bytes: () => readBytesBody(req, MAX_GPU_BODY),
        });
        if ('bytes' in reply) {
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' });
          return res.end(reply.bytes);
        }
        if (!('json' in reply)) return res.writeHead(reply.status, { 'Cache-Control': 'no-store' }).end();
        return sendJson(res, reply.status, reply.json);
      }
      const name = url.pathname.slice('/api/'.length);
      if (req.method !== 'POST') throw new HttpError(405, 'MethodNotAllowed', 'use POST', 'POST');
      if (!isCommandName(name)) throw new HttpError(404, 'NotFound', `unknown command ${name}`);
      const body = await readJsonBody(req);
      let payload: unknown;
      try {
        payload = parsePayload(name, body);
      } catch (err) {
        const message = err instanceof ZodError ? describeIssues(err.issues, 'payload') : 'invalid payload';
        return sendJson(res, 400, { error: { name: 'ConfigError', message } });
      }
      try {
        const result = await opts.invoke(name, payload);
        return sendJson(res, 200, { result: result ?? null });
      } catch (err) {
        const info = toErrorInfo(err);
        return sendJson(res, info.exitCode === 2 ? 400 : 500, { error: { ...info, stack: undefined } });
      }
    }

    // Static UI. The page itself needs the token too, so a stray local page cannot frame or read it.
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'MethodNotAllowed', 'GET only', STATIC_METHODS);
    const rel = url.pathname === '/' ? 'index.html' : staticRelativePath(url.pathname);
    if (rel === 'index.html' && !sameToken(given)) {
      res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      return res.end('Topiary web mode: open the URL printed at start (it carries the access token).');
    }
    const data = await readStaticFile(staticRoot, rel);
    res.writeHead(200, {
      'Content-Type': MIME[path.extname(rel)] ?? 'application/octet-stream',
      // The app's own page frames gpu.html (its hidden GPU window, see src-renderer/lib/gpu-peer.ts); nothing else frames anything.
      'Content-Security-Policy': `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors ${rel === 'gpu.html' ? "'self'" : "'none'"}`,
      'Cache-Control': 'no-store',
    });
    res.end(data);
  }

  function serveEvents(req: http.IncomingMessage, res: http.ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': connected\n\n');
    const unsubscribe = opts.subscribe((name, payload) => {
      res.write(`event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(ping);
      unsubscribe();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The request target as a URL; one that does not parse is a 400 that says nothing more. */
function parseTarget(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://127.0.0.1');
  } catch {
    throw new HttpError(400, 'BadRequest', 'bad request path');
  }
}

/**
 * A URL path as a path under the UI folder. Each segment is decoded on its own, so an encoded
 * separator (`%2f`, `%5c`) cannot join segments, and a segment that decodes to `.`, `..`, or holds a
 * NUL or a separator is refused: the UI is a flat tree of plain names.
 */
function staticRelativePath(pathname: string): string {
  const segments = pathname.slice(1).split('/');
  const decoded = segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'BadRequest', 'bad request path');
    }
  });
  if (decoded.some((s) => s.includes('\0'))) throw new HttpError(400, 'BadRequest', 'bad request path');
  if (decoded.some((s) => s === '' || s === '.' || s === '..' || /[\\/:]/.test(s))) throw new HttpError(404, 'NotFound', 'not found');
  return decoded.join('/');
}

/** Reads a UI file: a regular file whose real path (after symlinks) is inside the UI folder. */
async function readStaticFile(staticRoot: string, rel: string): Promise<Buffer> {
  const notFound = new HttpError(404, 'NotFound', 'not found');
  let real: string;
  try {
    real = await fs.promises.realpath(path.join(staticRoot, rel));
  } catch {
    throw notFound;
  }
  if (!real.startsWith(staticRoot + path.sep)) throw notFound;
  try {
    const stat = await fs.promises.stat(real);
    if (!stat.isFile()) throw notFound;
    return await fs.promises.readFile(real);
  } catch {
    throw notFound;
  }
}

function realOrSelf(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * Reads an API request body: declared as JSON, at most MAX_BODY bytes (413 past that, answered
 * rather than reset), valid JSON, nested at most MAX_JSON_DEPTH deep, and an object. Problems are
 * described without quoting the body.
 */
async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const declared = req.headers['content-length'];
  const hasBody = (declared !== undefined && declared !== '0') || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return {};
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/json') throw new HttpError(415, 'UnsupportedMediaType', 'send the body as Content-Type: application/json');
  const tooLarge = new HttpError(413, 'PayloadTooLarge', `request body over ${MAX_BODY} bytes`);
  if (declared !== undefined && Number(declared) > MAX_BODY) throw tooLarge;
  const text = await new Promise<string>((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) return chunks.push(c);
      // Stop collecting; discardBody drains the rest once the 413 is sent.
      req.off('data', onData);
      req.pause();
      reject(tooLarge);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => reject(new HttpError(400, 'BadRequest', 'the request body was cut off')));
  });
  if (text.trim() === '') return {};
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw new HttpError(400, 'BadRequest', `request body is nested more than ${MAX_JSON_DEPTH} levels deep`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BadRequest', 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'BadRequest', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** Reads a binary body (Content-Type: application/octet-stream) of at most `max` bytes. */
async function readBytesBody(req: http.IncomingMessage, max: number): Promise<Uint8Array> {
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (mediaType !== 'application/octet-stream') throw new HttpError(415, 'UnsupportedMediaType', 'send the body as Content-Type: application/octet-stream');
  const tooLarge = new HttpError(413, 'PayloadTooLarge', `request body over ${max} bytes`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) throw tooLarge;
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= max) return chunks.push(c);
      req.off('data', onData);
      req.pause();
      reject(tooLarge);
    };
    req.on('data', onData);
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      resolve(new Uint8Array(all.buffer, all.byteOffset, all.byteLength));
    });
    req.on('error', () => reject(new HttpError(400, 'BadRequest', 'the request body was cut off')));
  });
}

/** Deepest bracket nesting in a JSON text (brackets inside strings do not count). */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Reads and drops the rest of a request body nobody will use; closes the connection past MAX_DISCARD. */
function discardBody(req: http.IncomingMessage) {
  if (req.readableEnded || req.destroyed) return;
  let seen = 0;
  req.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > MAX_DISCARD) req.socket.destroy();
  });
  req.resume();
}

function sendError(res: http.ServerResponse, err: HttpError) {
  if (err.allow) res.setHeader('Allow', err.allow);
  sendJson(res, err.status, { error: { name: err.name, message: err.message } });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

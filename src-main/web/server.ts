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

export interface WebServerOptions {
  /** Calls a service for a validated command. */
  invoke: (name: CommandName, payload: unknown) => Promise<unknown>;
  /** Subscribes to pushed events; returns an unsubscribe function. */
  subscribe: (listener: (name: EventName, payload: unknown) => void) => () => void;
  /** Built renderer (index.html + assets). */
  staticDir: string;
  port?: number;
  token?: string;
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

const MAX_BODY = 1024 * 1024;

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const tokenBytes = Buffer.from(token);
  let port = opts.port ?? 0;
  const sameToken = (given: string | null | undefined) => {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === tokenBytes.length && timingSafeEqual(b, tokenBytes);
  };
  const staticRoot = path.resolve(opts.staticDir);

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err) => sendJson(res, 500, { error: toErrorInfo(err) }));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!req.headers.host || !allowedHosts.includes(req.headers.host)) return sendJson(res, 403, { error: { name: 'Forbidden', message: 'bad Host header' } });
    const origin = req.headers.origin;
    if (origin && !allowedHosts.some((h) => origin === `http://${h}`)) return sendJson(res, 403, { error: { name: 'Forbidden', message: 'bad Origin' } });
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    const given = (req.headers['x-topiary-token'] as string | undefined) ?? url.searchParams.get('token');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');

    if (url.pathname.startsWith('/api/')) {
      if (!sameToken(given)) return sendJson(res, 401, { error: { name: 'Unauthorized', message: 'missing or wrong token' } });
      if (url.pathname === '/api/events' && req.method === 'GET') return serveEvents(req, res);
      const name = url.pathname.slice('/api/'.length);
      if (req.method !== 'POST') return sendJson(res, 405, { error: { name: 'MethodNotAllowed', message: 'use POST' } });
      if (!isCommandName(name)) return sendJson(res, 404, { error: { name: 'NotFound', message: `unknown command ${name}` } });
      const body = await readBody(req);
      let payload: unknown;
      try {
        payload = parsePayload(name, body.length ? JSON.parse(body) : {});
      } catch (err) {
        const message = err instanceof ZodError ? describeIssues(err.issues, 'payload') : String(err);
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
    if (req.method !== 'GET') return sendJson(res, 405, { error: { name: 'MethodNotAllowed', message: 'GET only' } });
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = path.resolve(staticRoot, rel);
    if (!file.startsWith(staticRoot + path.sep)) return sendJson(res, 404, { error: { name: 'NotFound', message: 'not found' } });
    if (rel === 'index.html' && !sameToken(given)) {
      res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' });
      return res.end('Topiary web mode: open the URL printed at start (it carries the access token).');
    }
    fs.readFile(file, (err, data) => {
      if (err) return sendJson(res, 404, { error: { name: 'NotFound', message: 'not found' } });
      res.writeHead(200, {
        'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        'Cache-Control': 'no-store',
      });
      res.end(data);
    });
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

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  if (res.headersSent) return res.end();
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventName } from '../../../src-main/common/contract';
import { startWebServer, type WebServer } from '../../../src-main/web/server';

let server: WebServer;
const calls: { name: string; payload: unknown }[] = [];
const listeners = new Set<(n: EventName, p: unknown) => void>();

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-web-'));
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Topiary</title>');
  server = await startWebServer({
    staticDir: dir,
    invoke: async (name, payload) => {
      calls.push({ name, payload });
      if (name === 'getRun') throw Object.assign(new Error('no run abc'), { name: 'ConfigError' });
      return { ok: true };
    },
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  });
});
afterAll(() => server.close());

function request(opts: { path: string; method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // API bodies are JSON; say so, as the renderer's transport does.
    const headers = opts.body ? { 'content-type': 'application/json', ...opts.headers } : opts.headers;
    const req = http.request({ host: '127.0.0.1', port: server.port, path: opts.path, method: opts.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

describe('web mode server', () => {
  it('listens on 127.0.0.1 and prints a URL with the token', () => {
    expect(server.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/\\?token=[A-Za-z0-9_-]{20,}$`));
  });

  it('refuses API calls without the token', async () => {
    const r = await request({ path: '/api/getInfo', method: 'POST', body: '{}' });
    expect(r.status).toBe(401);
  });

  it('refuses the page without the token', async () => {
    expect((await request({ path: '/' })).status).toBe(401);
    expect((await request({ path: `/?token=${server.token}` })).status).toBe(200);
  });

  it('refuses a foreign Host header (DNS rebinding) and a foreign Origin', async () => {
    const h = { 'x-topiary-token': server.token };
    expect((await request({ path: '/api/getInfo', method: 'POST', body: '{}', headers: { ...h, Host: 'evil.example:80' } })).status).toBe(403);
    expect((await request({ path: '/api/getInfo', method: 'POST', body: '{}', headers: { ...h, Origin: 'http://evil.example' } })).status).toBe(403);
  });

  it('validates payloads against the contract before calling a service', async () => {
    const before = calls.length;
    const r = await request({ path: '/api/compareRuns', method: 'POST', body: JSON.stringify({ runIds: ['only-one'] }), headers: { 'x-topiary-token': server.token } });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toContain('runIds');
    expect(calls.length).toBe(before);
  });

  it('calls the service for a valid command and returns its result', async () => {
    const r = await request({ path: '/api/cancelRun', method: 'POST', body: JSON.stringify({ runId: 'r1' }), headers: { 'x-topiary-token': server.token } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ result: { ok: true } });
    expect(calls.at(-1)).toEqual({ name: 'cancelRun', payload: { runId: 'r1' } });
  });

  it('answers an unknown command with 404', async () => {
    const r = await request({ path: '/api/dropTables', method: 'POST', body: '{}', headers: { 'x-topiary-token': server.token } });
    expect(r.status).toBe(404);
  });

  it('does not serve files outside the UI folder', async () => {
    const r = await request({ path: `/..%2F..%2Fetc%2Fpasswd?token=${server.token}` });
    expect(r.status).toBe(404);
  });

  it('streams events over SSE', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: `/api/events?token=${server.token}` }, (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
          if (text.includes('connected') && !text.includes('runProgress')) for (const l of listeners) l('runProgress', { runId: 'r1', fraction: 0.5 });
          if (text.includes('"fraction":0.5')) {
            req.destroy();
            resolve(text);
          }
        });
      });
      req.on('error', reject);
    });
    expect(got).toContain('event: runProgress');
  });
});

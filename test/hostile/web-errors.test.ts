/**
 * Hostile requests against web mode (issue 14, class 9). Before the token nothing may describe the
 * machine (no stack, no install path, no 500); with it, errors never echo file contents; oversized,
 * malformed or odd requests get a proper status instead of a reset or a crash. Each test sends one
 * request the way a hostile local page or a careless script would and asserts the exact answer.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandName } from '../../src-main/common/contract';
import type { Api } from '../../src-main/app/api';
import { startWebServer, type WebServer } from '../../src-main/web/server';
import { root, tempDir } from './helpers';
import { buildZip } from './zip';

let server: WebServer;
let api: Api;
let work: string;
let staticDir: string;
const calls: CommandName[] = [];
const logged: unknown[] = [];
const SECRET = 'hunter2-s3cr3t-cell';

beforeAll(async () => {
  work = tempDir('topiary-web-hostile-');
  staticDir = path.join(work, 'ui');
  fs.mkdirSync(path.join(staticDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>Topiary</title>');
  fs.writeFileSync(path.join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(work, 'outside.txt'), SECRET);
  fs.symlinkSync(path.join(work, 'outside.txt'), path.join(staticDir, 'assets', 'link.js'));
  const home = path.join(work, 'home');
  const { createApi } = await import('../../src-main/app/api');
  api = await createApi({ home, dbPath: path.join(home, 'topiary.db') });
  server = await startWebServer({
    staticDir,
    invoke: async (name, payload) => {
      calls.push(name);
      if (name === 'getInfo') throw new TypeError(`internal slip in ${root}/src-main/app/info-service.ts`);
      return api.invoke(name, payload);
    },
    subscribe: api.subscribe,
    onError: (err) => logged.push(err),
  });
});

afterAll(async () => {
  await server?.close();
  await api?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(opts: { path: string; method?: string; headers?: Record<string, string | number>; body?: string | Buffer; chunks?: Buffer[] }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: opts.path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** Sends raw bytes (request lines Node's client refuses to build) and returns the status line and the rest. */
function rawRequest(bytes: string | Buffer): Promise<{ statusLine: string; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve({ statusLine: text.split('\r\n')[0], text }));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve({ statusLine: text.split('\r\n')[0], text });
    }, 3000);
  });
}

const withToken = (extra: Record<string, string | number> = {}) => ({ 'x-topiary-token': server.token, 'content-type': 'application/json', ...extra });

/** The answer says nothing about the machine: no stack frames, no install or data paths, no user name. */
function expectSaysNothing(text: string) {
  expect(text).not.toMatch(/\bat .*\(|\.ts:\d+|node:internal/);
  for (const leak of [root, work, staticDir, process.cwd(), '/home/', '/usr/', process.env.USER ?? '\u0000']) expect(text, `leaks ${leak}`).not.toContain(leak);
}

async function expectError(r: Reply, status: number, name: string) {
  expect(r.status).toBe(status);
  expect(JSON.parse(r.body)).toEqual({ error: { name, message: expect.any(String) } });
  expectSaysNothing(r.body);
}

describe('web mode before the token: errors say nothing about the machine', () => {
  it('a NUL byte (%00) in the path answers 400, not a 500 with a stack', async () => {
    await expectError(await request({ path: '/assets/%00app.js' }), 400, 'BadRequest');
  });

  it('a bad %-escape in the path answers 400', async () => {
    await expectError(await request({ path: '/assets/%E0%A4%A.js' }), 400, 'BadRequest');
    await expectError(await request({ path: '/%zz' }), 400, 'BadRequest');
  });

  it('a request target that is not a URL answers 400', async () => {
    await expectError(await request({ path: '//[' }), 400, 'BadRequest');
  });

  it('a raw NUL byte in the request line is refused by the parser with a bare 400', async () => {
    const r = await rawRequest(`GET /a\u0000b HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n\r\n`);
    expect(r.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expectSaysNothing(r.text);
  });

  it('headers over the limit answer 431', async () => {
    const r = await rawRequest(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(r.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expectSaysNothing(r.text);
  });

  it('an API call with a NUL byte and no token answers 401', async () => {
    await expectError(await request({ path: '/api/%00', method: 'POST' }), 401, 'Unauthorized');
  });

  it('an unknown page answers a short 404', async () => {
    await expectError(await request({ path: '/no/such/file.js' }), 404, 'NotFound');
  });

  it.each([
    ['encoded slashes', '/..%2f..%2f..%2fetc%2fpasswd'],
    ['encoded dots', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd'],
    ['double-encoded', '/%252e%252e%252f%252e%252e%252fetc%252fpasswd'],
    ['backslashes', '/..%5c..%5c..%5cetc%5cpasswd'],
    ['a dot segment to the parent of the UI folder', '/assets/..%2f..%2foutside.txt'],
  ])('path traversal with %s answers 404 and never the file', async (_what, p) => {
    const r = await request({ path: p });
    await expectError(r, 404, 'NotFound');
    expect(r.body).not.toContain(SECRET);
  });

  it('a symlink inside the UI folder that points outside it is not followed', async () => {
    const r = await request({ path: '/assets/link.js' });
    await expectError(r, 404, 'NotFound');
    expect(r.body).not.toContain(SECRET);
  });

  it('HEAD of an asset answers 200 with its headers and no body; HEAD of the page needs the token', async () => {
    const r = await request({ path: '/assets/app.js', method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(r.body).toBe('');
    expect((await request({ path: '/', method: 'HEAD' })).status).toBe(401);
  });

  it('OPTIONS and POST on the UI answer 405 naming the allowed methods', async () => {
    for (const method of ['OPTIONS', 'POST', 'DELETE']) {
      const r = await request({ path: '/index.html', method });
      await expectError(r, 405, 'MethodNotAllowed');
      expect(r.headers.allow).toBe('GET, HEAD');
    }
  });

  it('a large body without the token answers 401 and the connection is not reset', async () => {
    const r = await request({ path: '/api/getInfo', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(3 * 1024 * 1024, 0x20) });
    await expectError(r, 401, 'Unauthorized');
  });

  it('a query string cannot smuggle a path', async () => {
    const r = await request({ path: `/assets/app.js?../../outside.txt` });
    expect(r.status).toBe(200);
    expect(r.body).toBe('console.log(1)');
  });
});

describe('web mode with the token', () => {
  it('a body over the limit (declared length) answers 413, not a reset', async () => {
    const before = calls.length;
    const r = await request({ path: '/api/listRuns', method: 'POST', headers: withToken(), body: `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}` });
    await expectError(r, 413, 'PayloadTooLarge');
    expect(calls.length).toBe(before);
  });

  it('a chunked body over the limit answers 413, not a reset', async () => {
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const r = await request({ path: '/api/listRuns', method: 'POST', headers: withToken({ 'transfer-encoding': 'chunked' }), chunks: Array(8).fill(chunk) });
    await expectError(r, 413, 'PayloadTooLarge');
  });

  it('after a 413 the same connection still answers the next request (the rest of the body was drained)', async () => {
    const big = 'a'.repeat(2 * 1024 * 1024);
    const host = `127.0.0.1:${server.port}`;
    const r = await rawRequest(
      `POST /api/listRuns HTTP/1.1\r\nHost: ${host}\r\nX-Topiary-Token: ${server.token}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}` +
        `GET /assets/app.js HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    expect(r.statusLine).toBe('HTTP/1.1 413 Payload Too Large');
    expect(r.text).toContain('HTTP/1.1 200 OK');
    expect(r.text).toContain('console.log(1)');
  });

  it('prototype names are not commands', async () => {
    for (const name of ['__proto__', 'constructor', 'hasOwnProperty']) {
      await expectError(await request({ path: `/api/${name}`, method: 'POST', headers: withToken(), body: '{}' }), 404, 'NotFound');
    }
  });

  it('a body that is not JSON answers 400 without echoing it', async () => {
    const r = await request({ path: '/api/listRuns', method: 'POST', headers: withToken(), body: `{${SECRET}` });
    await expectError(r, 400, 'BadRequest');
    expect(r.body).not.toContain(SECRET);
  });

  it.each([['a number', '5'], ['null', 'null'], ['an array', '[]'], ['a string', '"x"']])('JSON that is %s answers 400', async (_what, body) => {
    const before = calls.length;
    await expectError(await request({ path: '/api/listRuns', method: 'POST', headers: withToken(), body }), 400, 'BadRequest');
    expect(calls.length).toBe(before);
  });

  it('deeply nested JSON answers 400 before any service runs', async () => {
    const before = calls.length;
    const r = await request({ path: '/api/listRuns', method: 'POST', headers: withToken(), body: `{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}` });
    await expectError(r, 400, 'BadRequest');
    expect(JSON.parse(r.body).error.message).toMatch(/nested/);
    expect(calls.length).toBe(before);
  });

  it('a body that is not declared as JSON answers 415', async () => {
    const before = calls.length;
    await expectError(await request({ path: '/api/listRuns', method: 'POST', headers: withToken({ 'content-type': 'text/plain' }), body: '{}' }), 415, 'UnsupportedMediaType');
    await expectError(await request({ path: '/api/listRuns', method: 'POST', headers: { 'x-topiary-token': server.token }, body: '{}' }), 415, 'UnsupportedMediaType');
    expect(calls.length).toBe(before);
  });

  it('OPTIONS on an API command answers 405 naming POST', async () => {
    const r = await request({ path: '/api/listRuns', method: 'OPTIONS', headers: withToken() });
    await expectError(r, 405, 'MethodNotAllowed');
    expect(r.headers.allow).toBe('POST');
  });

  it('an internal error answers 500 with its message but no stack', async () => {
    const r = await request({ path: '/api/getInfo', method: 'POST', headers: withToken(), body: '{}' });
    expect(r.status).toBe(500);
    const body = JSON.parse(r.body);
    expect(body.error.name).toBe('TypeError');
    expect(body.error.stack).toBeUndefined();
    expect(r.body).not.toMatch(/\bat .*\(/);
  });

  it('a CSV with a non-numeric cell is named by file, line and column, and the cell is not echoed', async () => {
    const file = path.join(work, 'cells.csv');
    fs.writeFileSync(file, `a,b,label\n1,2,0\n3,${SECRET},1\n`);
    const r = await request({ path: '/api/describeDataset', method: 'POST', headers: withToken(), body: JSON.stringify({ spec: `csv:${file}` }) });
    expect(r.status).toBe(400);
    const { error } = JSON.parse(r.body);
    expect(error.name).toBe('DatasetFormatError');
    expect(error.message).toBe(`${file}: line 3, column 2: not a number`);
    expect(r.body).not.toContain(SECRET);
  });

  it('a CSV regression target that is not a number does not echo the cell', async () => {
    const file = path.join(work, 'target.csv');
    fs.writeFileSync(file, `a,y\n1,2\n3,${SECRET}\n`);
    const r = await request({ path: '/api/describeDataset', method: 'POST', headers: withToken(), body: JSON.stringify({ spec: `csv:${file}`, task: 'regression' }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toBe(`${file}: line 3, column 2: the regression target is not a number`);
    expect(r.body).not.toContain(SECRET);
  });

  it('a file read as CSV does not have its first line echoed as column names', async () => {
    const file = path.join(work, 'credentials.csv');
    fs.writeFileSync(file, `user,${SECRET}\nx,y\n`);
    for (const spec of [`csv:${file}`, `csv:${file}#target=label`]) {
      const r = await request({ path: '/api/describeDataset', method: 'POST', headers: withToken(), body: JSON.stringify({ spec }) });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body).error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      expect(r.body).not.toContain(SECRET);
    }
  });

  it('a model.json that is not JSON is described by position, without quoting its text', async () => {
    const dir = path.join(work, 'model');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'model.json'), `${SECRET}: ${SECRET}`);
    const r = await request({ path: '/api/describeModel', method: 'POST', headers: withToken(), body: JSON.stringify({ spec: dir }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toMatch(/malformed JSON at line 1, column 1/);
    expect(r.body).not.toContain(SECRET.slice(0, 4));
  });

  it('a .keras file whose config.json is not JSON is described by position, without quoting its text', async () => {
    const file = path.join(work, 'broken.keras');
    fs.writeFileSync(file, buildZip([{ name: 'config.json', data: Buffer.from(`{"class_name": ${SECRET}}`) }]));
    const r = await request({ path: '/api/describeModel', method: 'POST', headers: withToken(), body: JSON.stringify({ spec: file }) });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).error.message).toMatch(/config\.json is not valid JSON: malformed JSON at line 1, column 16/);
    expect(r.body).not.toContain(SECRET.slice(0, 4));
  });
});

describe('web mode as a whole', () => {
  it('no request above reached the unexpected-error path (each got a deliberate answer)', () => {
    expect(logged).toEqual([]);
  });
});

#!/usr/bin/env node
// Builds Topiary's native compute addon (native/: GEMM, convolutions and Adam for the wasm backend)
// with node-gyp. Runs on `npm ci` / `npm install` (the "install" script) and as `npm run build:native`.
// The addon is optional: when it cannot be built (no C compiler, no Node headers) this prints why
// and exits 0, and Topiary runs on the wasm kernels alone. `--strict` makes a failure an error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'native');
const strict = process.argv.includes('--strict');
const require = createRequire(import.meta.url);

function fail(reason) {
  const msg = `topiary: native addon not built (${reason}); training falls back to the wasm kernels. Retry with: npm run build:native`;
  if (strict) {
    console.error(msg);
    process.exit(1);
  }
  console.warn(msg);
  process.exit(0);
}

if (/^(0|off|false)$/i.test(process.env.TOPIARY_NATIVE ?? '')) fail('TOPIARY_NATIVE is off');

// npm hands lifecycle scripts its bundled node-gyp; otherwise use the one in node_modules.
let gyp = process.env.npm_config_node_gyp;
if (!gyp || !fs.existsSync(gyp)) {
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    fail('node-gyp not found');
  }
}

const args = [gyp, 'rebuild', '--release'];
// Node's own headers, when this Node install ships them, spare node-gyp a download (offline machines).
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

const t0 = Date.now();
const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
if (r.status !== 0) {
  const lines = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').filter((l) => /error|ERR!/i.test(l));
  fail(lines.slice(0, 3).join(' | ').trim() || `node-gyp exited with ${r.status}`);
}
const out = path.join(dir, 'build', 'Release', 'topiary_native.node');
if (!fs.existsSync(out)) fail(`node-gyp succeeded but ${path.relative(root, out)} is missing`);
console.log(`topiary: built ${path.relative(root, out)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

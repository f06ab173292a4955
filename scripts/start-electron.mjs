#!/usr/bin/env node
// `npm start`: builds the app and launches it in Electron.
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
let electron;
try {
  electron = require('electron');
} catch (err) {
  console.error(`Electron is not installed (${err.message.split('\n')[0]}).`);
  console.error('Install it with `npm ci` on a machine that can download its binary, or use `npm run web` (the same app in a browser).');
  process.exit(2);
}
const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);
const child = spawn(electron, [root], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 0));

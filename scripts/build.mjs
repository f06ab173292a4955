#!/usr/bin/env node
// Builds what the desktop app runs: the renderer (Vite) into dist-renderer/, and the Electron main
// process, preload and workers (esbuild, CommonJS, npm packages left external so native modules
// load from node_modules; see bundles.mjs) into dist-electron/. `npm run build -- --package` then runs electron-builder.
import { build as viteBuild } from 'vite';
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { electronBundles } from './bundles.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist-electron');

await viteBuild({ configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn' });

fs.rmSync(out, { recursive: true, force: true });
const bundles = electronBundles(root);
for (const options of Object.values(bundles)) await build(options);
fs.copyFileSync(path.join(root, 'src-main/jobs/worker-boot.mjs'), path.join(out, 'worker-boot.mjs'));
console.log(`built dist-renderer/ and dist-electron/ (${Object.keys(bundles).map((b) => `${b}.cjs`).join(', ')})`);

if (process.argv.includes('--package')) {
  const r = spawnSync('npx', ['electron-builder', '--config', 'electron-builder.yml'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

#!/usr/bin/env node
// Builds what the desktop app runs: the renderer (Vite) into dist-renderer/, and the Electron main
// process, preload and run worker (esbuild, CommonJS, npm packages left external so native modules
// load from node_modules) into dist-electron/. `npm run build -- --package` then runs electron-builder.
import { build as viteBuild } from 'vite';
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist-electron');

await viteBuild({ configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn' });

fs.rmSync(out, { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
  // import.meta.url has no CommonJS equivalent; give each bundle its own file URL.
  define: { 'import.meta.url': '__topiaryFileUrl' },
  banner: { js: "const __topiaryFileUrl = require('node:url').pathToFileURL(__filename).href;" },
};
await build({ ...common, entryPoints: [path.join(root, 'src-main/electron/main.ts')], outfile: path.join(out, 'main.cjs'), external: ['electron'] });
await build({ ...common, entryPoints: [path.join(root, 'src-main/electron/preload.ts')], outfile: path.join(out, 'preload.cjs'), external: ['electron'], packages: undefined });
await build({ ...common, entryPoints: [path.join(root, 'src-main/app/run-job.ts')], outfile: path.join(out, 'run-job.cjs') });
await build({ ...common, entryPoints: [path.join(root, 'src-main/app/fit-job.ts')], outfile: path.join(out, 'fit-job.cjs') });
await build({ ...common, entryPoints: [path.join(root, 'src-main/node/train-worker-entry.ts')], outfile: path.join(out, 'train-worker.cjs') });
fs.copyFileSync(path.join(root, 'src-main/jobs/worker-boot.mjs'), path.join(out, 'worker-boot.mjs'));
console.log(`built dist-renderer/ and dist-electron/ (main.cjs, preload.cjs, run-job.cjs, fit-job.cjs, train-worker.cjs)`);

if (process.argv.includes('--package')) {
  const r = spawnSync('npx', ['electron-builder', '--config', 'electron-builder.yml'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

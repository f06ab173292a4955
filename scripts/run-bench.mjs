#!/usr/bin/env node
// Runs the benchmark scripts in test/bench/ one after another (they share 2 cores; running them in
// parallel would measure the contention). `npm run bench -- speed store` runs only those.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benchDir = path.join(root, 'test', 'bench');
const wanted = process.argv.slice(2);
const scripts = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts'))
  .filter((f) => wanted.length === 0 || wanted.includes(path.basename(f, '.ts')))
  .sort();
if (scripts.length === 0) {
  console.error(`no benchmark matches ${wanted.join(', ')}; have: ${readdirSync(benchDir).filter((f) => f.endsWith('.ts')).join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const script of scripts) {
  console.log(`\n=== ${script} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(benchDir, script)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

#!/usr/bin/env node
// `npm test`: unit + integration tests, then the end-to-end UI suite (web mode in Chromium), then with
// TOPIARY_TEST_CORPUS=1 the real-model corpus (test/corpus), each a
// Vitest run; ends with one plain line `N passed, N failed[, N skipped]` over both. Extra arguments
// go to both runs (e.g. a file filter).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'test-output');
fs.mkdirSync(outDir, { recursive: true });
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
const suites = [
  { name: 'unit+integration', config: 'vitest.config.ts' },
  { name: 'e2e', config: 'vitest.e2e.config.ts' },
  // The real-model corpus takes minutes: CI runs it (TOPIARY_TEST_CORPUS=1), `npm run test:corpus` alone.
  ...(process.env.TOPIARY_TEST_CORPUS === '1' ? [{ name: 'corpus', config: 'vitest.corpus.config.ts' }] : []),
];
const totals = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const suite of suites) {
  const json = path.join(outDir, `vitest-${suite.name}.json`);
  fs.rmSync(json, { force: true });
  const r = spawnSync(
    process.execPath,
    // With a filter, a suite that has no matching file is not a failure.
    [vitest, 'run', '--config', suite.config, '--reporter=default', '--reporter=json', `--outputFile.json=${json}`, ...(process.argv.length > 2 ? ['--passWithNoTests'] : []), ...process.argv.slice(2)],
    { cwd: root, stdio: 'inherit' },
  );
  if (r.status !== 0) status = r.status ?? 1;
  if (fs.existsSync(json)) {
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    totals.passed += report.numPassedTests ?? 0;
    totals.failed += report.numFailedTests ?? 0;
    totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  } else if (r.status !== 0) {
    totals.failed += 1; // the run itself failed before reporting
  }
  if (status !== 0) break;
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status);

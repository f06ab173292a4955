/**
 * Class 5 of issue 14: every output location is checked before any work starts, so a bad one is a
 * ConfigError (exit 2) up front, not a raw EEXIST/ENOTDIR/EISDIR after a finished run that was
 * recorded as done. Each test also asserts that no run was recorded and nothing was written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src-main/store/db';
import { seedModelAndDataset } from '../unit/store/helpers';
import { sentinel, tempDir, topiary } from './helpers';

const FAST_PRUNE = ['prune', 'demo', '--data', 'demo', '--epochs', '0', '--no-sensitivity', '--eval-limit', '50', '--sparsity', '0.5'];

function runCount(home: string): number {
  const r = topiary(home, ['runs', 'list', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).total;
}

/** A home with one finished run (no model files: enough for commands that fail up front). */
function homeWithRun(): { home: string; runId: string } {
  const home = tempDir('topiary-hostile-home-');
  const store = openStore(path.join(home, 'topiary.db'));
  const { modelId } = seedModelAndDataset(store);
  const runId = store.writer.createRun({ config: { model: 'demo' }, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
  store.writer.setRunStatus(runId, 'done');
  store.close();
  return { home, runId };
}

describe('output locations are checked before the work', () => {
  it('prune --out at an existing file: ConfigError, exit 2, no run recorded', () => {
    const home = tempDir('topiary-hostile-home-');
    const file = path.join(tempDir('topiary-hostile-out-'), 'results.txt');
    fs.writeFileSync(file, 'keep me');
    const r = topiary(home, [...FAST_PRUNE, '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*results\.txt: exists and is not a folder/);
    expect(r.stderr).not.toMatch(/EEXIST/);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
    expect(runCount(home)).toBe(0);
  });

  it('prune --out at a folder that already holds files: refused up front, folder unchanged', () => {
    const home = tempDir('topiary-hostile-home-');
    const user = sentinel(tempDir('topiary-hostile-out-'));
    const r = topiary(home, [...FAST_PRUNE, '--out', user.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*precious: folder is not empty/);
    expect(fs.readdirSync(user.dir)).toEqual(['thesis.txt']);
    user.assertIntact();
    expect(runCount(home)).toBe(0);
  });

  it('prune --out below a file (ENOTDIR) is refused up front', () => {
    const home = tempDir('topiary-hostile-home-');
    const file = path.join(tempDir('topiary-hostile-out-'), 'a-file');
    fs.writeFileSync(file, 'x');
    const r = topiary(home, [...FAST_PRUNE, '--out', path.join(file, 'sub')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*a-file is not a folder/);
    expect(runCount(home)).toBe(0);
  });

  it('export --out at an existing file is refused before the model and data are loaded', () => {
    const file = path.join(tempDir('topiary-hostile-out-'), 'model.tflite');
    fs.writeFileSync(file, 'not yours');
    // The calibration data does not exist: reaching it would mean the work had started.
    const r = topiary(tempDir('topiary-hostile-home-'), ['export', 'demo', '--format', 'tflite', '--calib', 'idx:/no/such/dir', '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: .*model\.tflite: exists and is not a folder/);
    expect(fs.readFileSync(file, 'utf8')).toBe('not yours');
  });

  it('runs export --format bundle --out at an existing file: ConfigError, not a raw ENOTDIR', () => {
    const { home, runId } = homeWithRun();
    const file = path.join(tempDir('topiary-hostile-out-'), 'bundle');
    fs.writeFileSync(file, 'x');
    const r = topiary(home, ['runs', 'export', runId, '--format', 'bundle', '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*bundle: exists and is not a folder/);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('runs export --format bundle --out at a non-empty folder is refused', () => {
    const { home, runId } = homeWithRun();
    const user = sentinel(tempDir('topiary-hostile-out-'));
    const r = topiary(home, ['runs', 'export', runId, '--format', 'bundle', '--out', user.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*precious: folder is not empty/);
    expect(fs.readdirSync(user.dir)).toEqual(['thesis.txt']);
  });

  it('runs export --format csv --out at an existing folder: ConfigError, not a raw EISDIR', () => {
    const { home } = homeWithRun();
    const dir = tempDir('topiary-hostile-out-');
    const r = topiary(home, ['runs', 'export', '--format', 'csv', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*: is a folder, expected a file/);
  });

  it('runs replay --out at an existing file is refused before the run is replayed', () => {
    const { home, runId } = homeWithRun();
    const file = path.join(tempDir('topiary-hostile-out-'), 'replayed');
    fs.writeFileSync(file, 'x');
    const r = topiary(home, ['runs', 'replay', runId, '--out', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*replayed: exists and is not a folder/);
  });

  it('profiles export --out at an existing folder: ConfigError, not a raw EISDIR', () => {
    const dir = tempDir('topiary-hostile-out-');
    const r = topiary(tempDir('topiary-hostile-home-'), ['profiles', 'export', 'mcu-cortex-m4', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: --out .*: is a folder, expected a file/);
  });
});

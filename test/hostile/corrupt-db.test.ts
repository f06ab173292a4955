/**
 * Class 6 of issue 14: with garbage in the middle of the database, `runs list` worked, then a prune
 * did all its work and crashed on the write ("malformed", exit 7): the run was lost. Every open for
 * writing runs SQLite's quick_check first and fails before any work with a StoreCorruptError that
 * says how to recover; each run's full record goes to its folder (`run.json`) before the database,
 * and `runs recover` records it again from there.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { openAppServices } from '../../src-main/app/services';
import { readRunRecord } from '../../src-main/app/run-record';
import { initBackend } from '../../src-main/node/backend';
import { openStore } from '../../src-main/store/db';
import { StoreCorruptError } from '../../src-main/store/errors';
import { seedModelAndDataset } from '../unit/store/helpers';
import { tempDir, topiary } from './helpers';

/** A database with one finished run and its metrics, closed cleanly (no WAL left). */
function healthyDb(file: string): string {
  const store = openStore(file);
  const { modelId, datasetId } = seedModelAndDataset(store);
  const id = store.writer.createRun({ config: { model: 'demo' }, modelId, datasetId, backend: 'cpu', versions: {}, kind: 'prune' });
  store.writer.appendMetrics(id, Array.from({ length: 400 }, (_, step) => ({ step, phase: 'train', name: 'loss', value: 1 / (step + 1) })));
  store.writer.setRunStatus(id, 'done');
  store.close();
  return id;
}

/** Overwrites the first page of the metrics table with garbage: runs list never reads it, a write would. */
function corruptMetricsPage(file: string): void {
  const store = openStore(file);
  const page = store.db.prepare(`SELECT rootpage FROM sqlite_schema WHERE name = 'metrics'`).pluck().get() as number;
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  store.close();
  const fd = fs.openSync(file, 'r+');
  const garbage = Buffer.alloc(pageSize);
  for (let i = 0; i < pageSize; i++) garbage[i] = (i * 131 + 7) & 0xff;
  fs.writeSync(fd, garbage, 0, pageSize, (page - 1) * pageSize);
  fs.closeSync(fd);
}

describe('a damaged database is found before any work', () => {
  it('runs list still works, but prune fails at once with StoreCorruptError (exit 2) and the way to recover', () => {
    const home = tempDir('topiary-hostile-corrupt-');
    const db = path.join(home, 'topiary.db');
    healthyDb(db);
    corruptMetricsPage(db);
    const before = fs.readFileSync(db);

    expect(topiary(home, ['runs', 'list']).code).toBe(0);
    const r = topiary(home, ['prune', 'demo', '--data', 'demo', '--epochs', '0', '--no-sensitivity', '--eval-limit', '50']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/StoreCorruptError: .*topiary\.db: the experiment database is damaged: SQLite quick_check found problems/);
    expect(r.stderr).toMatch(/move it aside .*then run `topiary runs recover`/);
    expect(r.stderr).not.toMatch(/malformed.*\n.*at /);
    // Before any work: no progress, no run folder, and the file itself untouched.
    expect(r.stderr).not.toMatch(/^load:/m);
    expect(fs.existsSync(path.join(home, 'runs'))).toBe(false);
    expect(fs.readFileSync(db).equals(before)).toBe(true);
  });

  it('commands that change the history (tag, note, import, delete) refuse it the same way; reading commands do not', () => {
    const home = tempDir('topiary-hostile-corrupt-');
    const db = path.join(home, 'topiary.db');
    const id = healthyDb(db);
    corruptMetricsPage(db);
    const tag = topiary(home, ['runs', 'tag', id, 'x']);
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/StoreCorruptError/);
    expect(() => openStore(db, { verify: true })).toThrow(StoreCorruptError);
    // Without verify (reads), the store opens: what can be read stays readable.
    openStore(db).close();
  });
});

describe('a run whose database write failed is recorded again from its folder', () => {
  it('the run finishes, says how to recover, and runs recover puts it, complete, into a new database', async () => {
    const home = tempDir('topiary-hostile-recover-');
    process.env.TOPIARY_BACKEND = 'wasm';
    await initBackend();
    await tf.ready();
    const services = await openAppServices({ dbPath: path.join(home, 'topiary.db'), home, mode: 'in-process' });
    let runId = '';
    try {
      // The database fails at the summary write (as a damaged page would), after the work is done.
      vi.spyOn(services.store.writer, 'setSummary').mockImplementation(() => {
        throw Object.assign(new Error('database disk image is malformed'), { name: 'SqliteError', code: 'SQLITE_CORRUPT' });
      });
      ({ runId } = services.runs.start({
        model: 'demo', data: 'demo', evalLimit: 50, latencyRuns: 3, sensitivity: false,
        prune: { method: 'magnitude', sparsity: 0.5, finetune: { epochs: 1, maxSamplesPerEpoch: 128, batchSize: 64 } },
        exports: [{ format: 'tflite', quant: 'none', verifySamples: 50 }],
      }));
      const finished = await services.runs.wait(runId);
      expect(finished.status).toBe('done');
      expect(finished.recorded).toBe(false);
      expect(finished.recordError?.message).toMatch(/could not record run .*database disk image is malformed; the run's full record is in .*run\.json/);
    } finally {
      vi.restoreAllMocks();
      await services.close();
    }

    const record = readRunRecord(path.join(home, 'runs', runId, 'run.json'));
    expect(record.run.status).toBe('done');
    expect(record.run.summary?.after?.accuracy).toBeGreaterThan(0.3);
    expect(record.run.artifacts).toHaveLength(1);

    // Move the database aside, as the error says, and record the run again from its folder.
    fs.renameSync(path.join(home, 'topiary.db'), path.join(home, 'topiary.db.damaged'));
    const r = topiary(home, ['runs', 'recover', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ recovered: [runId], skipped: [], failed: [] });
    const show = topiary(home, ['runs', 'show', runId, '--json']);
    expect(show.code, show.stderr).toBe(0);
    const run = JSON.parse(show.stdout);
    expect(run.status).toBe('done');
    expect(run.final.accuracy).toBe(record.run.summary?.after?.accuracy);
    expect(run.summary).toEqual(JSON.parse(JSON.stringify(record.run.summary)));
    expect(run.metrics.map((s: { phase: string; name: string }) => `${s.phase}/${s.name}`)).toContain('train/loss');
    expect(run.layers.length).toBe(record.run.layers.length);
    expect(run.plan).toEqual(record.run.plan);
    expect(run.artifacts[0]).toMatchObject({ path: record.run.artifacts[0].path, sha256: record.run.artifacts[0].sha256, status: 'ok' });
    // Recovering twice changes nothing.
    expect(JSON.parse(topiary(home, ['runs', 'recover', '--json']).stdout)).toEqual({ recovered: [], skipped: [runId], failed: [] });
    const store = openStore(path.join(home, 'topiary.db'));
    try {
      expect(store.integrityCheck()).toBe('ok');
    } finally {
      store.close();
    }
  }, 180_000);
});

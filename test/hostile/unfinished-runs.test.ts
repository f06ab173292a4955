/**
 * Class 4 of issue 14: a run killed in epoch 2 of 5 is correctly `interrupted`, but its partial
 * metrics became final values and `runs pareto` listed it as the best. Only finished (`done`)
 * runs count in Pareto, in compare's default baseline and in "best" figures; the others are shown
 * with their status.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HistoryService } from '../../src-main/app/history-service';
import { openStore } from '../../src-main/store/db';
import { currentOwner } from '../../src-main/store/process-owner';
import { seedModelAndDataset } from '../unit/store/helpers';
import { tempDir, topiary } from './helpers';

let home: string;
let done: string;
let killed: string;
let failed: string;

/**
 * A finished run (accuracy 0.85, 200 kB); a run whose process died in epoch 2 of 5, whose partial
 * series (train accuracy 0.97, a baseline size of 150 kB) would dominate it; and a failed run with
 * even better partial numbers.
 */
beforeAll(() => {
  home = tempDir('topiary-hostile-unfinished-');
  const store = openStore(path.join(home, 'topiary.db'));
  const { modelId, datasetId } = seedModelAndDataset(store);
  const base = { config: { model: 'demo' }, modelId, datasetId, backend: 'wasm', versions: {}, kind: 'prune', method: 'magnitude/unstructured' };
  done = store.writer.createRun(base);
  store.writer.setSummary(done, { before: { accuracy: 0.9, sizeBytes: 250_000 }, after: { accuracy: 0.85, sizeBytes: 200_000 } });
  store.writer.setRunStatus(done, 'done');

  // Owned by a process that is gone: the next open marks it interrupted, finals from its series.
  killed = store.writer.createRun({ ...base, owner: { pid: 2 ** 22 + 12345, host: currentOwner().host, startToken: 'dead' } });
  store.writer.appendMetrics(killed, [
    { step: 0, phase: 'baseline', name: 'sizeBytes', value: 150_000 },
    { step: 1, epoch: 1, phase: 'train', name: 'accuracy', value: 0.95 },
    { step: 2, epoch: 2, phase: 'train', name: 'accuracy', value: 0.97 },
  ]);

  failed = store.writer.createRun(base);
  store.writer.appendMetrics(failed, [
    { step: 0, phase: 'baseline', name: 'sizeBytes', value: 100_000 },
    { step: 1, epoch: 1, phase: 'train', name: 'accuracy', value: 0.99 },
  ]);
  store.writer.setRunStatus(failed, 'failed', 'DivergenceError: training diverged');
  store.close();
});

describe('only finished runs are results', () => {
  it('runs pareto --json: the frontier holds only the finished run; the others are counted by status', () => {
    const r = topiary(home, ['runs', 'pareto', 'accuracy:max', 'sizeBytes:min', '--all', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const p = JSON.parse(r.stdout);
    expect(p.frontier.map((f: { runId: string }) => f.runId)).toEqual([done]);
    expect(p.points.map((x: { runId: string }) => x.runId)).toEqual([done]);
    expect(p.considered).toBe(1);
    expect(p.unfinished).toEqual([{ status: 'failed', runs: 1 }, { status: 'interrupted', runs: 1 }]);
  });

  it('runs pareto (text) says which runs were not counted, and --status cannot sneak them in', () => {
    const r = topiary(home, ['runs', 'pareto', 'accuracy:max', 'sizeBytes:min']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(done.slice(0, 8));
    expect(r.stdout).not.toContain(killed.slice(0, 8));
    expect(r.stdout).toMatch(/1 on the frontier of 1 runs; not counted \(did not finish\): 1 failed, 1 interrupted/);
    const only = topiary(home, ['runs', 'pareto', 'accuracy:max', 'sizeBytes:min', '--status', 'interrupted', '--json']);
    expect(only.code, only.stderr).toBe(0);
    expect(JSON.parse(only.stdout)).toMatchObject({ frontier: [], considered: 0, unfinished: [{ status: 'interrupted', runs: 1 }] });
  });

  it('runs compare: the finished run is the default baseline even when listed last; unfinished runs are labelled', () => {
    const r = topiary(home, ['runs', 'compare', killed, failed, done]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${killed.slice(0, 8)} (interrupted)`);
    expect(r.stdout).toContain(`${failed.slice(0, 8)} (failed)`);
    expect(r.stdout).toContain(`${done.slice(0, 8)}*`);
    expect(r.stdout).toMatch(/not finished, partial numbers: .*interrupted.*failed/);
  });

  it('the history service every front door uses (app, web) agrees', () => {
    const h = HistoryService.open(path.join(home, 'topiary.db'));
    try {
      const p = h.pareto([{ metric: 'accuracy', direction: 'max' }, { metric: 'sizeBytes', direction: 'min' }], {}, { includeAll: true });
      expect(p.frontier.map((f) => f.runId)).toEqual([done]);
      const c = h.compare([killed, done]);
      expect(c.baseline).toBe(1);
      expect(c.unfinished).toEqual([0]);
      // An explicit baseline is still honoured: the user asked for it.
      expect(h.compare([killed, done], { baseline: killed }).baseline).toBe(0);
    } finally {
      h.close();
    }
  });
});

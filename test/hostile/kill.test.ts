/**
 * The kill test of issue 14: the real CLI prunes the demo model and is SIGKILLed in each phase
 * (held there by TOPIARY_PAUSE_AT, so the kill lands where the test says). After every kill the
 * database passes integrity_check, the run is `interrupted` (or absent, when it died before being
 * recorded), and nothing of it counts as a result: not in Pareto, not as compare's baseline.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HistoryService } from '../../src-main/app/history-service';
import { readRunRecord } from '../../src-main/app/run-record';
import { openStore } from '../../src-main/store/db';
import { seedModelAndDataset } from '../unit/store/helpers';
import { root, tempDir } from './helpers';

const PRUNE = [
  'prune', 'demo', '--data', 'demo', '--epochs', '1', '--max-samples', '256', '--no-sensitivity', '--eval-limit', '50',
  '--sparsity', '0.5', '--export', 'tflite:none',
];
const OBJECTIVES = [{ metric: 'accuracy', direction: 'max' as const }, { metric: 'sizeBytes', direction: 'min' as const }];

let home: string;
let db: string;
/** A finished run that any killed run's partial numbers (baseline accuracy and size) would dominate. */
let finishedId: string;
const killed: string[] = [];

/** Starts the CLI, waits until it says it paused in `phase`, SIGKILLs it and waits for it to die. */
function killIn(phase: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...PRUNE], {
      cwd: root,
      env: { ...process.env, TOPIARY_HOME: home, TOPIARY_BACKEND: 'wasm', CI: '1', TOPIARY_PAUSE_AT: phase },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes(`paused at ${phase}`)) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && stderr.includes(`paused at ${phase}`)) resolve();
      else reject(new Error(`the run did not pause at ${phase} (exit ${code}/${signal}): ${stderr.slice(-2000)}`));
    });
  });
}

beforeAll(() => {
  home = tempDir('topiary-hostile-kill-');
  db = path.join(home, 'topiary.db');
  const store = openStore(db);
  const { modelId, datasetId } = seedModelAndDataset(store);
  finishedId = store.writer.createRun({ config: { model: 'demo' }, modelId, datasetId, backend: 'wasm', versions: {}, kind: 'prune', method: 'magnitude/unstructured' });
  store.writer.setSummary(finishedId, { before: { accuracy: 0.9, sizeBytes: 1e9 }, after: { accuracy: 0.5, sizeBytes: 1e9 } });
  store.writer.setRunStatus(finishedId, 'done');
  store.close();
});

afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('a run SIGKILLed in any phase leaves a sound database and no result', () => {
  it.each(['load', 'prune', 'finetune', 'export', 'verify'])('killed in %s', async (phase) => {
    await killIn(phase);

    const raw = openStore(db);
    try {
      expect(raw.integrityCheck()).toBe('ok');
    } finally {
      raw.close();
    }
    const history = HistoryService.open(db, { runsDir: path.join(home, 'runs'), verify: true });
    try {
      const runs = history.list({ limit: 100 }).items;
      const others = runs.filter((r) => r.id !== finishedId && !killed.includes(r.id));
      // Before the model and data are loaded nothing is recorded; from then on the run is there.
      if (phase === 'load') expect(others).toHaveLength(0);
      else expect(others.map((r) => r.status)).toEqual(['interrupted']);
      killed.push(...others.map((r) => r.id));
      expect(runs.filter((r) => r.status === 'done').map((r) => r.id)).toEqual([finishedId]);

      // A killed run has partial numbers (the baseline's accuracy and size would dominate the
      // finished run), but only the finished run is on the frontier; the others are counted apart.
      const p = history.pareto(OBJECTIVES, {}, { includeAll: true });
      expect(p.frontier.map((f) => f.runId)).toEqual([finishedId]);
      expect(p.points?.map((x) => x.runId)).toEqual([finishedId]);
      expect(p.unfinished).toEqual(killed.length ? [{ status: 'interrupted', runs: killed.length }] : []);
      for (const id of killed) {
        const c = history.compare([id, finishedId]);
        expect(c.baseline).toBe(1);
        expect(c.unfinished).toEqual([0]);
        // The run's own record in its folder says it never finished (recover makes it interrupted).
        const record = readRunRecord(path.join(home, 'runs', id, 'run.json'));
        expect(record.run.status).toBe('running');
      }
    } finally {
      history.close();
    }
  }, 180_000);
});

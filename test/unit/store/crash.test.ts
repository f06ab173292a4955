import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../../src-main/store/db';
import { currentOwner } from '../../../src-main/store/process-owner';
import { seedModelAndDataset, tempDir } from './helpers';

const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-writer.ts');

/** Runs the writer child until it reports `minSingles` committed points, then SIGKILLs it. */
function runAndKill(dbFile: string, minSingles: number): Promise<{ runId: string; singles: number; batches: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dbFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let runId = '';
    let singles = 0;
    let batches = 0;
    let buffer = '';
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const [word, a, b] = line.split(' ');
        if (word === 'run') runId = a;
        else if (word === 'committed' && !killed) {
          singles = Number(a);
          batches = Number(b);
          if (singles >= minSingles) {
            killed = true;
            child.kill('SIGKILL');
          }
        }
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ runId, singles, batches, pid: child.pid ?? -1 });
      else reject(new Error(`writer exited with ${code}/${signal} before being killed: ${stderr}`));
    });
  });
}

describe('crash safety', () => {
  it('a writer killed with SIGKILL mid-writes leaves an intact database with every committed row, and its run becomes interrupted', async () => {
    const dbFile = path.join(tempDir(), 'topiary.db');
    const killed = await runAndKill(dbFile, 300);
    expect(killed.runId).not.toBe('');
    // The WAL holds the un-checkpointed commits; it must be replayed, not lost.
    expect(fs.existsSync(`${dbFile}-wal`)).toBe(true);

    const store = openStore(dbFile);
    try {
      expect(store.integrityCheck()).toBe('ok');
      const before = store.reader.getRun(killed.runId);
      expect(before.status).toBe('running');
      expect(before.owner?.pid).toBe(killed.pid);

      const marked = store.markInterruptedRuns();
      expect(marked).toEqual([killed.runId]);
      const run = store.reader.getRun(killed.runId);
      expect(run.status).toBe('interrupted');
      expect(run.error).toContain(`pid ${killed.pid}`);
      expect(run.finishedAt).not.toBeNull();

      const loss = run.metrics.find((s) => s.name === 'loss')?.points ?? [];
      const acc = run.metrics.find((s) => s.name === 'accuracy')?.points ?? [];
      // Everything the child saw committed is there (it may have committed one more before dying).
      expect(loss.length).toBeGreaterThanOrEqual(killed.singles);
      expect(loss.map((p) => p.step)).toEqual(Array.from({ length: loss.length }, (_, i) => i));
      expect(acc.length).toBeGreaterThanOrEqual(killed.batches * 10);
      // Transactions are all-or-nothing: never a partial batch.
      expect(acc.length % 10).toBe(0);
      // Partial history yields final values for the interrupted run.
      expect(run.final.loss).toBe(loss[loss.length - 1].value);

      // Marking is idempotent.
      expect(store.markInterruptedRuns()).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('does not mark runs of a live process, but does mark a live pid whose start token differs (pid reuse)', () => {
    const store = openStore(path.join(tempDir(), 'topiary.db'));
    try {
      const { modelId } = seedModelAndDataset(store);
      const base = { config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' };
      const mine = store.writer.createRun(base);
      const otherHost = store.writer.createRun({ ...base, owner: { pid: 1, host: 'some-other-machine', startToken: 'x' } });
      const me = currentOwner();
      const reused = store.writer.createRun({ ...base, owner: { ...me, startToken: me.startToken === null ? null : `${me.startToken}-old` } });
      const marked = store.markInterruptedRuns();
      expect(marked).not.toContain(mine);
      expect(marked).not.toContain(otherHost);
      if (me.startToken !== null) expect(marked).toEqual([reused]);
      expect(store.reader.getRun(mine).status).toBe('running');
    } finally {
      store.close();
    }
  });
});

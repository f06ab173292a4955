import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliContext } from '../../../../src-main/cli/context';
import { parseFilter, parseThreshold, registerRunsCommand } from '../../../../src-main/cli/commands/runs';
import { ConfigError } from '../../../../src-main/common/errors';
import { openStore } from '../../../../src-main/store/db';
import { seedModelAndDataset, tempDir } from '../../store/helpers';

/** A program with only `runs`, output captured, pointed at a fresh database with three runs. */
function setup(json: boolean, answer = false) {
  const dir = tempDir('topiary-cli-runs-');
  const dbFile = path.join(dir, 'topiary.db');
  const store = openStore(dbFile);
  const { modelId, datasetId } = seedModelAndDataset(store);
  const ids = [0.5, 0.8, 0.9].map((sparsity, i) => {
    const id = store.writer.createRun({ config: { sparsity, epochs: 2 }, modelId, datasetId, backend: 'cpu', versions: {}, kind: 'prune', method: i === 2 ? 'taylor' : 'magnitude' });
    store.writer.appendMetric(id, { step: 0, phase: 'val', name: 'accuracy', value: 0.9 - sparsity / 10 });
    store.writer.setSummary(id, { after: { accuracy: 0.95 - sparsity / 10, sizeBytes: 1000 * (1 - sparsity) + (i === 2 ? 200 : 0) } });
    store.writer.setRunStatus(id, 'done');
    return id;
  });
  store.close();
  const out: string[] = [];
  const questions: string[] = [];
  const ctx: CliContext = { json, dbPath: () => dbFile, print: (t) => out.push(t), printJson: (v) => out.push(JSON.stringify(v)) };
  const program = new Command('topiary').exitOverride();
  registerRunsCommand(program, ctx, { confirm: async (q) => (questions.push(q), answer) });
  const run = (...args: string[]) => program.parseAsync(['runs', ...args], { from: 'user' });
  return { dir, dbFile, ids, out, questions, run };
}

describe('topiary runs', () => {
  let env: ReturnType<typeof setup>;
  afterEach(() => fs.rmSync(env.dir, { recursive: true, force: true }));

  describe('human output', () => {
    beforeEach(() => {
      env = setup(false);
    });

    it('list prints a table of runs with final metrics and a count', async () => {
      await env.run('list', '--method', 'magnitude', '--where', 'accuracy>=0.88');
      const text = env.out.join('\n');
      expect(text).toMatch(/^ID\s+CREATED\s+STATUS\s+KIND\/METHOD\s+MODEL\s+DATASET\s+accuracy\s+sizeBytes/);
      expect(text).toContain(env.ids[0].slice(0, 8));
      expect(text).not.toContain(env.ids[1].slice(0, 8));
      expect(text).toContain('1-1 of 1');
    });

    it('compare prints only differing config keys and deltas', async () => {
      await env.run('compare', env.ids[0].slice(0, 6), env.ids[1]);
      const text = env.out.join('\n');
      expect(text).toMatch(/sparsity\s+0\.5 \(50 %\)\s+0\.8 \(80 %\)/);
      expect(text).not.toMatch(/^epochs/m);
      // Metrics by label with units, the change in points: the same words as the app's Compare.
      expect(text).toMatch(/^Accuracy\s+\d+\.\d\d %\s+\d+\.\d\d % \(−3\.00 pts\)/m);
      expect(text).not.toContain('sizeBytes');
    });

    it('pareto prints the frontier', async () => {
      await env.run('pareto', 'accuracy:max', 'sizeBytes:min');
      const text = env.out.join('\n');
      expect(text).toContain(env.ids[0].slice(0, 8));
      expect(text).toContain(env.ids[1].slice(0, 8));
      expect(text).not.toContain(env.ids[2].slice(0, 8)); // worse and bigger than ids[1]
      expect(text).toContain('2 on the frontier of 3 runs');
    });

    it('delete asks first and deletes nothing when the answer is no', async () => {
      await env.run('delete', env.ids[0]);
      expect(env.questions[0]).toContain(env.ids[0]);
      expect(env.out).toContain('nothing deleted');
      await env.run('show', env.ids[0]);
      expect(env.out.join('\n')).toContain(`run       ${env.ids[0]}`);
    });

    it('export csv writes the runs table and the metric history next to it', async () => {
      const file = path.join(env.dir, 'out', 'runs.csv');
      await env.run('export', '--format', 'csv', '--out', file);
      expect(fs.readFileSync(file, 'utf8').split('\r\n')[0]).toContain('final.accuracy');
      expect(fs.readFileSync(path.join(env.dir, 'out', 'runs.metrics.csv'), 'utf8').trim().split('\r\n')).toHaveLength(4);
    });
  });

  describe('--json', () => {
    beforeEach(() => {
      env = setup(true, true);
    });

    it('list, tag, note and delete --yes each print one JSON document', async () => {
      await env.run('tag', env.ids[1], 'keep', 'best');
      expect(JSON.parse(env.out.pop() ?? '')).toEqual({ runId: env.ids[1], tags: ['best', 'keep'] });
      await env.run('note', env.ids[1], 'good', 'trade-off');
      expect(JSON.parse(env.out.pop() ?? '')).toEqual({ runId: env.ids[1], note: 'good trade-off' });
      await env.run('list', '--tag', 'keep', '--sort', 'metric:accuracy');
      const page = JSON.parse(env.out.pop() ?? '');
      expect(page.total).toBe(1);
      expect(page.items[0]).toMatchObject({ id: env.ids[1], note: 'good trade-off', tags: ['best', 'keep'] });
      // --search finds words in notes and tags (the History screen's search box).
      await env.run('list', '--search', 'TRADE-OFF best');
      expect(JSON.parse(env.out.pop() ?? '').items.map((r: { id: string }) => r.id)).toEqual([env.ids[1]]);
      await env.run('delete', env.ids[2], '--yes');
      expect(env.questions).toEqual([]);
      expect(JSON.parse(env.out.pop() ?? '').deleted[0].runId).toBe(env.ids[2]);
      await env.run('list');
      expect(JSON.parse(env.out.pop() ?? '').total).toBe(2);
    });

    it('bundle export and import round-trip through the CLI', async () => {
      const bundle = path.join(env.dir, 'bundle');
      await env.run('export', env.ids[0], '--format', 'bundle', '--out', bundle);
      expect(JSON.parse(env.out.pop() ?? '').runs).toEqual([env.ids[0]]);
      await env.run('import', bundle);
      expect(JSON.parse(env.out.pop() ?? '')).toEqual({ imported: [], skipped: [env.ids[0]], artifactsCopied: 0 });
    });

    it('bad input fails with ConfigError naming the option', async () => {
      await expect(env.run('list', '--status', 'finished')).rejects.toThrow(/--status must be among/);
      await expect(env.run('pareto', 'accuracy')).rejects.toThrow(/accuracy:max/);
      await expect(env.run('export', '--format', 'xml')).rejects.toThrow(/--format must be csv, json or bundle/);
    });
  });
});

describe('runs option parsing', () => {
  it('parses thresholds and filters', () => {
    expect(parseThreshold('accuracy >= 0.9')).toEqual({ name: 'accuracy', op: '>=', value: 0.9 });
    expect(parseThreshold('sizeBytes<1e5')).toEqual({ name: 'sizeBytes', op: '<', value: 100000 });
    expect(parseThreshold('top1==0.5')).toEqual({ name: 'top1', op: '=', value: 0.5 });
    expect(() => parseThreshold('accuracy ~ 3')).toThrow(ConfigError);
    expect(parseFilter({ status: 'done,failed', tag: ['a'], where: ['accuracy>0.5'], model: 'lenet' })).toEqual({
      status: ['done', 'failed'], tag: ['a'], metrics: [{ name: 'accuracy', op: '>', value: 0.5 }], model: 'lenet',
    });
  });
});

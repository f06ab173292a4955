import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diffConfigs, flattenJson, HistoryService, paretoFrontier, toCsv } from '../../../src-main/app/history-service';
import { ConfigError } from '../../../src-main/common/errors';
import { openStore, type Store } from '../../../src-main/store/db';
import { seedModelAndDataset, tempDir } from '../store/helpers';

describe('history pure helpers', () => {
  it('flattenJson makes dotted keys and keeps arrays as single values', () => {
    expect(flattenJson({ a: { b: 1, c: { d: 'x' } }, e: [1, 2], f: null, g: {} })).toEqual({ 'a.b': 1, 'a.c.d': 'x', e: [1, 2], f: null, g: {} });
  });

  it('diffConfigs returns only the keys that differ, with missing keys flagged', () => {
    const { rows, identical } = diffConfigs([
      { method: 'magnitude', sparsity: 0.5, schedule: { kind: 'iterative', steps: 3 }, shape: [1, 2] },
      { method: 'magnitude', sparsity: 0.8, schedule: { kind: 'iterative', steps: 3 }, shape: [1, 2], seed: 7 },
      { method: 'magnitude', sparsity: 0.5, schedule: { kind: 'iterative', steps: 5 }, shape: [1, 2] },
    ]);
    expect(rows).toEqual([
      { key: 'schedule.steps', values: [3, 3, 5], missing: [] },
      { key: 'seed', values: [null, 7, null], missing: [0, 2] },
      { key: 'sparsity', values: [0.5, 0.8, 0.5], missing: [] },
    ]);
    expect(identical).toBe(3); // method, schedule.kind, shape
  });

  it('paretoFrontier keeps exactly the non-dominated points (checked against brute force)', () => {
    expect(paretoFrontier([[0.9, 100], [0.8, 50], [0.7, 80], [0.9, 100]], ['max', 'min'])).toEqual([0, 3, 1]);
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const points = Array.from({ length: 300 }, () => [Math.round(rand() * 20), Math.round(rand() * 20), Math.round(rand() * 20)]);
    const dirs = ['max', 'min', 'max'] as const;
    const better = (a: number[], b: number[]) => a.every((v, j) => (dirs[j] === 'max' ? v >= b[j] : v <= b[j])) && a.some((v, j) => v !== b[j]);
    const brute = points.flatMap((p, i) => (points.some((q) => better(q, p)) ? [] : [i])).sort((a, b) => a - b);
    expect(paretoFrontier(points, dirs).sort((a, b) => a - b)).toEqual(brute);
  });

  it('toCsv quotes fields with commas, quotes and newlines and leaves nulls empty', () => {
    expect(toCsv(['a', 'b', 'c'], [['x,y', 'say "hi"', null], [1, 'two\nlines', Number.NaN]])).toBe('a,b,c\r\n"x,y","say ""hi""",\r\n1,"two\nlines",NaN\r\n');
  });
});

describe('HistoryService', () => {
  let dir: string;
  let store: Store;
  let history: HistoryService;
  let runs: string[];

  /** Three finished runs: baseline, a sparser one, a smaller-but-worse one; plus one without metrics. */
  beforeEach(() => {
    dir = tempDir('topiary-history-');
    store = openStore(path.join(dir, 'topiary.db'));
    history = new HistoryService(store);
    const { modelId, datasetId } = seedModelAndDataset(store);
    const w = store.writer;
    const specs = [
      { sparsity: 0.5, acc: 0.9, size: 1000, layers: [0.5, 0.5] },
      { sparsity: 0.8, acc: 0.88, size: 600, layers: [0.7, 0.9] },
      { sparsity: 0.9, acc: 0.8, size: 700, layers: [0.9, 0.9] },
    ];
    runs = specs.map((s, i) => {
      const id = w.createRun({ config: { method: 'magnitude', sparsity: s.sparsity, schedule: { kind: 'oneshot', epochs: 2 } }, modelId, datasetId, backend: 'cpu', versions: { app: '0.1.0' }, kind: 'prune', method: 'magnitude', profileId: 'mcu' });
      w.appendMetrics(id, [0, 1, 2].map((step) => ({ step, epoch: step, phase: 'val', name: 'accuracy', value: s.acc - (2 - step) * 0.01, time: 1_000 + step })));
      w.saveLayerResults(id, s.layers.map((sp, j) => ({ layer: `dense_${j}`, className: 'Dense', params: 100, nonZeros: Math.round(100 * (1 - sp)), macs: 100, sparsity: sp, phase: 'after' as const })));
      w.setSummary(id, { before: { accuracy: 0.91, sizeBytes: 2000 }, after: { accuracy: s.acc, sizeBytes: s.size } });
      w.setRunStatus(id, 'done');
      w.tag(id, i === 0 ? 'baseline' : 'candidate');
      return id;
    });
    const bare = w.createRun({ config: { method: 'random' }, modelId, backend: 'cpu', versions: {}, kind: 'prune', method: 'random' });
    w.setRunStatus(bare, 'failed', 'boom');
    runs.push(bare);
  });
  afterEach(() => store.close());

  it('compare shows differing config keys, final metrics with deltas, series for overlay and layer sparsity side by side', () => {
    const c = history.compare([runs[0], runs[1].slice(0, 8), runs[2]]);
    expect(c.runs.map((r) => r.id)).toEqual(runs.slice(0, 3));
    expect(c.baseline).toBe(0);
    expect(c.config).toEqual([{ key: 'sparsity', values: [0.5, 0.8, 0.9], missing: [] }]);
    expect(c.identicalConfigKeys).toBe(3);
    const acc = c.metrics.find((m) => m.name === 'accuracy');
    expect(acc?.values).toEqual([0.9, 0.88, 0.8]);
    expect(acc?.deltas.map((d) => (d === null ? null : Number(d.toFixed(6))))).toEqual([0, -0.02, -0.1]);
    expect(c.metrics.find((m) => m.name === 'sizeBytes')?.relative).toEqual([0, -0.4, -0.3]);
    expect(c.series).toHaveLength(1);
    expect(c.series[0].runs.map((r) => r.points.length)).toEqual([3, 3, 3]);
    expect(c.layers).toEqual([
      { layer: 'dense_0', className: 'Dense', sparsity: [0.5, 0.7, 0.9], nonZeros: [50, 30, 10] },
      { layer: 'dense_1', className: 'Dense', sparsity: [0.5, 0.9, 0.9], nonZeros: [50, 10, 10] },
    ]);
    const other = history.compare([runs[0], runs[1]], { baseline: runs[1] });
    expect(other.baseline).toBe(1);
    expect(other.metrics.find((m) => m.name === 'sizeBytes')?.deltas).toEqual([400, 0]);
  });

  it('compare refuses fewer than two runs, duplicates and a baseline outside the set', () => {
    expect(() => history.compare([runs[0]])).toThrow(/at least 2 runs/);
    expect(() => history.compare([runs[0], runs[0]])).toThrow(ConfigError);
    expect(() => history.compare([runs[0], runs[1]], { baseline: runs[2] })).toThrow(/not one of the compared runs/);
  });

  it('pareto returns the non-dominated runs and counts runs lacking an objective', () => {
    const p = history.pareto([{ metric: 'accuracy', direction: 'max' }, { metric: 'sizeBytes', direction: 'min' }], {}, { includeAll: true });
    expect(p.frontier.map((f) => f.runId)).toEqual([runs[0], runs[1]]);
    expect(p.frontier[1]).toMatchObject({ values: [0.88, 600], run: { id: runs[1], status: 'done' } });
    expect(p.considered).toBe(3);
    expect(p.skipped).toBe(1);
    expect(p.points?.find((x) => x.runId === runs[2])?.onFrontier).toBe(false);
    const filtered = history.pareto([{ metric: 'accuracy', direction: 'max' }, { metric: 'sizeBytes', direction: 'min' }], { tag: 'candidate' });
    expect(filtered.frontier.map((f) => f.runId)).toEqual([runs[1]]);
    expect(() => history.pareto([])).toThrow(/at least one objective/);
    expect(() => history.pareto([{ metric: 'a', direction: 'up' as never }])).toThrow(/max or min/);
  });

  it('exports filtered runs to JSON and CSV with tags, timings and metric histories', () => {
    const json = history.exportJson({ tag: 'candidate' });
    expect(json.runs.map((r) => r.id).sort()).toEqual([runs[1], runs[2]].sort());
    const r1 = json.runs.find((r) => r.id === runs[1]);
    expect(r1).toMatchObject({ tags: ['candidate'], status: 'done', config: { sparsity: 0.8 }, versions: { app: '0.1.0' }, summary: { before: { accuracy: 0.91 } } });
    // The duration is the exported start-to-finish span, not a free-standing number.
    expect(r1?.durationMs).toBe(Date.parse(r1!.finishedAt!) - Date.parse(r1!.startedAt!));
    expect(r1?.metrics).toEqual([{ phase: 'val', name: 'accuracy', points: [[0, 0, 0.86, 1000], [1, 1, 0.87, 1001], [2, 2, 0.88, 1002]] }]);

    const csv = history.exportCsv({});
    const lines = csv.runs.trim().split('\r\n');
    expect(lines).toHaveLength(5);
    const header = lines[0].split(',');
    expect(header).toEqual(expect.arrayContaining(['id', 'tags', 'created_at', 'finished_at', 'duration_ms', 'config', 'final.accuracy', 'final.sizeBytes']));
    const baselineLine = lines.find((l) => l.startsWith(runs[0]));
    expect(baselineLine).toContain(',baseline,');
    expect(baselineLine).toContain('"{""method"":""magnitude""'); // config JSON quoted
    const metricLines = csv.metrics.trim().split('\r\n');
    expect(metricLines[0]).toBe('run_id,phase,name,step,epoch,value,time');
    expect(metricLines).toHaveLength(1 + 9);
    expect(metricLines).toContain(`${runs[2]},val,accuracy,2,2,0.8,1970-01-01T00:00:01.002Z`);
  });

  it('tags, notes and untags through the service', () => {
    expect(history.tag(runs[3], ['x', 'y'])).toEqual(['x', 'y']);
    expect(history.untag(runs[3], ['x'])).toEqual(['y']);
    history.note(runs[3], 'diverged at epoch 2');
    expect(history.show(runs[3]).note).toBe('diverged at epoch 2');
    expect(history.list({ tag: 'y' }).items.map((r) => r.id)).toEqual([runs[3]]);
  });

  it('delete removes the run and deletes artifact files only when asked', () => {
    const keep = path.join(dir, 'keep.tflite');
    // Deletion removes only files inside the run's own folder, runs/<id>/ next to the database.
    const drop = path.join(dir, 'runs', runs[2], 'export-tflite-none', 'drop.tflite');
    fs.mkdirSync(path.dirname(drop), { recursive: true });
    fs.writeFileSync(keep, 'k');
    fs.writeFileSync(drop, 'd');
    store.writer.addArtifact(runs[1], { path: keep, format: 'tflite', quant: 'none', bytes: 1, sha256: 'x', verification: null, status: 'unverified' });
    store.writer.addArtifact(runs[2], { path: drop, format: 'tflite', quant: 'none', bytes: 1, sha256: 'x', verification: null, status: 'unverified' });
    expect(history.delete(runs[1])).toEqual({ runId: runs[1], artifactsDeleted: [], artifactsKept: [keep], artifactsRefused: [] });
    expect(fs.existsSync(keep)).toBe(true);
    expect(history.delete(runs[2], { deleteArtifacts: true })).toEqual({ runId: runs[2], artifactsDeleted: [drop], artifactsKept: [], artifactsRefused: [] });
    expect(fs.existsSync(drop)).toBe(false);
    expect(history.list().total).toBe(2);
  });

  it('a run bundle exported here merges into another history without id clashes, copying verified artifacts', () => {
    const file = path.join(dir, 'model.tflite');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4]));
    const sha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const folder = path.join(dir, 'tfjs-out');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'model.json'), '{}');
    store.writer.addArtifact(runs[1], { path: file, format: 'tflite', quant: 'int8', bytes: 4, sha256: sha, verification: { ok: true }, status: 'ok' });
    store.writer.addArtifact(runs[1], { path: folder, format: 'tfjs', quant: 'none', bytes: 2, sha256: 'dir', verification: null, status: 'unverified' });
    store.writer.savePlan(runs[1], { layers: ['dense_0'] });
    // runs[1] is a child of runs[0] in lineage terms.
    const child = store.writer.createRun({ config: {}, modelId: store.reader.getRun(runs[0]).modelId, parentRunId: runs[1], backend: 'cpu', versions: {}, kind: 'prune' });
    store.writer.setRunStatus(child, 'done');

    const bundleDir = path.join(dir, 'bundle');
    const exported = history.exportBundle([child, runs[1]], bundleDir);
    expect(exported).toMatchObject({ file: path.join(bundleDir, 'bundle.json'), artifactsCopied: 2, artifactsMissing: [] });

    const other = openStore(path.join(tempDir('topiary-other-'), 'topiary.db'));
    try {
      // The teammate already has the same model under a different local id.
      const localModel = other.writer.upsertModel({ source: 'elsewhere/model', sha256: 'sha-model-1', format: 'tfjs-layers', params: 1000 });
      const theirs = new HistoryService(other);
      const artifactsDir = path.join(dir, 'imported-artifacts');
      const imported = theirs.importBundle(bundleDir, { artifactsDir });
      expect(imported.imported).toEqual([runs[1], child]); // parent first
      expect(imported.skipped).toEqual([]);
      expect(imported.artifactsCopied).toBe(2);
      const run = theirs.show(runs[1]);
      expect(run.modelId).toBe(localModel);
      expect(run.plan).toEqual({ layers: ['dense_0'] });
      expect(run.tags).toEqual(['candidate']);
      expect(run.final).toEqual({ accuracy: 0.88, sizeBytes: 600 });
      expect(run.metrics).toEqual(store.reader.getRun(runs[1]).metrics);
      expect(run.layers).toEqual(store.reader.getRun(runs[1]).layers);
      expect(run.origin).toMatchObject({ bundle: path.join(bundleDir, 'bundle.json') });
      const tflite = run.artifacts.find((a) => a.format === 'tflite');
      expect(tflite?.path.startsWith(artifactsDir)).toBe(true);
      expect(fs.readFileSync(tflite?.path ?? '')).toEqual(Buffer.from([1, 2, 3, 4]));
      expect(fs.existsSync(path.join(run.artifacts.find((a) => a.format === 'tfjs')?.path ?? '', 'model.json'))).toBe(true);
      expect(theirs.show(child).parentRunId).toBe(runs[1]);

      const again = theirs.importBundle(bundleDir, { artifactsDir });
      expect(again).toEqual({ imported: [], skipped: [runs[1], child], artifactsCopied: 0 });
      expect(theirs.list().total).toBe(2);
    } finally {
      other.close();
    }
  });

  it('a single-file JSON bundle carries the rows; a tampered artifact makes the whole import fail', () => {
    const jsonFile = path.join(dir, 'one.json');
    history.exportBundle([runs[0]], jsonFile);
    const other = openStore(path.join(tempDir('topiary-other-'), 'topiary.db'));
    try {
      const theirs = new HistoryService(other);
      expect(theirs.importBundle(jsonFile).imported).toEqual([runs[0]]);

      const file = path.join(dir, 'm.tflite');
      fs.writeFileSync(file, 'abc');
      store.writer.addArtifact(runs[2], { path: file, format: 'tflite', quant: 'none', bytes: 3, sha256: createHash('sha256').update('abc').digest('hex'), verification: null, status: 'unverified' });
      const bundleDir = path.join(dir, 'b2');
      history.exportBundle([runs[2]], bundleDir);
      const copied = path.join(bundleDir, 'artifacts', runs[2], '0', 'm.tflite');
      fs.writeFileSync(copied, 'tampered');
      expect(() => theirs.importBundle(bundleDir)).toThrow(/m\.tflite does not match its sha256/);
      expect(theirs.list().total).toBe(1);

      fs.writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ format: 'something-else' }));
      expect(() => theirs.importBundle(path.join(dir, 'bad.json'))).toThrow(/bad\.json: not a Topiary run bundle/);
      const evil = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
      evil.runs[0].run.id = '../../escape';
      fs.writeFileSync(path.join(dir, 'evil.json'), JSON.stringify(evil));
      expect(() => theirs.importBundle(path.join(dir, 'evil.json'))).toThrow(/runs\[0\]\.run\.id "\.\.\/\.\.\/escape" is not a valid run id/);
    } finally {
      other.close();
    }
  });
});

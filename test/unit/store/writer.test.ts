import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { openStore, type Store } from '../../../src-main/store/db';
import { NotFoundError } from '../../../src-main/store/errors';
import { seedModelAndDataset, tempDir } from './helpers';

describe('StoreWriter', () => {
  let store: Store;
  beforeEach(() => {
    store = openStore(path.join(tempDir(), 'topiary.db'));
  });
  afterEach(() => {
    vi.useRealTimers();
    store.close();
  });

  const newRun = (extra: Partial<Parameters<Store['writer']['createRun']>[0]> = {}) => {
    const { modelId, datasetId } = seedModelAndDataset(store);
    return store.writer.createRun({ config: { sparsity: 0.5, schedule: { kind: 'oneshot' } }, modelId, datasetId, backend: 'cpu', versions: { app: '0.1.0' }, kind: 'prune', method: 'magnitude', ...extra });
  };

  it('deduplicates models by sha256 and datasets by source + hash', () => {
    const a = store.writer.upsertModel({ source: 'a', sha256: 'same', format: 'tfjs-layers', params: 1 });
    const b = store.writer.upsertModel({ source: 'b', sha256: 'same', format: 'tfjs-layers', params: 1 });
    const c = store.writer.upsertModel({ source: 'a', sha256: 'other', format: 'tfjs-layers', params: 1 });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    const d1 = store.writer.upsertDataset({ source: 'demo', sampleShape: [2], classNames: ['x'], trainSize: 1, testSize: 1 });
    const d2 = store.writer.upsertDataset({ source: 'demo', sampleShape: [2], classNames: ['x'], trainSize: 1, testSize: 1 });
    const d3 = store.writer.upsertDataset({ source: 'demo', sha256: 'h', sampleShape: [2], classNames: ['x'], trainSize: 1, testSize: 1 });
    expect(d2).toBe(d1);
    expect(d3).not.toBe(d1);
    expect(store.reader.getDataset(d1)).toMatchObject({ sampleShape: [2], classNames: ['x'], sha256: null });
  });

  it('creates a running run with a UUID, owned by this process', () => {
    const id = newRun({ profileId: 'mcu' });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const run = store.reader.getRun(id);
    expect(run.status).toBe('running');
    expect(run.startedAt).not.toBeNull();
    expect(run.owner?.pid).toBe(process.pid);
    expect(run.config).toEqual({ sparsity: 0.5, schedule: { kind: 'oneshot' } });
    // An unknown profile id is recorded by id so the run can reference it.
    expect(run.profile).toMatchObject({ id: 'mcu', name: 'mcu', definition: null });
  });

  it('rejects runs that reference a missing model or parent, and bad statuses', () => {
    expect(() => store.writer.createRun({ config: {}, modelId: 'nope', backend: 'cpu', versions: {}, kind: 'prune' })).toThrow(NotFoundError);
    expect(() => newRun({ parentRunId: 'missing' })).toThrow(/parent run missing/);
    const id = newRun();
    expect(() => store.writer.setRunStatus(id, 'exploded' as never)).toThrow(ConfigError);
    expect(() => store.writer.appendMetric('no-such-run', { step: 0, phase: 'train', name: 'loss', value: 1 })).toThrow(NotFoundError);
    expect(() => store.writer.appendMetric(id, { step: 0.5, phase: 'train', name: 'loss', value: 1 })).toThrow(/train\/loss: step must be an integer/);
    // A bad point in a batch rejects the whole batch.
    expect(() => store.writer.appendMetrics(id, [{ step: 0, phase: 'train', name: 'loss', value: 1 }, { step: 1, phase: 'train', name: 'loss', value: '2' as never }])).toThrow(ConfigError);
    expect(store.reader.getRun(id).metrics).toEqual([]);
  });

  it('queued -> running -> done sets timings and takes missing finals from the series', () => {
    const id = newRun({ status: 'queued' });
    expect(store.reader.getRun(id).startedAt).toBeNull();
    vi.setSystemTime(Date.parse('2026-01-02T03:04:05.000Z'));
    store.writer.setRunStatus(id, 'running');
    store.writer.appendMetrics(id, [
      { step: 0, epoch: 0, phase: 'val', name: 'accuracy', value: 0.5, time: 1000 },
      { step: 1, epoch: 1, phase: 'val', name: 'accuracy', value: 0.75, time: 2000 },
      { step: 1, epoch: 1, phase: 'train', name: 'loss', value: Number.NaN, time: 2000 },
    ]);
    store.writer.setSummary(id, { before: { accuracy: 0.9 }, after: { sizeBytes: 500 } });
    vi.setSystemTime(Date.parse('2026-01-02T03:04:06.250Z'));
    store.writer.setRunStatus(id, 'done');
    vi.useRealTimers();
    const run = store.reader.getRun(id);
    expect(run.status).toBe('done');
    expect(run.startedAt).toBe('2026-01-02T03:04:05.000Z');
    expect(run.finishedAt).toBe('2026-01-02T03:04:06.250Z');
    expect(run.durationMs).toBe(1250);
    expect(run.final.sizeBytes).toBe(500);
    expect(run.final.accuracy).toBe(0.75);
    expect(Number.isNaN(run.final.loss)).toBe(true);
    const loss = run.metrics.find((s) => s.name === 'loss');
    expect(Number.isNaN(loss?.points[0].value)).toBe(true);
    expect(run.summary?.before).toEqual({ accuracy: 0.9 });
    // A later summary replaces summary values but keeps the series-derived ones.
    store.writer.setSummary(id, { after: { sizeBytes: 400, accuracy: 0.7 } });
    expect(store.reader.getRun(id).final).toEqual({ sizeBytes: 400, accuracy: 0.7, loss: Number.NaN });
  });

  it('re-appending the same step replaces the point instead of duplicating it', () => {
    const id = newRun();
    store.writer.appendMetric(id, { step: 3, phase: 'val', name: 'accuracy', value: 0.1 });
    store.writer.appendMetric(id, { step: 3, phase: 'val', name: 'accuracy', value: 0.2 });
    expect(store.reader.getRun(id).metrics).toEqual([{ phase: 'val', name: 'accuracy', points: [expect.objectContaining({ step: 3, value: 0.2 })] }]);
  });

  it('saves layers (replacing a phase), artifacts, plan, tags and notes', () => {
    const id = newRun();
    const layer = (name: string, sparsity: number, phase: 'before' | 'after') => ({ layer: name, className: 'Dense', params: 100, nonZeros: Math.round(100 * (1 - sparsity)), macs: 100, sparsity, phase });
    store.writer.saveLayerResults(id, [layer('d1', 0, 'before'), layer('d2', 0, 'before')]);
    store.writer.saveLayerResults(id, [layer('d1', 0.5, 'after'), layer('d2', 0.9, 'after')]);
    store.writer.saveLayerResults(id, [{ ...layer('d2', 0.8, 'after'), sensitivity: { curve: [1, 0.9] } }, layer('d1', 0.6, 'after')]);
    const artifactId = store.writer.addArtifact(id, { path: '/x/model.tflite', format: 'tflite', quant: 'int8', bytes: 10, sha256: 'f00', verification: { maxAbsDiff: 0.01 }, status: 'ok' });
    store.writer.savePlan(id, { layers: [{ name: 'd1', indices: [1, 2] }] });
    store.writer.tag(id, 'baseline', ' best ');
    store.writer.tag(id, 'best');
    store.writer.untag(id, 'baseline');
    store.writer.setNote(id, 'looks good');
    const run = store.reader.getRun(id);
    expect(run.layers.filter((l) => l.phase === 'after').map((l) => [l.layer, l.sparsity])).toEqual([['d2', 0.8], ['d1', 0.6]]);
    expect(run.layers.filter((l) => l.phase === 'before')).toHaveLength(2);
    expect(run.layers.find((l) => l.layer === 'd2' && l.phase === 'after')?.sensitivity).toEqual({ curve: [1, 0.9] });
    expect(run.artifacts).toEqual([expect.objectContaining({ id: artifactId, runId: id, verification: { maxAbsDiff: 0.01 }, status: 'ok', reason: null })]);
    expect(run.plan).toEqual({ layers: [{ name: 'd1', indices: [1, 2] }] });
    expect(run.tags).toEqual(['best']);
    expect(run.note).toBe('looks good');
    expect(() => store.writer.tag(id, '  ')).toThrow(ConfigError);
  });

  it('deleteRun removes every row of the run, returns artifact paths, and orphans children', () => {
    const parent = newRun();
    const child = newRun({ parentRunId: parent });
    store.writer.appendMetric(parent, { step: 0, phase: 'val', name: 'accuracy', value: 1 });
    store.writer.addArtifact(parent, { path: '/a.tflite', format: 'tflite', quant: 'none', bytes: 1, sha256: 'x', verification: null, status: 'unverified' });
    store.writer.tag(parent, 't');
    store.writer.savePlan(parent, {});
    store.writer.setSummary(parent, { after: { accuracy: 1 } });
    expect(store.reader.getRun(parent).childRunIds).toEqual([child]);
    expect(store.writer.deleteRun(parent)).toEqual(['/a.tflite']);
    expect(store.reader.findRun(parent)).toBeNull();
    expect(store.reader.getRun(child).parentRunId).toBeNull();
    for (const table of ['metrics', 'artifacts', 'tags', 'plans', 'run_final']) {
      expect(store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get(), table).toBe(0);
    }
    expect(() => store.writer.appendMetric(parent, { step: 1, phase: 'val', name: 'accuracy', value: 1 })).toThrow(NotFoundError);
  });

  it('importRun inserts a run from elsewhere once and skips it the second time', () => {
    const id = newRun();
    store.writer.appendMetric(id, { step: 0, phase: 'val', name: 'accuracy', value: 0.5 });
    store.writer.setSummary(id, { after: { accuracy: 0.5 } });
    store.writer.setRunStatus(id, 'done');
    const detail = store.reader.getRun(id);
    const other = openStore(path.join(tempDir(), 'other.db'));
    try {
      const { modelId, datasetId } = seedModelAndDataset(other);
      const refs = { modelId, datasetId, profileId: null, parentRunId: null, artifactPaths: [], origin: { host: 'elsewhere' } };
      expect(other.writer.importRun(detail, refs)).toBe(true);
      expect(other.writer.importRun(detail, refs)).toBe(false);
      const copy = other.reader.getRun(id);
      expect(copy.metrics).toEqual(detail.metrics);
      expect(copy.final).toEqual({ accuracy: 0.5 });
      expect(copy.origin).toEqual({ host: 'elsewhere' });
      expect(copy.createdAt).toBe(detail.createdAt);
    } finally {
      other.close();
    }
  });
});

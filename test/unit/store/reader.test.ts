import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { openStore, type Store } from '../../../src-main/store/db';
import { NotFoundError } from '../../../src-main/store/errors';
import { tempDir } from './helpers';

describe('StoreReader.listRuns', () => {
  let store: Store;
  const ids: string[] = [];
  beforeAll(() => {
    store = openStore(path.join(tempDir(), 'topiary.db'));
    const w = store.writer;
    const m1 = w.upsertModel({ source: '/models/lenet', sha256: 'h1', format: 'tfjs-layers', params: 10, name: 'lenet' });
    const m2 = w.upsertModel({ source: '/models/mobilenet_v2', sha256: 'h2', format: 'keras-h5', params: 20 });
    const d1 = w.upsertDataset({ source: 'fashion-mnist', sampleShape: [28, 28, 1], classNames: [], trainSize: 1, testSize: 1 });
    // Six runs, created one second apart, alternating models/methods.
    for (let i = 0; i < 6; i++) {
      const id = w.createRun({
        config: { i }, modelId: i % 2 ? m2 : m1, datasetId: i < 4 ? d1 : null, profileId: i % 3 === 0 ? 'mcu' : 'mobile',
        backend: 'cpu', versions: {}, kind: 'prune', method: i % 2 ? 'taylor' : 'magnitude',
      });
      store.db.prepare('UPDATE runs SET created_at = ? WHERE id = ?').run(Date.UTC(2026, 0, 1) + i * 1000, id);
      w.setSummary(id, { after: { accuracy: 0.5 + i * 0.05, sizeBytes: 1000 - i * 100 } });
      if (i !== 5) w.setRunStatus(id, i === 4 ? 'failed' : 'done', i === 4 ? 'boom' : null);
      if (i % 2 === 0) w.tag(id, 'even');
      if (i === 2) w.tag(id, 'keep');
      ids.push(id);
    }
  });
  afterAll(() => store.close());

  const list = (q: Parameters<Store['reader']['listRuns']>[0]) => store.reader.listRuns(q).items.map((r) => ids.indexOf(r.id));

  it('lists newest first by default with a total', () => {
    const page = store.reader.listRuns();
    expect(page.total).toBe(6);
    expect(page.items.map((r) => ids.indexOf(r.id))).toEqual([5, 4, 3, 2, 1, 0]);
    expect(page.items[0]).toMatchObject({ modelSource: '/models/mobilenet_v2', datasetSource: null, status: 'running', tags: [] });
  });

  it('filters by model id or source text, dataset, profile, method, status and tags', () => {
    expect(list({ model: 'mobilenet' })).toEqual([5, 3, 1]);
    expect(list({ model: '/models/lenet' })).toEqual([4, 2, 0]);
    expect(list({ model: store.reader.getRun(ids[0]).modelId })).toEqual([4, 2, 0]);
    expect(list({ model: '%' })).toEqual([]); // LIKE wildcards are literal
    expect(list({ dataset: 'fashion' })).toEqual([3, 2, 1, 0]);
    expect(list({ profile: 'mcu' })).toEqual([3, 0]);
    expect(list({ method: 'taylor' })).toEqual([5, 3, 1]);
    expect(list({ status: 'done' })).toEqual([3, 2, 1, 0]);
    expect(list({ status: ['failed', 'running'] })).toEqual([5, 4]);
    expect(list({ status: [] })).toEqual([5, 4, 3, 2, 1, 0]);
    expect(list({ tag: 'even' })).toEqual([4, 2, 0]);
    expect(list({ tag: ['even', 'keep'] })).toEqual([2]);
  });

  it('filters by date range and final-metric thresholds', () => {
    const t0 = Date.UTC(2026, 0, 1);
    expect(list({ since: t0 + 2000, until: new Date(t0 + 4000) })).toEqual([3, 2]);
    expect(list({ since: new Date(t0 + 4000).toISOString() })).toEqual([5, 4]);
    expect(list({ metrics: [{ name: 'accuracy', op: '>=', value: 0.7 }] })).toEqual([5, 4]);
    expect(list({ metrics: [{ name: 'accuracy', op: '>', value: 0.55 }, { name: 'sizeBytes', op: '<=', value: 700 }] })).toEqual([5, 4, 3]);
    expect(() => list({ since: 'yesterday-ish' })).toThrow(ConfigError);
    expect(() => list({ metrics: [{ name: 'accuracy', op: '!=' as never, value: 1 }] })).toThrow(/operator/);
    expect(() => list({ status: 'nope' as never })).toThrow(/status must be one of/);
  });

  it('sorts by columns and by final metric, and paginates', () => {
    expect(list({ sort: 'metric:sizeBytes', direction: 'asc' })).toEqual([5, 4, 3, 2, 1, 0]);
    expect(list({ sort: 'metric:accuracy', direction: 'desc', limit: 2 })).toEqual([5, 4]);
    expect(list({ sort: 'method', direction: 'asc', limit: 3 })).toEqual([0, 2, 4]);
    const page = store.reader.listRuns({ sort: 'created', direction: 'asc', limit: 4, offset: 4 });
    expect(page).toMatchObject({ total: 6, offset: 4, limit: 4 });
    expect(page.items.map((r) => ids.indexOf(r.id))).toEqual([4, 5]);
    expect(() => list({ sort: 'colour' as never })).toThrow(/sort must be one of/);
  });

  it('resolves unique id prefixes and reports unknown or ambiguous ones', () => {
    expect(store.reader.resolveRunId(ids[2].slice(0, 8))).toBe(ids[2]);
    expect(store.reader.resolveRunId(ids[2])).toBe(ids[2]);
    expect(() => store.reader.resolveRunId('ffffffff-no')).toThrow(NotFoundError);
    expect(() => store.reader.resolveRunId('ab')).toThrow(/at least 4 characters/);
  });

  it('reads a table of final metrics for chosen names over a filter, leaving out runs lacking one', () => {
    const table = store.reader.getFinalMetricTable(['sizeBytes', 'accuracy'], { method: 'magnitude' });
    expect(table.ids.map((id) => ids.indexOf(id)).sort()).toEqual([0, 2, 4]);
    expect(table.values[table.ids.indexOf(ids[2])]).toEqual([800, 0.6]);
    expect(store.reader.getFinalMetricTable(['accuracy', 'nonexistent']).ids).toEqual([]);
    expect(store.reader.countRuns({ method: 'magnitude', status: 'done' })).toBe(2);
  });
});

describe('StoreReader metric sort', () => {
  it('puts runs lacking the metric last, also when a page crosses from runs with it to runs without', () => {
    const store = openStore(path.join(tempDir(), 'topiary.db'));
    try {
      const modelId = store.writer.upsertModel({ source: 'm', sha256: 'h', format: 'tfjs-layers', params: 1 });
      const ids = [0.3, null, 0.9, null, 0.5].map((acc) => {
        const id = store.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
        if (acc !== null) store.writer.setSummary(id, { after: { accuracy: acc } });
        return id;
      });
      const order = (q: Parameters<Store['reader']['listRuns']>[0]) => store.reader.listRuns(q).items.map((r) => ids.indexOf(r.id));
      expect(order({ sort: 'metric:accuracy' })).toEqual([2, 4, 0, 3, 1]);
      expect(order({ sort: 'metric:accuracy', direction: 'asc' })).toEqual([0, 4, 2, 1, 3]);
      expect(order({ sort: 'metric:accuracy', limit: 2, offset: 2 })).toEqual([0, 3]);
      expect(order({ sort: 'metric:accuracy', limit: 2, offset: 4 })).toEqual([1]);
      expect(store.reader.listRuns({ sort: 'metric:accuracy', limit: 2, offset: 2 }).total).toBe(5);
    } finally {
      store.close();
    }
  });
});

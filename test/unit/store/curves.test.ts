import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { openStore, type Store } from '../../../src-main/store/db';
import { seedModelAndDataset, tempDir } from './helpers';

describe('training curves in the store', () => {
  let store: Store;
  beforeEach(() => {
    store = openStore(path.join(tempDir(), 'topiary.db'));
  });
  afterEach(() => store.close());

  const newRun = () => {
    const { modelId, datasetId } = seedModelAndDataset(store);
    return store.writer.createRun({ config: {}, modelId, datasetId, backend: 'cpu', versions: {}, kind: 'prune', method: 'magnitude' });
  };

  it('reads points back in step order; a point at a stored step replaces it; non-finite values are dropped', () => {
    const id = newRun();
    store.writer.appendCurvePoints(id, [
      { step: 20, epoch: 1, wallMs: 900.4, values: { loss: 0.5, accuracy: 0.8 } },
      { step: 10, epoch: 0.5, wallMs: 400, values: { loss: Number.NaN, accuracy: 0.7, lr: 0.001 } },
    ]);
    store.writer.appendCurvePoints(id, [{ step: 20, epoch: 1, wallMs: 950, values: { loss: 0.45, accuracy: 0.81, valLoss: Number.POSITIVE_INFINITY } }]);
    expect(store.reader.getRun(id).curves).toEqual([
      { step: 10, epoch: 0.5, wallMs: 400, values: { accuracy: 0.7, lr: 0.001 } },
      { step: 20, epoch: 1, wallMs: 950, values: { loss: 0.45, accuracy: 0.81 } },
    ]);
  });

  it('rejects a malformed point with a ConfigError naming the field, writing nothing of the batch', () => {
    const id = newRun();
    const bad = () => store.writer.appendCurvePoints(id, [
      { step: 1, epoch: 0.1, wallMs: 1, values: { loss: 1 } },
      { step: 1.5, epoch: 0.2, wallMs: 2, values: {} },
    ]);
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/step must be a non-negative integer, got 1.5/);
    expect(store.reader.getRun(id).curves).toEqual([]);
  });

  it('gets the curves of several runs at once, and an imported run keeps its curves', () => {
    const a = newRun();
    const b = newRun();
    store.writer.appendCurvePoints(a, [{ step: 1, epoch: 1, wallMs: 5, values: { loss: 1 } }]);
    store.writer.appendCurvePoints(b, [{ step: 2, epoch: 1, wallMs: 6, values: { loss: 2 } }]);
    const byRun = store.reader.getCurves([a, b]);
    expect(byRun.get(a)?.map((p) => p.values.loss)).toEqual([1]);
    expect(byRun.get(b)?.map((p) => p.values.loss)).toEqual([2]);

    const detail = store.reader.getRun(a);
    const other = openStore(path.join(tempDir(), 'other.db'));
    try {
      const { modelId, datasetId } = seedModelAndDataset(other);
      other.writer.importRun(detail, { modelId, datasetId, profileId: null, parentRunId: null, artifactPaths: [], origin: {} });
      expect(other.reader.getRun(a).curves).toEqual(detail.curves);
      // A bundle written before curves were kept has no `curves` field at all.
      const legacy = { ...detail, id: 'legacy-run' } as Partial<typeof detail>;
      delete legacy.curves;
      other.writer.importRun(legacy as typeof detail, { modelId, datasetId, profileId: null, parentRunId: null, artifactPaths: [], origin: {} });
      expect(other.reader.getRun('legacy-run').curves).toEqual([]);
    } finally {
      other.close();
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../../src-main/store/db';

/** A fresh temp folder for one test's database and files. */
export function tempDir(prefix = 'topiary-store-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A model + dataset in the store, ready for runs. */
export function seedModelAndDataset(store: Store, n = 1): { modelId: string; datasetId: string } {
  const modelId = store.writer.upsertModel({ source: `demo-${n}`, sha256: `sha-model-${n}`, format: 'tfjs-layers', params: 1000 * n, name: `model ${n}` });
  const datasetId = store.writer.upsertDataset({ source: 'demo', sampleShape: [28, 28, 1], classNames: ['a', 'b'], trainSize: 100, testSize: 20 });
  return { modelId, datasetId };
}

/**
 * Class 3 of issue 14: `--overwrite` (CLI export, the app's exportRun) may replace only what an
 * earlier export wrote there, as listed in its `.topiary-export.json` manifest. A folder holding
 * anything else is refused with a ConfigError and left exactly as it was.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src-main/common/errors';
import type { ExportReportInput } from '../../src-main/common/export-report';
import { writeExportBundle } from '../../src-main/node/export/bundle';
import { fileHandler } from '../../src-main/node/models';
import { seedModelAndDataset } from '../unit/store/helpers';
import { sentinel, tempDir, topiary } from './helpers';

const report: ExportReportInput = {
  version: 1,
  createdAt: '2026-12-01T00:00:00.000Z',
  app: { name: 'topiary', version: '0.1.0' },
  tfjsVersion: '4.22.0',
  source: { spec: 'demo' },
  format: 'tflite',
  quant: 'none',
  sizes: { rawBytes: 4, gzipBytes: 4 },
  metrics: { before: {}, after: {} },
  layers: [],
  verification: { runtime: 'litert', samples: 1, maxAbsDiff: 0, top1Agreement: 1, accuracy: null, latencyMs: null, passed: true, reason: null },
};
const EXPORT_MANIFEST = '.topiary-export.json';
const files = (byte: number) => [{ name: 'model.tflite', bytes: new Uint8Array([byte, byte, byte, byte]) }];

async function refused(dir: string): Promise<ConfigError> {
  const err = await writeExportBundle(dir, { files: files(2), report }, { overwrite: true }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('export --overwrite replaces only what an export wrote', () => {
  it('a user folder that is not an export (no manifest) is refused, its files untouched', async () => {
    const user = sentinel(tempDir('topiary-hostile-out-'));
    const err = await refused(user.dir);
    expect(err.message).toMatch(/is not a Topiary export folder \(no \.topiary-export\.json\)/);
    user.assertIntact();
    expect(fs.readdirSync(user.dir)).toEqual(['thesis.txt']);
  });

  it('an earlier export with a file the user added is refused, and both stay', async () => {
    const dir = path.join(tempDir('topiary-hostile-out-'), 'bundle');
    await writeExportBundle(dir, { files: files(1), report });
    expect(fs.existsSync(path.join(dir, EXPORT_MANIFEST))).toBe(true);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const err = await refused(dir);
    expect(err.message).toMatch(/holds files this export did not write: notes\.txt/);
    expect(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect([...fs.readFileSync(path.join(dir, 'model.tflite'))]).toEqual([1, 1, 1, 1]);
  });

  it('a manifest naming a folder does not make that folder replaceable', async () => {
    const dir = path.join(tempDir('topiary-hostile-out-'), 'bundle');
    await writeExportBundle(dir, { files: files(1), report });
    const manifestPath = path.join(dir, EXPORT_MANIFEST);
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.files.push('photos');
    fs.writeFileSync(manifestPath, JSON.stringify(manifest));
    const photos = sentinel(dir, 'photos');
    expect((await refused(dir)).message).toMatch(/photos/);
    photos.assertIntact();
  });

  it('an existing plain file at the destination is refused even with overwrite', async () => {
    const file = path.join(tempDir('topiary-hostile-out-'), 'report.pdf');
    fs.writeFileSync(file, 'quarterly figures');
    expect((await refused(file)).message).toMatch(/exists and is not a folder/);
    expect(fs.readFileSync(file, 'utf8')).toBe('quarterly figures');
  });

  it('an earlier export holding only its own files is replaced (control)', async () => {
    const dir = path.join(tempDir('topiary-hostile-out-'), 'bundle');
    await writeExportBundle(dir, { files: [{ name: 'old.bin', bytes: new Uint8Array([9]) }], report });
    await writeExportBundle(dir, { files: files(2), report }, { overwrite: true });
    expect(fs.readdirSync(dir).sort()).toEqual([EXPORT_MANIFEST, 'model.tflite', 'report.html', 'report.json']);
    expect([...fs.readFileSync(path.join(dir, 'model.tflite'))]).toEqual([2, 2, 2, 2]);
  });

  it('CLI: export --overwrite into a user folder exits 2 with ConfigError and deletes nothing', () => {
    const user = sentinel(tempDir('topiary-hostile-out-'));
    const r = topiary(tempDir('topiary-hostile-home-'), ['export', 'demo', '--format', 'tflite', '--samples', '20', '--out', user.dir, '--overwrite']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ConfigError: .*not a Topiary export folder/);
    user.assertIntact();
  });

  it('app API exportRun with overwrite (the web and desktop export) refuses a user folder', async () => {
    const { createApi } = await import('../../src-main/app/api');
    const home = tempDir('topiary-hostile-api-');
    const user = sentinel(tempDir('topiary-hostile-out-'));
    const api = await createApi({ home, dbPath: path.join(home, 'topiary.db') });
    try {
      const { store } = api.services;
      const { modelId } = seedModelAndDataset(store);
      const runId = store.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
      store.writer.setRunStatus(runId, 'done');
      const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
      await model.save(fileHandler(path.join(home, 'runs', runId, 'model')));
      model.dispose();
      const req = { runId, outDir: user.dir, overwrite: true, format: 'tflite', quant: 'none', verifySamples: 5 };
      await expect(api.invoke('exportRun', req)).rejects.toThrow(/not a Topiary export folder/);
      user.assertIntact();
      expect(store.reader.getRun(runId).artifacts).toEqual([]);
    } finally {
      await api.close();
    }
  });
});

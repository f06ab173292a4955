/**
 * Class 1 of issue 14: a run's artifact paths decide what `runs delete --delete-artifacts` removes,
 * so a path from a crafted bundle (or any row pointing outside the run's folder) must never be
 * deleted. Each variant plants a user's folder outside the data folder and asserts it survives.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HistoryService } from '../../src-main/app/history-service';
import { openStore, type Store } from '../../src-main/store/db';
import { seedModelAndDataset } from '../unit/store/helpers';
import { sentinel, tempDir, topiary, type Sentinel } from './helpers';

const artifact = (p: string) => ({ path: p, format: 'tflite' as const, quant: 'none', bytes: 4, sha256: 'x'.repeat(64), verification: null, status: 'ok' as const });

describe('runs delete --delete-artifacts only removes files inside the run folder', () => {
  let home: string;
  let outside: string;
  let victim: Sentinel;
  let store: Store;
  let history: HistoryService;
  let runId: string;

  beforeEach(() => {
    home = tempDir('topiary-hostile-home-');
    outside = tempDir('topiary-hostile-user-');
    victim = sentinel(outside);
    store = openStore(path.join(home, 'topiary.db'));
    history = new HistoryService(store);
    const { modelId } = seedModelAndDataset(store);
    runId = store.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
    store.writer.setRunStatus(runId, 'done');
  });
  afterEach(() => store.close());

  it('a recorded path to a folder outside the data folder is refused, not deleted', () => {
    store.writer.addArtifact(runId, artifact(victim.dir));
    const result = history.delete(runId, { deleteArtifacts: true });
    victim.assertIntact();
    expect(result.artifactsDeleted).toEqual([]);
    expect(result.artifactsRefused).toEqual([{ path: victim.dir, reason: expect.stringMatching(/outside the run folder/) }]);
  });

  it('a path that climbs out of the run folder with .. is refused', () => {
    const climbing = path.join(home, 'runs', runId, '..', '..', '..', path.relative(path.dirname(home), victim.dir));
    expect(path.resolve(climbing)).toBe(victim.dir);
    store.writer.addArtifact(runId, artifact(climbing));
    const result = history.delete(runId, { deleteArtifacts: true });
    victim.assertIntact();
    expect(result.artifactsDeleted).toEqual([]);
    expect(result.artifactsRefused.map((r) => r.path)).toEqual([climbing]);
  });

  it('a path through a symlinked folder inside the run folder is refused (checked after fs.realpath)', () => {
    const runDir = path.join(home, 'runs', runId);
    fs.mkdirSync(runDir, { recursive: true });
    fs.symlinkSync(victim.dir, path.join(runDir, 'export-tflite-none'));
    const through = path.join(runDir, 'export-tflite-none', path.basename(victim.file));
    store.writer.addArtifact(runId, artifact(through));
    const result = history.delete(runId, { deleteArtifacts: true });
    victim.assertIntact();
    expect(result.artifactsDeleted).toEqual([]);
    expect(result.artifactsRefused.map((r) => r.path)).toEqual([through]);
  });

  it("another run's folder inside the data folder is refused too", () => {
    const other = path.join(home, 'runs', 'other-run', 'export-tflite-none');
    fs.mkdirSync(other, { recursive: true });
    fs.writeFileSync(path.join(other, 'model.tflite'), 'theirs');
    store.writer.addArtifact(runId, artifact(path.join(other, 'model.tflite')));
    const result = history.delete(runId, { deleteArtifacts: true });
    expect(fs.readFileSync(path.join(other, 'model.tflite'), 'utf8')).toBe('theirs');
    expect(result.artifactsDeleted).toEqual([]);
  });

  it("the run's own artifact inside runs/<id>/ is still deleted (control)", () => {
    const own = path.join(home, 'runs', runId, 'export-tflite-none', 'model.tflite');
    fs.mkdirSync(path.dirname(own), { recursive: true });
    fs.writeFileSync(own, 'mine');
    store.writer.addArtifact(runId, artifact(own));
    const result = history.delete(runId, { deleteArtifacts: true });
    expect(result.artifactsDeleted).toEqual([own]);
    expect(fs.existsSync(own)).toBe(false);
  });

  it('an imported bundle whose artifact file entry is null does not keep its foreign absolute path', () => {
    store.writer.addArtifact(runId, artifact(victim.dir));
    const bundle = path.join(outside, 'crafted.json');
    history.exportBundle([runId], bundle); // a .json bundle: artifactFiles are all null, paths travel
    const theirHome = tempDir('topiary-hostile-theirs-');
    const theirs = HistoryService.open(path.join(theirHome, 'topiary.db'));
    try {
      theirs.importBundle(bundle);
      const stored = theirs.show(runId).artifacts[0].path;
      expect(stored.startsWith(path.join(theirHome, 'runs', runId) + path.sep)).toBe(true);
      theirs.delete(runId, { deleteArtifacts: true });
      victim.assertIntact();
    } finally {
      theirs.close();
    }
  });
});

describe('the front doors reach the same guarded delete', () => {
  it('CLI: runs import of a crafted bundle then runs delete --delete-artifacts --yes leaves the user folder alone', () => {
    const outside = tempDir('topiary-hostile-user-');
    const victim = sentinel(outside);
    const mine = openStore(path.join(tempDir('topiary-hostile-src-'), 'topiary.db'));
    const { modelId } = seedModelAndDataset(mine);
    const runId = mine.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
    mine.writer.setRunStatus(runId, 'done');
    mine.writer.addArtifact(runId, artifact(victim.dir));
    const bundle = path.join(outside, 'crafted.json');
    new HistoryService(mine).exportBundle([runId], bundle);
    mine.close();

    const home = tempDir('topiary-hostile-home-');
    const imported = topiary(home, ['runs', 'import', bundle, '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    const shown = JSON.parse(topiary(home, ['runs', 'show', runId, '--json']).stdout);
    expect(shown.artifacts[0].path.startsWith(path.join(home, 'runs', runId) + path.sep)).toBe(true);
    const deleted = topiary(home, ['runs', 'delete', runId, '--delete-artifacts', '--yes', '--json']);
    expect(deleted.code, deleted.stderr).toBe(0);
    victim.assertIntact();
  });

  it('app API (web server and desktop window): deleteRun with deleteArtifacts refuses a path outside the run folder', async () => {
    const { createApi } = await import('../../src-main/app/api');
    const home = tempDir('topiary-hostile-api-');
    const victim = sentinel(tempDir('topiary-hostile-user-'));
    const api = await createApi({ home, dbPath: path.join(home, 'topiary.db') });
    try {
      const { store } = api.services;
      const { modelId } = seedModelAndDataset(store);
      const runId = store.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
      store.writer.addArtifact(runId, artifact(victim.dir));
      const result = (await api.invoke('deleteRun', { runId, deleteArtifacts: true })) as { artifactsDeleted: string[] };
      expect(result.artifactsDeleted).toEqual([]);
      victim.assertIntact();
    } finally {
      await api.close();
    }
  });
});

describe('runs import copies only what lies inside the bundle', () => {
  it('an artifact file in the bundle that is a symlink to a file outside it is refused, nothing imported', () => {
    const outside = tempDir('topiary-hostile-user-');
    const secret = path.join(outside, 'id_rsa');
    fs.writeFileSync(secret, 'PRIVATE KEY');
    const src = openStore(path.join(tempDir('topiary-hostile-src-'), 'topiary.db'));
    const { modelId } = seedModelAndDataset(src);
    const runId = src.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
    const own = path.join(outside, 'model.tflite');
    fs.writeFileSync(own, 'PRIVATE KEY');
    const sha = createHash('sha256').update('PRIVATE KEY').digest('hex');
    src.writer.addArtifact(runId, { ...artifact(own), sha256: sha });
    const bundleDir = path.join(outside, 'bundle');
    new HistoryService(src).exportBundle([runId], bundleDir);
    src.close();
    // Swap the copied artifact for a link to the secret (same bytes, so its sha256 matches).
    const copied = path.join(bundleDir, 'artifacts', runId, '0', 'model.tflite');
    fs.rmSync(copied);
    fs.symlinkSync(secret, copied);

    const home = tempDir('topiary-hostile-home-');
    const theirs = HistoryService.open(path.join(home, 'topiary.db'));
    try {
      expect(() => theirs.importBundle(bundleDir)).toThrow(/artifacts\/.*model\.tflite of run .* is a symlink; a bundle may only carry plain files and folders/);
      expect(theirs.list().total).toBe(0);
      expect(fs.existsSync(path.join(home, 'runs'))).toBe(false);
    } finally {
      theirs.close();
    }
  });
});

describe('runs import through a symlinked folder of the bundle', () => {
  it('an artifacts folder that is a symlink out of the bundle is refused', () => {
    const outside = tempDir('topiary-hostile-user-');
    const src = openStore(path.join(tempDir('topiary-hostile-src-'), 'topiary.db'));
    const { modelId } = seedModelAndDataset(src);
    const runId = src.writer.createRun({ config: {}, modelId, backend: 'cpu', versions: {}, kind: 'prune' });
    const own = path.join(outside, 'model.tflite');
    fs.writeFileSync(own, 'bytes');
    src.writer.addArtifact(runId, { ...artifact(own), sha256: createHash('sha256').update('bytes').digest('hex') });
    const bundleDir = path.join(outside, 'bundle');
    new HistoryService(src).exportBundle([runId], bundleDir);
    src.close();
    const elsewhere = path.join(outside, 'elsewhere');
    fs.renameSync(path.join(bundleDir, 'artifacts'), elsewhere);
    fs.symlinkSync(elsewhere, path.join(bundleDir, 'artifacts'));
    const theirs = HistoryService.open(path.join(tempDir('topiary-hostile-home-'), 'topiary.db'));
    try {
      expect(() => theirs.importBundle(bundleDir)).toThrow(/is a symlink; a bundle may only carry plain files and folders/);
      expect(theirs.list().total).toBe(0);
    } finally {
      theirs.close();
    }
  });
});

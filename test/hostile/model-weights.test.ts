/**
 * Class 2 of issue 14: the shard paths of a model.json (`weightsManifest[].paths`) are data from
 * the file. Weights may only come from regular files inside the model's own folder, their sizes are
 * checked before anything is read, and an error never describes a file outside the folder.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelFormatError } from '../../src-main/common/errors';
import { fileHandler, loadModel, readTfjsModelFiles } from '../../src-main/node/models';
import { tempDir, topiary } from './helpers';

/** Dense(3 -> 2): kernel 6 + bias 2 float32 = 32 bytes of weights in one shard. */
const WEIGHT_BYTES = 32;
let base: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  base = tempDir('topiary-hostile-model-');
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
  await model.save(fileHandler(path.join(base, 'model')));
  model.dispose();
});

afterEach(() => vi.restoreAllMocks());

/** A copy of the model folder (in a fresh parent) whose only shard path is `shard`. */
function hostileModel(shard: string): { dir: string; parent: string } {
  const parent = tempDir('topiary-hostile-m-');
  const dir = path.join(parent, 'model');
  fs.cpSync(path.join(base, 'model'), dir, { recursive: true });
  const jsonPath = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  json.weightsManifest[0].paths = [shard];
  fs.writeFileSync(jsonPath, JSON.stringify(json));
  return { dir, parent };
}

async function refusal(dir: string): Promise<ModelFormatError> {
  const err = await readTfjsModelFiles(path.join(dir, 'model.json')).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModelFormatError);
  return err as ModelFormatError;
}

describe('model.json weight paths stay inside the model folder', () => {
  it('../ to a foreign file of the right size is refused, not loaded as the weights', async () => {
    const { dir, parent } = hostileModel('../foreign.bin');
    fs.writeFileSync(path.join(parent, 'foreign.bin'), Buffer.alloc(WEIGHT_BYTES, 7));
    const err = await refusal(dir);
    expect(err.message).toMatch(/shard "\.\.\/foreign\.bin" is outside the model folder/);
    await expect(loadModel(dir)).rejects.toThrow(ModelFormatError);
  });

  it('URL-encoded .. (%2e%2e/) is decoded first and refused the same way', async () => {
    const { dir, parent } = hostileModel('%2e%2e/foreign.bin');
    fs.writeFileSync(path.join(parent, 'foreign.bin'), Buffer.alloc(WEIGHT_BYTES, 7));
    expect((await refusal(dir)).message).toMatch(/outside the model folder/);
  });

  it('an absolute path is refused', async () => {
    const { dir, parent } = hostileModel('');
    const foreign = path.join(parent, 'elsewhere.bin');
    fs.writeFileSync(foreign, Buffer.alloc(WEIGHT_BYTES, 7));
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = [foreign];
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    expect((await refusal(dir)).message).toMatch(/outside the model folder/);
  });

  it('a symlink inside the folder that points outside is refused (checked after fs.realpath)', async () => {
    const { dir, parent } = hostileModel('weights.bin');
    fs.writeFileSync(path.join(parent, 'foreign.bin'), Buffer.alloc(WEIGHT_BYTES, 7));
    fs.symlinkSync(path.join(parent, 'foreign.bin'), path.join(dir, 'weights.bin'));
    expect((await refusal(dir)).message).toMatch(/"weights\.bin" is outside the model folder/);
  });

  it('the error for an outside file of the wrong size does not leak its size', async () => {
    const { dir, parent } = hostileModel('../secret.bin');
    fs.writeFileSync(path.join(parent, 'secret.bin'), Buffer.alloc(1234, 1));
    const err = await refusal(dir);
    expect(err.message).not.toContain('1234');
    expect(err.message).toMatch(/outside the model folder/);
  });

  it('device /dev/zero as an absolute shard path is refused without reading it', async () => {
    const { dir } = hostileModel('/dev/zero');
    const read = vi.spyOn(fs.promises, 'readFile');
    expect((await refusal(dir)).message).toMatch(/outside the model folder/);
    expect(read.mock.calls.some(([p]) => String(p) === '/dev/zero')).toBe(false);
  });

  it('device /dev/zero behind a symlink inside the folder is refused without reading it', async () => {
    const { dir } = hostileModel('group1-shard1of1.bin');
    fs.rmSync(path.join(dir, 'group1-shard1of1.bin'));
    fs.symlinkSync('/dev/zero', path.join(dir, 'group1-shard1of1.bin'));
    const before = process.memoryUsage().rss;
    expect((await refusal(dir)).message).toMatch(/outside the model folder/);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('a folder named as a shard inside the model folder is refused as not a regular file', async () => {
    const { dir } = hostileModel('weights.bin');
    fs.mkdirSync(path.join(dir, 'weights.bin'));
    expect((await refusal(dir)).message).toMatch(/shard "weights\.bin" is not a regular file/);
  });

  it('a shard of the wrong size is refused by its stat size before it is read', async () => {
    const { dir } = hostileModel('big.bin');
    // A sparse 512 MiB file: reading it would cost 512 MiB of memory; its size is known from stat.
    const fd = fs.openSync(path.join(dir, 'big.bin'), 'w');
    fs.ftruncateSync(fd, 512 * 1024 * 1024);
    fs.closeSync(fd);
    const read = vi.spyOn(fs.promises, 'readFile');
    const err = await refusal(dir);
    expect(err.message).toMatch(/shard big\.bin is 536870912 bytes, expected 32/);
    expect(read.mock.calls.some(([p]) => String(p).endsWith('big.bin'))).toBe(false);
  });

  it('CLI: analyze of a model whose shard climbs out of its folder exits 2 with ModelFormatError', () => {
    const { dir, parent } = hostileModel('../foreign.bin');
    fs.writeFileSync(path.join(parent, 'foreign.bin'), Buffer.alloc(WEIGHT_BYTES, 7));
    const r = topiary(tempDir('topiary-hostile-home-'), ['analyze', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ModelFormatError: .*model\.json: .*outside the model folder/);
  });
});

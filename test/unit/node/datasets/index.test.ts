import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DatasetFormatError, TopiaryError } from '../../../../src-main/common/errors';
import { seededRandom, subset } from '../../../../src-main/engine/data';
import { FASHION_MNIST_CLASSES, describeDataset, loadDataset } from '../../../../src-main/node/datasets';
import { gzip, idxBytes, npyU8, npzBytes, pngBytes, tempDir, writeFile, writeIdxDir } from './fixtures';

const root = tempDir('topiary-dsidx-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `case${n++}`);

describe('demo dataset', () => {
  it('loads the bundled Fashion-MNIST subset with 10 named classes', async () => {
    const ds = await loadDataset('demo');
    expect(ds.classNames).toEqual([...FASHION_MNIST_CLASSES]);
    expect(ds.sampleShape).toEqual([28, 28, 1]);
    const summary = describeDataset(ds);
    expect(summary.trainSize).toBe(6000);
    expect(summary.testSize).toBe(1000);
    expect(summary.testClassCounts).toEqual(new Array(10).fill(100));
    expect(summary.trainClassCounts).toEqual(new Array(10).fill(600));
    const { x, y } = ds.test.take([0, 999]);
    expect(x.length).toBe(2 * 784);
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...x)).toBeLessThanOrEqual(1);
    expect(Math.max(...x)).toBeGreaterThan(0.5);
    expect(y.every((l) => l >= 0 && l < 10)).toBe(true);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });
});

describe('describeDataset', () => {
  it('counts classes of splits that carry no label array', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 7, test: 5, classes: 2 });
    const ds = await loadDataset(`idx:${dir}`);
    const view = { ...ds, test: subset(ds.test, Int32Array.from([0, 1, 2])) };
    expect(describeDataset(view).testClassCounts).toEqual([2, 1]);
    expect(describeDataset(ds).testClassCounts).toEqual([3, 2]);
  });
});

describe('dataset specs', () => {
  it('recognizes bare paths by extension or folder contents', async () => {
    const idxDir = fresh();
    writeIdxDir(idxDir, { train: 3, test: 2 });
    expect((await loadDataset(idxDir)).train.size).toBe(3);
    const npz = path.join(fresh(), 'd.npz');
    writeFile(npz, npzBytes({ x: npyU8([4, 1], [1, 2, 3, 4]), y: npyU8([4], [0, 1, 0, 1]) }));
    expect((await loadDataset(npz)).train.size + (await loadDataset(npz)).test.size).toBe(4);
    const imgDir = fresh();
    for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) writeFile(path.join(imgDir, c, `${i}.png`), pngBytes(2, 2, () => [1, 2, 3]));
    expect((await loadDataset(imgDir)).classNames).toEqual(['a', 'b']);
  });

  it('rejects unknown specs and bad options with ConfigError', async () => {
    await expect(loadDataset('cifar-ten')).rejects.toThrow(ConfigError);
    await expect(loadDataset('cifar-ten')).rejects.toThrow(/expected demo, fashion-mnist, idx:DIR/);
    await expect(loadDataset('demo', { testFraction: 1 })).rejects.toThrow(/testFraction must be in \(0, 1\), got 1/);
    await expect(loadDataset('demo', { sampleShape: [28, -1] })).rejects.toThrow(ConfigError);
    await expect(loadDataset('demo', { normalize: 'z' as 'unit' })).rejects.toThrow(ConfigError);
  });

  it('turns corrupted files into named errors, never raw TypeErrors', async () => {
    const rand = seededRandom(11);
    const dir = fresh();
    writeIdxDir(dir, { train: 4, test: 2, gz: true });
    const good = {
      idx: idxBytes([4, 4, 4], new Uint8Array(64)),
      npz: npzBytes({ x: npyU8([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]), y: npyU8([4], [0, 1, 0, 1]) }),
    };
    for (let trial = 0; trial < 12; trial++) {
      const corrupt = (bytes: Uint8Array) => {
        const out = bytes.slice(0, 1 + Math.floor(rand() * bytes.length));
        for (let k = 0; k < 3; k++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
        return out;
      };
      writeFile(path.join(dir, 'train-images-idx3-ubyte.gz'), trial % 2 ? gzip(corrupt(good.idx)) : corrupt(gzip(good.idx)));
      const npz = writeFile(path.join(dir, 'f.npz'), corrupt(good.npz));
      for (const spec of [`idx:${dir}`, `npz:${npz}`]) {
        const outcome = await loadDataset(spec).then(() => 'ok', (e: unknown) => e);
        if (outcome !== 'ok') {
          expect(outcome).toBeInstanceOf(TopiaryError);
          expect((outcome as Error).message).toContain(root);
        }
      }
    }
  });

  it('missing Fashion-MNIST and missing demo data are DatasetFormatErrors', async () => {
    const prev = process.env.TOPIARY_RESOURCES;
    process.env.TOPIARY_RESOURCES = path.join(root, 'no-resources');
    try {
      const err = await loadDataset('demo').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatasetFormatError);
      expect((err as Error).message).toMatch(/make-demo-data/);
    } finally {
      if (prev === undefined) delete process.env.TOPIARY_RESOURCES;
      else process.env.TOPIARY_RESOURCES = prev;
    }
  });
});

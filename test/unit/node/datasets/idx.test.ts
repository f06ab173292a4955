import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../../src-main/common/errors';
import { loadDataset } from '../../../../src-main/node/datasets';
import { readIdx } from '../../../../src-main/node/datasets/idx';
import { gzip, idxBytes, pixel, tempDir, writeFile, writeIdxDir } from './fixtures';

const root = tempDir('topiary-idx-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `case${n++}`);

describe('IDX reader', () => {
  it('reads raw and gzip IDX folders to the same normalized samples', async () => {
    const raw = fresh();
    const gz = fresh();
    writeIdxDir(raw, { train: 5, test: 2 });
    writeIdxDir(gz, { train: 5, test: 2, gz: true });
    const a = await loadDataset(`idx:${raw}`);
    const b = await loadDataset(`idx:${gz}`);
    expect(a.sampleShape).toEqual([4, 4, 1]);
    expect(a.train.size).toBe(5);
    expect(a.test.size).toBe(2);
    expect(a.classNames).toEqual(['0', '1', '2']);
    const ta = a.train.take([3, 0]);
    expect(Array.from(ta.y)).toEqual([0, 0]);
    expect(ta.x.length).toBe(2 * 16);
    expect(ta.x[5]).toBeCloseTo(pixel(3, 5) / 255, 6);
    expect(ta.x[16 + 7]).toBeCloseTo(pixel(0, 7) / 255, 6);
    expect(Array.from(b.train.take([3, 0]).x)).toEqual(Array.from(ta.x));
    expect(Array.from(b.test.take([1]).y)).toEqual([1]);
  });

  it("normalize 'none' keeps byte values", async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    const ds = await loadDataset(`idx:${dir}`, { normalize: 'none' });
    expect(ds.train.take([2]).x[4]).toBe(pixel(2, 4));
  });

  it('accepts a sampleShape with the same number of values (a reshape)', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    const ds = await loadDataset(`idx:${dir}`, { sampleShape: [16] });
    expect(ds.sampleShape).toEqual([16]);
  });

  it("accepts MNIST's alternative names (train-images.idx3-ubyte, test-...)", async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 2 });
    fs.renameSync(path.join(dir, 'train-images-idx3-ubyte'), path.join(dir, 'train-images.idx3-ubyte'));
    fs.renameSync(path.join(dir, 't10k-labels-idx1-ubyte'), path.join(dir, 'test-labels-idx1-ubyte'));
    const ds = await loadDataset(`idx:${dir}`);
    expect([ds.train.size, ds.test.size]).toEqual([3, 2]);
  });

  it('uses classes.txt for class names when present', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    writeFile(path.join(dir, 'classes.txt'), 'cat\ndog\nbird\n');
    expect((await loadDataset(`idx:${dir}`)).classNames).toEqual(['cat', 'dog', 'bird']);
  });

  it('reports bytes read through onProgress', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1, gz: true });
    const phases = new Set<string>();
    await loadDataset(`idx:${dir}`, { onProgress: (p) => phases.add(p.phase) });
    expect(phases).toContain('read train images');
    expect(phases).toContain('read test labels');
  });

  it('decodes big-endian non-uint8 IDX payloads as float32', async () => {
    const file = path.join(fresh(), 'f.idx');
    const body = new DataView(new ArrayBuffer(4 + 4 + 2 * 4));
    body.setUint32(0, 0x00000d01, false);
    body.setUint32(4, 2, false);
    body.setFloat32(8, 1.5, false);
    body.setFloat32(12, -2.25, false);
    writeFile(file, new Uint8Array(body.buffer));
    const arr = await readIdx(file);
    expect(arr.dims).toEqual([2]);
    expect(Array.from(arr.data)).toEqual([1.5, -2.25]);
  });
});

describe('IDX errors', () => {
  const expectError = async (spec: string, pattern: RegExp, options = {}) => {
    const err = await loadDataset(spec, options).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('rejects a wrong magic number, naming the file and the number', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    writeFile(path.join(dir, 'train-images-idx3-ubyte'), idxBytes([2, 4, 4], new Uint8Array(32), 0x12345678));
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte: wrong IDX magic number 0x12345678/);
  });

  it('rejects a raw file shorter than its header declares', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    const full = idxBytes([2, 4, 4], new Uint8Array(32));
    writeFile(path.join(dir, 'train-images-idx3-ubyte'), full.subarray(0, full.length - 5));
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte: truncated: header says 2 items of shape \[4, 4\] \(32 bytes of uint8\), but only 27 bytes/);
  });

  it('rejects a gzip file whose decompressed data is short', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1, gz: true });
    const full = idxBytes([2, 4, 4], new Uint8Array(32));
    writeFile(path.join(dir, 'train-images-idx3-ubyte.gz'), gzip(full.subarray(0, 30)));
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte\.gz: truncated: .* only 14 bytes/);
  });

  it('rejects a gzip stream cut off in the middle', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 40, test: 1, gz: true });
    const file = path.join(dir, 'train-images-idx3-ubyte.gz');
    const gz = fs.readFileSync(file);
    writeFile(file, gz.subarray(0, Math.floor(gz.length / 2)));
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte\.gz: truncated/);
  });

  it('rejects bytes that are gzip in name only', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1, gz: true });
    writeFile(path.join(dir, 'train-images-idx3-ubyte.gz'), new Uint8Array([0x1f, 0x8b, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte\.gz: (not a valid gzip file|truncated)/);
  });

  it('rejects trailing bytes after the declared data', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    writeFile(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes([1], [0, 0, 0]));
    await expectError(`idx:${dir}`, /t10k-labels-idx1-ubyte: 2 bytes after the data/);
  });

  it('rejects an image/label count mismatch', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    writeFile(path.join(dir, 'train-labels-idx1-ubyte'), idxBytes([2], [0, 1]));
    await expectError(`idx:${dir}`, /train-labels-idx1-ubyte: image\/label count mismatch: 2 labels but train-images-idx3-ubyte has 3 images/);
  });

  it('rejects labels at or above the number of classes', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    writeFile(path.join(dir, 'train-labels-idx1-ubyte'), idxBytes([3], [0, 1, 5]));
    await expectError(`idx:${dir}`, /train-labels-idx1-ubyte: label 5 at index 2 is out of range: expected 0\.\.2/, { classNames: ['a', 'b', 'c'] });
  });

  it('rejects Fashion-MNIST labels outside its 10 classes', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 3, test: 1 });
    writeFile(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes([1], [10]));
    const prev = process.env.TOPIARY_FASHION_MNIST_DIR;
    process.env.TOPIARY_FASHION_MNIST_DIR = dir;
    try {
      await expectError('fashion-mnist', /t10k-labels-idx1-ubyte: label 10 at index 0 is out of range: expected 0\.\.9 \(10 classes\)/);
    } finally {
      if (prev === undefined) delete process.env.TOPIARY_FASHION_MNIST_DIR;
      else process.env.TOPIARY_FASHION_MNIST_DIR = prev;
    }
  });

  it('rejects train and test images of different shapes', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    writeFile(path.join(dir, 't10k-images-idx3-ubyte'), idxBytes([1, 3, 3], new Uint8Array(9)));
    await expectError(`idx:${dir}`, /t10k-images-idx3-ubyte: sample shape mismatch: test images are \[3, 3, 1\] but train images .* are \[4, 4, 1\]/);
  });

  it('rejects a sampleShape that does not fit the samples', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    await expectError(`idx:${dir}`, /sample shape mismatch: samples have shape \[4, 4, 1\] \(16 values\) but sampleShape \[28, 28, 1\] needs 784/, { sampleShape: [28, 28, 1] });
  });

  it('rejects a missing file and a missing folder', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte'));
    await expectError(`idx:${dir}`, /missing file t10k-labels-idx1-ubyte\[\.gz\]/);
    await expectError(`idx:${path.join(root, 'nowhere')}`, /nowhere: folder not found/);
    const odd = fresh();
    writeIdxDir(odd, { train: 2, test: 1 });
    fs.rmSync(path.join(odd, 'train-images-idx3-ubyte'));
    fs.mkdirSync(path.join(odd, 'train-images-idx3-ubyte'));
    await expectError(`idx:${odd}`, /train-images-idx3-ubyte: is a folder, expected an IDX file/);
  });

  it('rejects an empty dataset', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 0, test: 1 });
    await expectError(`idx:${dir}`, /train-images-idx3-ubyte: empty dataset: 0 training images/);
  });

  it('rejects a label file with image dimensions', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 2, test: 1 });
    writeFile(path.join(dir, 'train-labels-idx1-ubyte'), idxBytes([2, 1, 1], [0, 1]));
    await expectError(`idx:${dir}`, /train-labels-idx1-ubyte: expected a label file with dimensions \[N\], got \[2, 1, 1\]/);
  });
});

describe('fashion-mnist spec', () => {
  const prev = process.env.TOPIARY_FASHION_MNIST_DIR;
  afterEach(() => {
    if (prev === undefined) delete process.env.TOPIARY_FASHION_MNIST_DIR;
    else process.env.TOPIARY_FASHION_MNIST_DIR = prev;
  });

  it('explains how to get Fashion-MNIST when it is not installed', async () => {
    process.env.TOPIARY_FASHION_MNIST_DIR = path.join(root, 'no-fashion');
    const err = await loadDataset('fashion-mnist').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(/no-fashion: Fashion-MNIST not found; install it with `apt-get install dataset-fashion-mnist`.*`demo`/);
  });

  it('names the ten Fashion-MNIST classes', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 10, test: 10, classes: 10, gz: true });
    process.env.TOPIARY_FASHION_MNIST_DIR = dir;
    const ds = await loadDataset('fashion-mnist');
    expect(ds.classNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    expect(ds.name).toBe('fashion-mnist');
  });
});

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../../src-main/common/errors';
import { loadDataset } from '../../../../src-main/node/datasets';
import { parseNpy } from '../../../../src-main/node/datasets/npy';
import { npyBytes, npyF32, npyF64, npyI32, npyI64, npyU8, npzBytes, tempDir, writeFile } from './fixtures';

const root = tempDir('topiary-npy-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name = 'data.npz') => path.join(root, `case${n++}`, name);

const range = (len: number, f: (i: number) => number) => Array.from({ length: len }, (_, i) => f(i));

async function loadError(spec: string, options = {}): Promise<Error> {
  const err = await loadDataset(spec, options).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DatasetFormatError);
  return err as Error;
}

describe('NPY parsing', () => {
  it('reads every supported dtype', () => {
    const values = (bytes: Uint8Array) => Array.from(parseNpy(bytes, 'a').data as ArrayLike<number | bigint>, Number);
    expect(values(npyF32([2], [1.5, -2]))).toEqual([1.5, -2]);
    expect(values(npyF64([2], [0.25, 3]))).toEqual([0.25, 3]);
    expect(values(npyU8([3], [0, 128, 255]))).toEqual([0, 128, 255]);
    expect(values(npyI32([2], [-7, 9]))).toEqual([-7, 9]);
    expect(values(npyI64([2], [4, -1]))).toEqual([4, -1]);
    expect(parseNpy(npyI64([1], [4]), 'a').dtype).toBe('int64');
    const arr = parseNpy(npyU8([2, 3], range(6, (i) => i)), 'a');
    expect(arr.shape).toEqual([2, 3]);
    expect(arr.dtype).toBe('uint8');
  });

  it('rejects unsupported dtypes by name', () => {
    expect(() => parseNpy(npyBytes('>f4', [1], new Uint8Array(4)), 'big.npy')).toThrow(/big\.npy: unsupported NPY dtype '>f4' \(big-endian float32\)/);
    expect(() => parseNpy(npyBytes('<f2', [1], new Uint8Array(2)), 'half.npy')).toThrow(/half\.npy: unsupported NPY dtype '<f2' \(float16\)/);
    expect(() => parseNpy(npyBytes('<U5', [1], new Uint8Array(20)), 's.npy')).toThrow(/unsupported NPY dtype '<U5' \(unicode string5\)/);
    expect(() => parseNpy(npyBytes('', [1], new Uint8Array(0), "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), 'rec.npy')).toThrow(/structured arrays/);
  });

  it('rejects malformed headers', () => {
    expect(() => parseNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy')).toThrow(DatasetFormatError);
    expect(() => parseNpy(new Uint8Array([1, 2, 3]), 'x.npy')).toThrow(/x\.npy: malformed NPY header: missing the \\x93NUMPY magic/);
    expect(() => parseNpy(npyBytes('<f4', [1], new Uint8Array(4), "{'descr': '<f4', 'shape': (1,), }"), 'x.npy')).toThrow(/malformed NPY header: no 'fortran_order'/);
    expect(() => parseNpy(npyBytes('<f4', [1], new Uint8Array(4), "{'descr': '<f4', 'fortran_order': False, 'shape': (a, b), }"), 'x.npy')).toThrow(/malformed NPY header: the shape is not a tuple of sizes/);
    const cut = npyF32([4], [1, 2, 3, 4]).subarray(0, 20);
    expect(() => parseNpy(cut, 'x.npy')).toThrow(/malformed NPY header: header declares \d+ bytes but the file ends first/);
    expect(() => parseNpy(npyBytes('<f4', [2], new Uint8Array(4), "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }"), 'x.npy')).toThrow(/Fortran-ordered/);
  });

  it('rejects data shorter than the shape needs', () => {
    const bytes = npyF32([3, 2], range(6, (i) => i));
    expect(() => parseNpy(bytes.subarray(0, bytes.length - 4), 'x.npy')).toThrow(/x\.npy: truncated: shape \[3, 2\] of float32 needs 24 bytes of data, found 20/);
  });
});

describe('npz datasets', () => {
  it('reads x_train/y_train/x_test/y_test with uint8 images scaled to [0, 1]', async () => {
    const file = fresh();
    writeFile(file, npzBytes({
      x_train: npyU8([4, 2, 2], range(16, (i) => i * 10)),
      y_train: npyI64([4], [0, 1, 2, 1]),
      x_test: npyU8([2, 2, 2], range(8, (i) => 255 - i)),
      y_test: npyI64([2], [2, 0]),
    }));
    const ds = await loadDataset(`npz:${file}`);
    expect(ds.sampleShape).toEqual([2, 2, 1]);
    expect(ds.classNames).toEqual(['0', '1', '2']);
    expect([ds.train.size, ds.test.size]).toEqual([4, 2]);
    const { x, y } = ds.train.take([1]);
    expect(Array.from(y)).toEqual([1]);
    expect(x[0]).toBeCloseTo(40 / 255, 6);
    expect(ds.test.take([0]).x[0]).toBeCloseTo(1, 6);
  });

  it('splits x, y by seed, stratified and reproducibly', async () => {
    const file = fresh();
    const count = 40;
    writeFile(file, npzBytes({
      x: npyF32([count, 3], range(count * 3, (i) => i)),
      y: npyI32([count], range(count, (i) => (i < 30 ? 0 : 1))),
    }));
    const a = await loadDataset(`npz:${file}`, { seed: 1, testFraction: 0.25 });
    const b = await loadDataset(`npz:${file}`, { seed: 1, testFraction: 0.25 });
    const c = await loadDataset(`npz:${file}`, { seed: 2, testFraction: 0.25 });
    expect(a.test.size).toBe(10);
    expect(a.train.size).toBe(30);
    const classOf = (labels: Int32Array) => [0, 1].map((k) => labels.filter((l) => l === k).length);
    expect(classOf(a.test.labels)).toEqual([8, 2]);
    const firstCol = (ds: typeof a) => Array.from(ds.test.take(range(ds.test.size, (i) => i)).x.filter((_, i) => i % 3 === 0));
    expect(firstCol(a)).toEqual(firstCol(b));
    expect(firstCol(a)).not.toEqual(firstCol(c));
    // float features are not rescaled
    expect(Math.max(...firstCol(a))).toBeGreaterThan(1);
  });

  it('accepts float64 samples and one-hot or [N, 1] labels', async () => {
    const file = fresh();
    writeFile(file, npzBytes({
      x_train: npyF64([3, 2], [0, 1, 2, 3, 4, 5]),
      y_train: npyF32([3, 3], [0, 0, 1, 1, 0, 0, 0, 1, 0]),
      x_test: npyF64([1, 2], [6, 7]),
      y_test: npyF64([1, 1], [2]),
    }));
    const ds = await loadDataset(`npz:${file}`);
    expect(ds.sampleShape).toEqual([2]);
    expect(Array.from(ds.train.labels)).toEqual([2, 0, 1]);
    expect(Array.from(ds.test.take([0]).x)).toEqual([6, 7]);
  });

  it('reads a folder of .npy files with npy:', async () => {
    const dir = path.dirname(fresh());
    writeFile(path.join(dir, 'x.npy'), npyU8([4, 2], range(8, (i) => i)));
    writeFile(path.join(dir, 'y.npy'), npyU8([4], [0, 1, 0, 1]));
    const ds = await loadDataset(`npy:${dir}`, { normalize: 'none' });
    expect(ds.train.size + ds.test.size).toBe(4);
    expect(ds.classNames).toEqual(['0', '1']);
  });

  it('reports an unsupported dtype inside an npz with the member name', async () => {
    const file = fresh();
    writeFile(file, npzBytes({ x: npyBytes('<f2', [2, 1], new Uint8Array(4)), y: npyU8([2], [0, 1]) }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/data\.npz:x\.npy: unsupported NPY dtype '<f2'/);
  });

  it('rejects a sample/label count mismatch', async () => {
    const file = fresh();
    writeFile(file, npzBytes({ x: npyU8([3, 2], range(6, (i) => i)), y: npyU8([2], [0, 1]) }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/y\.npy: image\/label count mismatch: 2 labels but x has 3 samples/);
  });

  it('rejects negative labels and labels beyond the given classes', async () => {
    const file = fresh();
    writeFile(file, npzBytes({ x: npyU8([3, 1], [1, 2, 3]), y: npyI32([3], [0, -1, 1]) }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/y\.npy: label -1 at index 1 is negative/);
    const file2 = fresh();
    writeFile(file2, npzBytes({ x: npyU8([3, 1], [1, 2, 3]), y: npyI32([3], [0, 2, 1]) }));
    expect((await loadError(`npz:${file2}`, { classNames: ['a', 'b'] })).message).toMatch(/label 2 at index 1 is out of range: expected 0\.\.1/);
  });

  it('rejects non-integer labels', async () => {
    const file = fresh();
    writeFile(file, npzBytes({ x: npyU8([2, 1], [1, 2]), y: npyF32([2], [0, 0.5]) }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/label at index 1 is 0\.5, not an integer/);
  });

  it('rejects train and test samples of different shapes', async () => {
    const file = fresh();
    writeFile(file, npzBytes({
      x_train: npyU8([2, 2, 2], range(8, (i) => i)), y_train: npyU8([2], [0, 1]),
      x_test: npyU8([1, 3, 3], range(9, (i) => i)), y_test: npyU8([1], [0]),
    }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/x_test\.npy: sample shape mismatch: x_test samples are \[3, 3, 1\] but x_train samples are \[2, 2, 1\]/);
  });

  it('names the arrays it expected when they are absent', async () => {
    const file = fresh();
    writeFile(file, npzBytes({ features: npyU8([2, 1], [1, 2]) }));
    expect((await loadError(`npz:${file}`)).message).toMatch(/data\.npz: expected arrays x_train, y_train, x_test, y_test \(or x, y\); found none of them/);
  });

  it('rejects an empty dataset, a corrupt archive and a missing file', async () => {
    const empty = fresh();
    writeFile(empty, npzBytes({ x: npyU8([0, 4], []), y: npyU8([0], []) }));
    expect((await loadError(`npz:${empty}`)).message).toMatch(/empty dataset/);
    const corrupt = fresh();
    writeFile(corrupt, new Uint8Array([0x50, 0x4b, 3, 4, 9, 9, 9]));
    expect((await loadError(`npz:${corrupt}`)).message).toMatch(/data\.npz: not a readable \.npz \(zip\) archive/);
    expect((await loadError(`npz:${path.join(root, 'missing.npz')}`)).message).toMatch(/missing\.npz: file not found/);
  });
});

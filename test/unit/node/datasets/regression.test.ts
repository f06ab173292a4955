import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../../src-main/common/errors';
import { loadDataset } from '../../../../src-main/node/datasets';
import { npyF32, npyF64, npzBytes, tempDir, writeFile } from './fixtures';

const root = tempDir('topiary-regress-ds-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const csv = writeFile(
  path.join(root, 'abalone.csv'),
  'length,rings,diameter,weight\n' + Array.from({ length: 20 }, (_, i) => `${i / 10},${i % 7 + 3},${(i * 3) % 5},${i * 0.5 + 0.25}`).join('\n') + '\n',
);

describe('regression datasets', () => {
  it('csv:FILE#target=NAME reads that column as float targets and keeps features min-max scaled', async () => {
    const ds = await loadDataset(`csv:${csv}#target=weight`, { task: 'regression', seed: 1 });
    expect(ds.targetNames).toEqual(['weight']);
    expect(ds.classNames).toEqual([]);
    expect(ds.sampleShape).toEqual([3]);
    expect(ds.train.size + ds.test.size).toBe(20);
    const { x, y } = ds.test.take([0, 1]);
    expect(y).toBeInstanceOf(Float32Array);
    expect(y.length).toBe(2);
    // weights are i * 0.5 + 0.25: targets keep their units (not scaled), and sit at quarter steps.
    for (const v of y) expect((v - 0.25) / 0.5).toBeCloseTo(Math.round((v - 0.25) / 0.5), 5);
    expect(x.length).toBe(2 * 3);
    // Min-max scaled on the train split: each feature column spans exactly [0, 1] there.
    const n = ds.train.size;
    const train = ds.train.take(Array.from({ length: n }, (_, i) => i)).x;
    for (let f = 0; f < 3; f++) {
      const column = Array.from({ length: n }, (_, i) => train[i * 3 + f]);
      expect(Math.min(...column)).toBeCloseTo(0, 6);
      expect(Math.max(...column)).toBeCloseTo(1, 6);
    }
  });

  it('whole-number targets (abalone rings) are floats for regression, class labels otherwise', async () => {
    const reg = await loadDataset(`csv:${csv}#target=rings`, { task: 'regression' });
    expect(reg.test.take([0]).y).toBeInstanceOf(Float32Array);
    const cls = await loadDataset(`csv:${csv}#target=rings`);
    expect(cls.test.take([0]).y).toBeInstanceOf(Int32Array);
    expect(cls.classNames.length).toBe(10);
  });

  it('several target columns make [n, k] targets; an unknown column or a non-number is named', async () => {
    const ds = await loadDataset(`csv:${csv}#target=rings,weight`, { task: 'regression' });
    expect(ds.targetNames).toEqual(['rings', 'weight']);
    expect(ds.sampleShape).toEqual([2]);
    expect(ds.train.take([0, 1, 2]).y.length).toBe(6);
    await expect(loadDataset(`csv:${csv}#target=age`, { task: 'regression' })).rejects.toThrow(/no column named "age" for the target among the header's 4 columns/);
    const bad = writeFile(path.join(root, 'bad.csv'), 'a,y\n1,2\n2,x\n3,4\n');
    const err = await loadDataset(`csv:${bad}#target=y`, { task: 'regression' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetFormatError);
    expect((err as Error).message).toMatch(/bad\.csv: line 3, column 2: the regression target is not a number$/);
  });

  it('npz with float y [N] and [N, k] loads as regression targets', async () => {
    const file = writeFile(path.join(root, 'reg.npz'), npzBytes({
      x: npyF32([6, 2], Array.from({ length: 12 }, (_, i) => i)),
      y: npyF64([6, 2], Array.from({ length: 12 }, (_, i) => i * 0.5)),
    }));
    const ds = await loadDataset(`npz:${file}`, { task: 'regression', testFraction: 0.5 });
    expect(ds.targetNames).toEqual(['y0', 'y1']);
    expect(ds.test.size).toBe(3);
    const { x, y } = ds.train.take([0]);
    expect(y).toBeInstanceOf(Float32Array);
    expect(Array.from(y)).toEqual([x[0] * 0.5, x[1] * 0.5]);
  });
});

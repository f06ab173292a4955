import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetFormatError } from '../../../../src-main/common/errors';
import { loadDataset } from '../../../../src-main/node/datasets';
import { splitCsvLine } from '../../../../src-main/node/datasets/csv';
import { tempDir, writeFile } from './fixtures';

const root = tempDir('topiary-csv-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const csv = (text: string, name = 'data.csv') => writeFile(path.join(root, `case${n++}`, name), text);

async function loadError(spec: string, options = {}): Promise<Error> {
  const err = await loadDataset(spec, options).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DatasetFormatError);
  return err as Error;
}

const rows = (count: number, f: (i: number) => string) => Array.from({ length: count }, (_, i) => f(i)).join('\n');

describe('CSV reader', () => {
  it('takes the last column as label and sorts string labels into class names', async () => {
    const file = csv(`a,b,species\n${rows(20, (i) => `${i},${i * 2},${['virginica', 'setosa'][i % 2]}`)}\n`);
    const ds = await loadDataset(`csv:${file}`, { normalize: 'none', testFraction: 0.25 });
    expect(ds.classNames).toEqual(['setosa', 'virginica']);
    expect(ds.sampleShape).toEqual([2]);
    expect([ds.train.size, ds.test.size]).toEqual([15, 5]);
    const { x, y } = ds.train.take([0]);
    const row = x[0];
    expect(x[1]).toBe(row * 2);
    expect(y[0]).toBe(row % 2 === 0 ? 1 : 0);
  });

  it('prefers a column named label wherever it is, with integer labels as indices', async () => {
    const file = csv(`Label,f1,f2\r\n${rows(6, (i) => `${i % 3},${i},${-i}`)}\r\n`);
    const ds = await loadDataset(`csv:${file}`, { normalize: 'none', testFraction: 0.5 });
    expect(ds.classNames).toEqual(['0', '1', '2']);
    const { x, y } = ds.test.take([0]);
    expect(y[0]).toBe(x[0] % 3);
    expect(x[1]).toBe(-x[0]);
  });

  it("min-max scales features to [0, 1] from the train split under 'unit'", async () => {
    const file = csv(`f,g,label\n${rows(10, (i) => `${i * 10},5,${i % 2}`)}\n`);
    const ds = await loadDataset(`csv:${file}`, { testFraction: 0.2 });
    const train = ds.train.take(Array.from({ length: ds.train.size }, (_, i) => i)).x;
    const f = train.filter((_, i) => i % 2 === 0);
    expect(Math.min(...f)).toBe(0);
    expect(Math.max(...f)).toBe(1);
    // a constant column carries no information and becomes 0 rather than NaN
    expect(train.filter((_, i) => i % 2 === 1).every((v) => v === 0)).toBe(true);
  });

  it('handles quoted fields, tabs and a sampleShape reshape', async () => {
    expect(splitCsvLine('"a,b",2,"say ""hi"""', ',')).toEqual(['a,b', '2', 'say "hi"']);
    expect(splitCsvLine('"open', ',')).toBeUndefined();
    const file = csv(`p1\tp2\tp3\tp4\tlabel\n${rows(4, (i) => `1\t2\t3\t${i}\t"c${i % 2}"`)}\n`, 'data.tsv');
    const ds = await loadDataset(`csv:${file}`, { sampleShape: [2, 2, 1], normalize: 'none', testFraction: 0.5 });
    expect(ds.sampleShape).toEqual([2, 2, 1]);
    expect(ds.classNames).toEqual(['c0', 'c1']);
  });

  it('names the line of a ragged row', async () => {
    const file = csv('a,b,label\n1,2,x\n\n3,4,y\n5,y\n');
    expect((await loadError(`csv:${file}`)).message).toMatch(/data\.csv: line 5: ragged row: 2 fields, but the header has 3 columns/);
  });

  it('names the line and column of a non-numeric feature', async () => {
    const file = csv('a,b,label\n1,2,x\n3,four,y\n');
    expect((await loadError(`csv:${file}`)).message).toMatch(/data\.csv: line 3, column 2: not a number$/);
    const blank = csv('a,b,label\n1,,x\n');
    expect((await loadError(`csv:${blank}`)).message).toMatch(/line 2, column 2: empty feature value$/);
  });

  it('rejects negative integer labels, empty labels, empty files and missing files', async () => {
    expect((await loadError(`csv:${csv('a,label\n1,0\n2,-1\n')}`)).message).toMatch(/label -1 on data row 2 is out of range/);
    expect((await loadError(`csv:${csv('a,label\n1,x\n2, \n')}`)).message).toMatch(/line 3, column 2: empty label/);
    expect((await loadError(`csv:${csv('')}`)).message).toMatch(/empty dataset: the file has no header row/);
    expect((await loadError(`csv:${csv('a,label\n')}`)).message).toMatch(/empty dataset: the file has a header but no data rows/);
    expect((await loadError(`csv:${path.join(root, 'nope.csv')}`)).message).toMatch(/nope\.csv: file not found/);
  });

  it('rejects a sampleShape with a different number of values', async () => {
    const file = csv(`a,b,label\n${rows(4, (i) => `${i},${i},${i % 2}`)}\n`);
    expect((await loadError(`csv:${file}`, { sampleShape: [3] })).message).toMatch(/sample shape mismatch: samples have shape \[2\]/);
  });
});

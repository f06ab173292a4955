import { strToU8, unzipSync, zipSync } from 'fflate';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../../src-main/common/errors';
import { crc32, crc32Table, listZipEntries, safeUnzip } from '../../../src-main/node/safe-unzip';

describe('safeUnzip', () => {
  it('the table CRC-32 gives the standard check value and agrees with zlib', () => {
    expect(crc32Table(strToU8('123456789'))).toBe(0xcbf43926);
    expect(crc32(strToU8('123456789'))).toBe(0xcbf43926);
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 2654435761) >>> 24);
    expect(crc32Table(data)).toBe(zlib.crc32(data) >>> 0);
  });

  it('reads what fflate writes, stored and deflated, exactly as fflate reads it', () => {
    const big = Uint8Array.from({ length: 50_000 }, (_, i) => i % 251);
    const zip = zipSync({ 'a.txt': [strToU8('hello'), { level: 0 }], 'dir/b.bin': [big, { level: 6 }], 'empty': new Uint8Array(0) });
    const ours = safeUnzip(zip, 'x.zip', { errorClass: ModelFormatError });
    const theirs = unzipSync(zip);
    expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
    for (const k of Object.keys(theirs)) expect([...ours[k]]).toEqual([...theirs[k]]);
    expect(listZipEntries(zip, 'x.zip', ModelFormatError).map((e) => [e.name, e.method])).toEqual([['a.txt', 0], ['dir/b.bin', 8], ['empty', 8]]);
  });

  it('inflates only the members the filter picks', () => {
    const zip = zipSync({ 'x.npy': strToU8('x'), 'y.npy': strToU8('y') });
    expect(Object.keys(safeUnzip(zip, 'd.npz', { errorClass: ModelFormatError, filter: (n) => n === 'y.npy' }))).toEqual(['y.npy']);
  });

  it('a small archive may compress well past the ratio (memory stays small below the floor)', () => {
    const zip = zipSync({ 'zeros.bin': new Uint8Array(8 * 1024 * 1024) });
    expect(zip.length * 200).toBeLessThan(8 * 1024 * 1024);
    expect(safeUnzip(zip, 'z.zip', { errorClass: ModelFormatError })['zeros.bin'].length).toBe(8 * 1024 * 1024);
  });

  it('the limits are options: an absolute cap and a ratio above a floor', () => {
    const zip = zipSync({ 'zeros.bin': new Uint8Array(1 << 20) });
    expect(() => safeUnzip(zip, 'z.zip', { errorClass: ModelFormatError, maxTotalBytes: 1000 })).toThrow(/z\.zip: zip member "zeros\.bin" declares 1048576 bytes uncompressed, over the limit of 1000 bytes/);
    expect(() => safeUnzip(zip, 'z.zip', { errorClass: ModelFormatError, ratioFloorBytes: 0, maxRatio: 10 })).toThrow(/compression ratio over 10x/);
  });

  it('truncated archives and garbage are named errors', () => {
    const zip = zipSync({ 'a.bin': new Uint8Array(1000).fill(3) });
    expect(() => safeUnzip(zip.subarray(0, zip.length - 30), 't.zip', { errorClass: ModelFormatError })).toThrow(ModelFormatError);
    expect(() => safeUnzip(strToU8('PK\u0003\u0004 nonsense'), 'g.zip', { errorClass: ModelFormatError })).toThrow(/g\.zip: corrupt zip archive: no end-of-central-directory record/);
  });
});

describe('safeUnzip on archives written by the real tools (test/fixtures/archives, make.py)', () => {
  const dir = path.resolve(__dirname, '..', '..', 'fixtures', 'archives');
  for (const name of ['keras3.keras', 'numpy-compressed.npz', 'numpy-stored.npz']) {
    it(`reads ${name} exactly as fflate does, CRCs checked`, () => {
      const bytes = new Uint8Array(fs.readFileSync(path.join(dir, name)));
      const ours = safeUnzip(bytes, name, { errorClass: ModelFormatError });
      const theirs = unzipSync(bytes);
      expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
      expect(Object.keys(ours).length).toBeGreaterThanOrEqual(2);
      for (const k of Object.keys(theirs)) expect(Buffer.from(ours[k]).equals(Buffer.from(theirs[k]))).toBe(true);
    });
  }

  it('numpy members carry zip64 extras in their local headers, and the reader skips them', () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'numpy-stored.npz')));
    const [first] = listZipEntries(bytes, 'numpy-stored.npz', ModelFormatError);
    const localExtra = bytes[first.localHeaderOffset + 28] | (bytes[first.localHeaderOffset + 29] << 8);
    expect(localExtra).toBeGreaterThanOrEqual(20); // the zip64 extra numpy's force_zip64 writes
    expect(first.method).toBe(0);
  });
});

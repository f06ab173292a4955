import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, DatasetFormatError } from '../../../../src-main/common/errors';
import { loadDataset } from '../../../../src-main/node/datasets';
import { fitImageInto } from '../../../../src-main/node/datasets/resample';
import { jpegBytes, jpegBytesWithExif, palettePngBytes, pngBytes, pngBytesOf, tempDir, writeFile, writeIdxDir } from './fixtures';

const root = tempDir('topiary-img-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => path.join(root, `case${n++}`);

const gray = (v: number) => () => [v, v, v] as [number, number, number];

/** DIR/<class>/<i>.png with a constant gray level per class (class index * 100). */
function writeClassFolders(dir: string, classes: string[], perClass: number, ext: 'png' | 'jpg' = 'png'): void {
  classes.forEach((c, k) => {
    for (let i = 0; i < perClass; i++) {
      const bytes = ext === 'png' ? pngBytes(6, 4, gray(k * 100)) : jpegBytes(6, 4, gray(k * 100));
      writeFile(path.join(dir, c, `${i}.${ext}`), bytes);
    }
  });
}

async function loadError(spec: string, options = {}): Promise<Error> {
  const err = await loadDataset(spec, options).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(DatasetFormatError);
  return err as Error;
}

describe('image folders', () => {
  it('reads PNG and JPEG class folders, sorts classes, takes [H, W, 3] from an RGB first file and splits by seed', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['shoe', 'bag'], 5, 'png');
    for (let i = 0; i < 5; i++) writeFile(path.join(dir, 'coat', `${i}.jpg`), jpegBytes(6, 4, gray(200)));
    const ds = await loadDataset(`images:${dir}`, { testFraction: 0.2, seed: 3 });
    expect(ds.classNames).toEqual(['bag', 'coat', 'shoe']);
    // Grey-looking pixels in an RGB file stay 3 channels: channels come from the file type (or the model).
    expect(ds.sampleShape).toEqual([4, 6, 3]);
    expect(ds.train.size + ds.test.size).toBe(15);
    expect(ds.test.size).toBe(3);
    expect(Array.from(ds.test.labels).sort()).toEqual([0, 1, 2]);
    const all = ds.train.take(Array.from({ length: ds.train.size }, (_, i) => i));
    for (let i = 0; i < all.y.length; i++) {
      // shoe was written with gray 0, bag with 100, coat (JPEG, lossy) with 200
      const want = { 0: 100, 1: 200, 2: 0 }[all.y[i]]! / 255;
      expect(all.x[i * 72 + 10]).toBeCloseTo(want, 1);
    }
    expect(ds.warnings).toEqual([]);
  });

  it('takes 1 channel without a target only when the first file stores grey', async () => {
    const dir = fresh();
    for (const c of ['a', 'b']) {
      for (let i = 0; i < 2; i++) writeFile(path.join(dir, c, `${i}.png`), pngBytesOf(5, 3, () => [90, 90, 90, 255], { colorType: 0 }));
    }
    const ds = await loadDataset(`images:${dir}`, { testFraction: 0.5 });
    expect(ds.sampleShape).toEqual([3, 5, 1]);
    expect(ds.train.take([0]).x[7]).toBeCloseTo(90 / 255, 6);
  });

  it('resizes to the requested shape and converts to RGB', async () => {
    const dir = fresh();
    for (const c of ['a', 'b']) {
      for (let i = 0; i < 2; i++) writeFile(path.join(dir, c, `${i}.png`), pngBytes(10, 10, () => [255, 0, 0]));
    }
    const ds = await loadDataset(`images:${dir}`, { sampleShape: [3, 5, 3], testFraction: 0.5 });
    expect(ds.sampleShape).toEqual([3, 5, 3]);
    const { x } = ds.train.take([0]);
    expect(x.length).toBe(45);
    expect(Array.from(x.subarray(0, 3))).toEqual([1, 0, 0]);
    const grayDs = await loadDataset(`images:${dir}`, { sampleShape: [2, 2, 1], testFraction: 0.5 });
    // BT.601 luma of pure red: 0.299 * 255 = 76.2 -> 76
    expect(grayDs.train.take([0]).x[0]).toBeCloseTo(76 / 255, 6);
  });

  it('uses train/ and test/ subfolders when both exist', async () => {
    const dir = fresh();
    writeClassFolders(path.join(dir, 'train'), ['x', 'y'], 3);
    writeClassFolders(path.join(dir, 'test'), ['x', 'y'], 1);
    const ds = await loadDataset(`images:${dir}`);
    expect([ds.train.size, ds.test.size]).toEqual([6, 2]);
    expect(Array.from(ds.test.labels)).toEqual([0, 1]);
  });

  it('skips unreadable images with a warning count', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 3);
    writeFile(path.join(dir, 'a', 'broken.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    writeFile(path.join(dir, 'b', 'fake.jpg'), 'not a jpeg');
    writeFile(path.join(dir, 'b', 'notes.txt'), 'ignored');
    const ds = await loadDataset(`images:${dir}`);
    expect(ds.train.size + ds.test.size).toBe(6);
    expect(ds.warnings[0]).toMatch(/^skipped 2 unreadable images \(first: .*broken\.png: /);
    expect(ds.warnings[1]).toMatch(/ignored 1 file without a \.png\/\.jpg\/\.jpeg extension/);
  });

  it('refuses to decode a PNG whose header claims billions of pixels', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 2);
    const huge = pngBytes(2, 2, gray(9));
    new DataView(huge.buffer).setUint32(16, 65536, false);
    new DataView(huge.buffer).setUint32(20, 65536, false);
    writeFile(path.join(dir, 'a', '0.png'), huge);
    const ds = await loadDataset(`images:${dir}`);
    expect(ds.train.size + ds.test.size).toBe(3);
    expect(ds.warnings[0]).toMatch(/skipped 1 unreadable image \(first: .*0\.png: PNG is 4295 megapixels/);
  });

  it('fails when no image is readable', async () => {
    const dir = fresh();
    writeFile(path.join(dir, 'a', '1.png'), 'garbage');
    writeFile(path.join(dir, 'b', '2.jpeg'), new Uint8Array([0xff, 0xd8, 0, 0]));
    expect((await loadError(`images:${dir}`)).message).toMatch(/none of the 2 image files could be read \(first: .*1\.png/);
  });

  it('fails on a missing folder and on folders without images', async () => {
    expect((await loadError(`images:${path.join(root, 'absent')}`)).message).toMatch(/absent: folder not found/);
    const flat = fresh();
    writeFile(path.join(flat, 'loose.png'), pngBytes(2, 2, gray(0)));
    expect((await loadError(`images:${flat}`)).message).toMatch(/empty dataset: no class subfolders/);
    const emptyClasses = fresh();
    fs.mkdirSync(path.join(emptyClasses, 'a'), { recursive: true });
    expect((await loadError(`images:${emptyClasses}`)).message).toMatch(/empty dataset: the class folders hold no/);
    const noTest = fresh();
    writeClassFolders(path.join(noTest, 'train'), ['a'], 2);
    fs.mkdirSync(path.join(noTest, 'test', 'a'), { recursive: true });
    expect((await loadError(`images:${noTest}`)).message).toMatch(/test: empty dataset: no readable images/);
  });

  it('rejects a sample shape that is not [H, W, 1|3]', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 2);
    await expect(loadDataset(`images:${dir}`, { sampleShape: [4, 4, 2] })).rejects.toThrow(ConfigError);
  });
});

/** Phone-photo variety: JPEG and PNG, several sizes, RGB / RGBA / grey / grey+alpha / 16-bit / palette. */
function writeMixedFolder(dir: string): void {
  const warm = (x: number, y: number): [number, number, number] => [200, 100 + ((x + y) % 50), 40];
  writeFile(path.join(dir, 'warm', 'a.jpg'), jpegBytes(64, 48, warm));
  writeFile(path.join(dir, 'warm', 'b.png'), pngBytesOf(30, 50, (x, y) => [...warm(x, y), 255], { colorType: 2 }));
  writeFile(path.join(dir, 'warm', 'c.png'), pngBytesOf(41, 17, (x, y) => [...warm(x, y), 200], { colorType: 6 }));
  writeFile(path.join(dir, 'warm', 'd.png'), pngBytesOf(20, 20, (x, y) => [...warm(x, y), 255], { colorType: 6, bitDepth: 16 }));
  writeFile(path.join(dir, 'warm', 'e.jpg'), jpegBytesWithExif(40, 24, warm, 6));
  writeFile(path.join(dir, 'grey', 'a.png'), pngBytesOf(33, 33, () => [90, 90, 90, 255], { colorType: 0 }));
  writeFile(path.join(dir, 'grey', 'b.png'), pngBytesOf(12, 70, () => [90, 90, 90, 255], { colorType: 4, bitDepth: 16 }));
  writeFile(path.join(dir, 'grey', 'c.png'), palettePngBytes(25, 9, [[90, 90, 90], [91, 91, 91]], (x) => x % 2));
  writeFile(path.join(dir, 'grey', 'd.jpg'), jpegBytes(50, 80, () => [90, 90, 90]));
}

describe('image folders fitted to a model input', () => {
  it('fits every size and colour mode to [H, W, 3] from the model, one sample per file', async () => {
    const dir = fresh();
    writeMixedFolder(dir);
    const ds = await loadDataset(`images:${dir}`, { modelInputShape: [16, 16, 3], testFraction: 0.25 });
    expect(ds.warnings).toEqual([]);
    expect(ds.sampleShape).toEqual([16, 16, 3]);
    expect(ds.train.size + ds.test.size).toBe(9);
    const { x, y } = ds.train.take(Array.from({ length: ds.train.size }, (_, i) => i));
    for (let i = 0; i < y.length; i++) {
      const px = x.subarray(i * 768 + 8 * 48 + 8 * 3, i * 768 + 8 * 48 + 8 * 3 + 3);
      if (ds.classNames[y[i]] === 'grey') {
        // grey replicated to RGB: R = G = B, about 90
        expect(px[0]).toBeCloseTo(px[1], 2);
        expect(px[1]).toBeCloseTo(px[2], 2);
        expect(px[0] * 255).toBeGreaterThan(84);
        expect(px[0] * 255).toBeLessThan(96);
      } else {
        expect(px[0]).toBeGreaterThan(px[2]);
      }
    }
  });

  it('fits to one channel by luma when the model wants [H, W, 1]', async () => {
    const dir = fresh();
    writeMixedFolder(dir);
    const ds = await loadDataset(`images:${dir}`, { modelInputShape: [8, 6, 1], testFraction: 0.25 });
    expect(ds.sampleShape).toEqual([8, 6, 1]);
    const { x } = ds.test.take([0]);
    expect(x.length).toBe(48);
  });

  it('an explicit sampleShape wins and a non-image model input is ignored', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 2);
    expect((await loadDataset(`images:${dir}`, { modelInputShape: [16, 16, 3], sampleShape: [2, 3, 1] })).sampleShape).toEqual([2, 3, 1]);
    expect((await loadDataset(`images:${dir}`, { modelInputShape: [784] })).sampleShape).toEqual([4, 6, 3]);
    // A flat input of H*W values takes RGB files as one channel (a Dense model on grey-looking images).
    expect((await loadDataset(`images:${dir}`, { modelInputShape: [24] })).sampleShape).toEqual([4, 6, 1]);
    expect((await loadDataset(`images:${dir}`, { modelInputShape: [72] })).sampleShape).toEqual([4, 6, 3]);
  });

  it('maps bytes by the input scale', async () => {
    const dir = fresh();
    for (const c of ['a', 'b']) for (let i = 0; i < 2; i++) writeFile(path.join(dir, c, `${i}.png`), pngBytes(2, 2, () => [255, 0, 51]));
    const first = async (inputScale?: '0-1' | '-1-1' | '0-255') =>
      Array.from((await loadDataset(`images:${dir}`, { modelInputShape: [2, 2, 3], testFraction: 0.5, inputScale })).train.take([0]).x.subarray(0, 3));
    expect(await first()).toEqual([1, 0, expect.closeTo(0.2, 6)]);
    expect(await first('-1-1')).toEqual([1, -1, expect.closeTo(51 / 127.5 - 1, 6)]);
    expect(await first('0-255')).toEqual([255, 0, 51]);
  });

  it('applies the input scale to uint8 IDX too, and leaves the default as x/255', async () => {
    const dir = fresh();
    writeIdxDir(dir, { train: 4, test: 2 });
    const plain = await loadDataset(`idx:${dir}`);
    const signed = await loadDataset(`idx:${dir}`, { inputScale: '-1-1' });
    const a = plain.train.take([1]).x;
    const b = signed.train.take([1]).x;
    for (let j = 0; j < a.length; j++) expect(b[j]).toBeCloseTo(a[j] * 2 - 1, 5);
    expect(a[3]).toBeCloseTo(((1 * 7 + 3 * 3) % 256) / 255, 6);
  });

  it('names the empty class folder among full ones', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['cat', 'dog'], 2);
    fs.mkdirSync(path.join(dir, 'bird'));
    const err = await loadError(`images:${dir}`);
    expect(err.message).toMatch(/bird: empty class folder: no \.png\/\.jpg\/\.jpeg files/);
  });

  it('names an undecodable file in the warning and loads the rest', async () => {
    const dir = fresh();
    writeMixedFolder(dir);
    writeFile(path.join(dir, 'warm', 'truncated.jpg'), jpegBytes(20, 20, () => [1, 2, 3]).subarray(0, 40));
    const ds = await loadDataset(`images:${dir}`, { modelInputShape: [8, 8, 3] });
    expect(ds.train.size + ds.test.size).toBe(9);
    expect(ds.warnings[0]).toMatch(/skipped 1 unreadable image \(first: .*warm\/truncated\.jpg: /);
  });

  it('refuses, before allocating, a folder whose samples would not fit in memory', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 2);
    const err = await loadError(`images:${dir}`, { modelInputShape: [30000, 30000, 3] });
    expect(err.message).toMatch(/4 images of \[30000, 30000, 3\] need 10\.1 GiB, more than the 4 GiB/);
  });

  it('rejects an unknown resize mode or input scale as a config error', async () => {
    const dir = fresh();
    writeClassFolders(dir, ['a', 'b'], 2);
    await expect(loadDataset(`images:${dir}`, { resize: 'squash' as 'crop' })).rejects.toThrow(/resize must be one of crop, stretch, pad/);
    await expect(loadDataset(`images:${dir}`, { inputScale: 'auto' as '0-1' })).rejects.toThrow(ConfigError);
  });
});

describe('bilinear resize', () => {
  it('averages a 2x2 image to its mean and keeps corners when upsampling', () => {
    const img = { width: 2, height: 2, data: Uint8Array.from([0, 0, 0, 255, 100, 100, 100, 255, 50, 50, 50, 255, 250, 250, 250, 255]) };
    const one = new Uint8Array(1);
    fitImageInto(img, { height: 1, width: 1, channels: 1, resize: 'stretch' }, one, 0);
    expect(one[0]).toBe(100);
    const four = new Uint8Array(16);
    fitImageInto(img, { height: 4, width: 4, channels: 1, resize: 'stretch' }, four, 0);
    expect([four[0], four[3], four[12], four[15]]).toEqual([0, 100, 50, 250]);
    // half-pixel centres: output pixel 1 samples source x = 0.25 -> 0 + 0.25 * 100
    expect(four[1]).toBe(25);
  });
});

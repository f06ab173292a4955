import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { previewDataset, type PreviewOptions } from '../../../../src-main/node/datasets/preview';
import { pngBytesOf, tempDir, writeFile, writeIdxDir } from './fixtures';

const root = tempDir('topiary-preview-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function decodeUrl(src: string): PNG {
  expect(src.startsWith('data:image/png;base64,')).toBe(true);
  return PNG.sync.read(Buffer.from(src.slice('data:image/png;base64,'.length), 'base64'));
}
const opts = (o: Partial<PreviewOptions> = {}): PreviewOptions => ({ inputScale: '0-1', resize: 'crop', perClass: 2, maxClasses: 12, ...o });

describe('dataset preview', () => {
  it('shows image-folder samples fitted to the model input, a few per class', async () => {
    const dir = path.join(root, 'folder');
    // A 40 x 20 image: a red band at the left, the rest green. Cropped to the centre square it is all green.
    const img = pngBytesOf(40, 20, (x) => (x < 6 ? [255, 0, 0, 255] : [0, 255, 0, 255]), { colorType: 2 });
    for (const c of ['a', 'b']) for (let i = 0; i < 3; i++) writeFile(path.join(dir, c, `${i}.png`), img);
    const p = await previewDataset(`images:${dir}`, opts({ modelInputShape: [10, 10, 3], inputScale: '-1-1' }));
    expect(p.sampleShape).toEqual([10, 10, 3]);
    expect(p.valueRange).toEqual([-1, 1]);
    expect(p.classes.map((c) => [c.name, c.images.length])).toEqual([['a', 2], ['b', 2]]);
    expect(p.classes[0].images[0].file).toBe(path.join('a', '0.png'));
    const cropped = decodeUrl(p.classes[0].images[0].src);
    expect([cropped.width, cropped.height]).toEqual([10, 10]);
    expect(Array.from(cropped.data.subarray(0, 3))).toEqual([0, 255, 0]);
    // Stretched, the red band survives at the left edge.
    const stretched = decodeUrl((await previewDataset(`images:${dir}`, opts({ modelInputShape: [10, 10, 3], resize: 'stretch' }))).classes[1].images[0].src);
    expect(stretched.data[0]).toBe(255);
  });

  it('draws one-channel targets grey and downscales big samples for transport', async () => {
    const dir = path.join(root, 'big');
    for (const c of ['a', 'b']) writeFile(path.join(dir, c, '0.png'), pngBytesOf(300, 300, () => [200, 100, 50, 255], { colorType: 2 }));
    const p = await previewDataset(dir, opts({ modelInputShape: [224, 224, 1] }));
    expect(p.sampleShape).toEqual([224, 224, 1]);
    expect(p.shownSize).toEqual([128, 128]);
    const png = decodeUrl(p.classes[0].images[0].src);
    expect(png.width).toBe(128);
    // BT.601 luma of (200, 100, 50) = 124.2
    expect(Array.from(png.data.subarray(0, 3))).toEqual([124, 124, 124]);
  });

  it('draws IDX samples with the input scaling undone, and says why CSV has no pictures', async () => {
    const dir = path.join(root, 'idx');
    writeIdxDir(dir, { train: 6, test: 3, h: 4, w: 4, classes: 3 });
    const p = await previewDataset(`idx:${dir}`, opts({ inputScale: '-1-1', perClass: 1 }));
    expect(p.classes.map((c) => c.images.length)).toEqual([1, 1, 1]);
    const png = decodeUrl(p.classes[1].images[0].src);
    // sample 1, pixel 2: (1 * 7 + 2 * 3) % 256 = 13, round-tripped through x/127.5 - 1
    expect(png.data[2 * 4]).toBe(13);
    const csv = path.join(root, 'f.csv');
    fs.writeFileSync(csv, 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n');
    const c = await previewDataset(`csv:${csv}`, opts());
    expect(c.note).toMatch(/not images/);
    expect(c.classes.every((k) => k.images.length === 0)).toBe(true);
  });
});

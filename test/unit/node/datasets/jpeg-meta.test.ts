import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../../../src-main/node/datasets/images';
import { applyOrientation, exifOrientation, readJpegMeta } from '../../../../src-main/node/datasets/jpeg-meta';
import { exifOrientationBlock, jpegBytes, jpegBytesWithExif } from './fixtures';

/** 3 x 2 image whose pixels are a..f (red channel 1..6), and the red channels of a result by rows. */
const abc = { width: 3, height: 2, data: Uint8Array.from([1, 2, 3, 4, 5, 6].flatMap((v) => [v, 0, 0, 255])) };
const rows = (img: { width: number; height: number; data: Uint8Array }) =>
  Array.from({ length: img.height }, (_, y) => Array.from({ length: img.width }, (_, x) => img.data[(y * img.width + x) * 4]));

describe('EXIF orientation', () => {
  it('turns each of the 8 orientations upright', () => {
    // Stored: a b c / d e f
    const want: Record<number, number[][]> = {
      1: [[1, 2, 3], [4, 5, 6]],
      2: [[3, 2, 1], [6, 5, 4]],
      3: [[6, 5, 4], [3, 2, 1]],
      4: [[4, 5, 6], [1, 2, 3]],
      5: [[1, 4], [2, 5], [3, 6]],
      6: [[4, 1], [5, 2], [6, 3]],
      7: [[6, 3], [5, 2], [4, 1]],
      8: [[3, 6], [2, 5], [1, 4]],
    };
    for (const [o, grid] of Object.entries(want)) expect(rows(applyOrientation(abc, Number(o)))).toEqual(grid);
  });

  it('reads the orientation tag in both byte orders and ignores junk', () => {
    expect(exifOrientation(exifOrientationBlock(6))).toBe(6);
    expect(exifOrientation(exifOrientationBlock(8, true))).toBe(8);
    expect(exifOrientation(exifOrientationBlock(9))).toBe(1);
    expect(exifOrientation(Uint8Array.from([0x4d, 0x4d, 0, 42, 0, 0, 0xff, 0xff]))).toBe(1);
    expect(exifOrientation(new Uint8Array(3))).toBe(1);
  });

  it('decodes a phone-style JPEG tagged "rotate 90 clockwise" upright', () => {
    // Stored 8 x 4, left half red, right half blue; upright it is 4 x 8 with red on top.
    const bytes = jpegBytesWithExif(8, 4, (x) => (x < 4 ? [255, 0, 0] : [0, 0, 255]), 6);
    expect(readJpegMeta(bytes)).toEqual({ orientation: 6, components: 3 });
    const img = decodeImage(bytes);
    expect([img.width, img.height]).toEqual([4, 8]);
    const px = (x: number, y: number) => Array.from(img.data.subarray((y * 4 + x) * 4, (y * 4 + x) * 4 + 3));
    expect(px(1, 1)[0]).toBeGreaterThan(200);
    expect(px(1, 1)[2]).toBeLessThan(60);
    expect(px(2, 6)[2]).toBeGreaterThan(200);
    expect(px(2, 6)[0]).toBeLessThan(60);
  });

  it('a JPEG without EXIF keeps its orientation', () => {
    expect(readJpegMeta(jpegBytes(4, 2, () => [1, 2, 3]))).toEqual({ orientation: 1, components: 3 });
  });
});

import { describe, expect, it } from 'vitest';
import { axisWeights, fitImageInto, placement, type RgbaImage } from '../../../../src-main/node/datasets/resample';

/** A w x h opaque grey image whose value at (x, y) is v(x, y). */
function greyImage(w: number, h: number, v: (x: number, y: number) => number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([v(x, y), v(x, y), v(x, y), 255], (y * w + x) * 4);
  return { width: w, height: h, data };
}

function fit(img: RgbaImage, h: number, w: number, c: 1 | 3, resize: 'crop' | 'stretch' | 'pad'): number[] {
  const out = new Uint8Array(h * w * c);
  fitImageInto(img, { height: h, width: w, channels: c, resize }, out, 0);
  return Array.from(out);
}

describe('resampling', () => {
  it('upsamples a gradient exactly as half-pixel bilinear', () => {
    // Output i samples source x = (i + 0.5) / 2 - 0.5: -0.25 (clamped), 0.25, 0.75, 1.25, 1.75, 2.25 (clamped)
    const img = greyImage(3, 1, (x) => [0, 100, 200][x]);
    expect(fit(img, 1, 6, 1, 'stretch')).toEqual([0, 25, 75, 125, 175, 200]);
  });

  it('keeps an image of the target size unchanged', () => {
    const img = greyImage(5, 4, (x, y) => x * 40 + y * 9);
    expect(fit(img, 4, 5, 1, 'crop')).toEqual(Array.from({ length: 20 }, (_, k) => (k % 5) * 40 + Math.floor(k / 5) * 9));
  });

  it('downsampling averages what an output pixel covers instead of aliasing', () => {
    // A 25 % duty stripe (255 every 4th pixel, mean 63.75). Plain 4-tap bilinear at 16 -> 4 samples
    // x = 1.5, 5.5, ... between two black pixels and would return 0 everywhere.
    const img = greyImage(16, 1, (x) => (x % 4 === 0 ? 255 : 0));
    const out = fit(img, 1, 4, 1, 'stretch');
    expect(out[1]).toBe(64);
    expect(out[2]).toBe(64);
    // The triangle spans 2 * 4 source pixels: weights 1 - |j + 0.5 - c| / 4 around c = 6.
    const { first, taps } = axisWeights(16, 4, { s: 0.25, t: 0 });
    expect(first[1]).toBe(2);
    expect(Array.from(taps[1])).toEqual([0.125, 0.375, 0.625, 0.875, 0.875, 0.625, 0.375, 0.125].map((v) => v / 4));
  });

  it('crop scales the shorter side to fit and takes the centre', () => {
    // 4 x 2 columns 10..40 into 2 x 2: scale 1, offset -1, so columns 1 and 2 survive.
    const img = greyImage(4, 2, (x) => (x + 1) * 10);
    expect(fit(img, 2, 2, 1, 'crop')).toEqual([20, 30, 20, 30]);
    expect(placement(4, 2, 2, 2, 'crop')).toEqual({ x: { s: 1, t: -1 }, y: { s: 1, t: 0 } });
  });

  it('stretch squeezes the long side', () => {
    const img = greyImage(4, 2, (x) => (x + 1) * 10);
    // Column 0: taps j = 0, 1, 2 with weights 0.75, 0.75, 0.25 (radius 2 around x = 1): 30 / 1.75 = 17.1
    expect(fit(img, 2, 2, 1, 'stretch')).toEqual([17, 33, 17, 33]);
  });

  it('pad letterboxes on black and keeps the image undistorted in the middle', () => {
    const img = greyImage(6, 2, (x) => 40 + x * 40);
    const padded = fit(img, 3, 3, 1, 'pad');
    const stretched = fit(img, 1, 3, 1, 'stretch');
    expect(padded.slice(0, 3)).toEqual([0, 0, 0]);
    expect(padded.slice(6, 9)).toEqual([0, 0, 0]);
    expect(padded.slice(3, 6)).toEqual(stretched);
    expect(stretched.every((v) => v > 0)).toBe(true);
  });
});

describe('channel conversion', () => {
  const rgba = (r: number, g: number, b: number, a: number): RgbaImage => ({ width: 1, height: 1, data: Uint8Array.from([r, g, b, a]) });

  it('RGB to one channel is BT.601 luma', () => {
    // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2
    expect(fit(rgba(200, 100, 50, 255), 1, 1, 1, 'crop')).toEqual([124]);
  });

  it('grey replicates to three channels', () => {
    expect(fit(rgba(77, 77, 77, 255), 1, 1, 3, 'crop')).toEqual([77, 77, 77]);
  });

  it('alpha is composited on black', () => {
    // a = 128/255: 200 a = 100.4, 100 a = 50.2, 50 a = 25.1; luma 62.3
    expect(fit(rgba(200, 100, 50, 128), 1, 1, 3, 'crop')).toEqual([100, 50, 25]);
    expect(fit(rgba(200, 100, 50, 128), 1, 1, 1, 'crop')).toEqual([62]);
    expect(fit(rgba(255, 255, 255, 0), 1, 1, 3, 'crop')).toEqual([0, 0, 0]);
  });

  it('writes at the offset and nowhere else', () => {
    const out = new Uint8Array(8).fill(9);
    fitImageInto(rgba(10, 20, 30, 255), { height: 1, width: 1, channels: 3, resize: 'crop' }, out, 3);
    expect(Array.from(out)).toEqual([9, 9, 9, 10, 20, 30, 9, 9]);
  });
});

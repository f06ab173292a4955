/**
 * Fitting a phone photo (4000 x 3000 RGBA) to a 224 x 224 x 3 model input: time per image for each
 * resize mode, as a ratio to one plain pass over the photo's pixels measured in the same run, and
 * the aliasing of the antialiased resampler against plain 4-tap bilinear on a fine stripe pattern
 * (mean absolute error to the true area average, in 8-bit levels).
 *
 *   npx tsx test/bench/image-fit.ts      (exit code 1 if the antialiased error is not below 4-tap's)
 */
import { fitImageInto, type RgbaImage } from '../../src-main/node/datasets/resample';

const W = 4000;
const H = 3000;
const OUT = 224;

function photo(pattern: (x: number, y: number) => number): RgbaImage {
  const data = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const v = pattern(x, y);
      const o = (y * W + x) * 4;
      data[o] = v;
      data[o + 1] = (v * 3) & 255;
      data[o + 2] = 255 - v;
      data[o + 3] = 255;
    }
  }
  return { width: W, height: H, data };
}

function median(fn: () => void, runs = 5): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

/** Plain bilinear with half-pixel centres: 4 source pixels per output, whatever the scale. */
function fourTap(img: RgbaImage, h: number, w: number, out: Uint8Array): void {
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * (img.height / h) - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * (img.width / w) - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const at = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 4];
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * (fx - x0);
      const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * (fx - x0);
      out[(y * w + x) * 3] = Math.round(top + (bottom - top) * (fy - y0));
    }
  }
}

const noise = photo((x, y) => (x * 7 + y * 13 + ((x * y) >> 5)) & 255);
let sink = 0;
const passMs = median(() => {
  let s = 0;
  for (let i = 0; i < noise.data.length; i += 4) s += noise.data[i] + noise.data[i + 1] + noise.data[i + 2];
  sink += s;
});
console.log(`one pass over ${W}x${H} pixels: ${passMs.toFixed(1)} ms (baseline)`);
const out = new Uint8Array(OUT * OUT * 3);
for (const resize of ['crop', 'stretch', 'pad'] as const) {
  const ms = median(() => fitImageInto(noise, { height: OUT, width: OUT, channels: 3, resize }, out, 0));
  console.log(`fit ${resize.padEnd(7)} -> ${OUT}x${OUT}x3: ${ms.toFixed(0)} ms per photo, x${(ms / passMs).toFixed(1)} the baseline pass`);
}

// Stripes one pixel in four: every output of a stretch to 224 covers ~18 x 13 source pixels whose
// red average is 63.75; aliasing shows as outputs far from it.
const stripes = photo((x) => (x % 4 === 0 ? 255 : 0));
const truth = 63.75;
const mae = (bytes: Uint8Array) => {
  let e = 0;
  for (let i = 0; i < OUT * OUT; i++) e += Math.abs(bytes[i * 3] - truth);
  return e / (OUT * OUT);
};
fitImageInto(stripes, { height: OUT, width: OUT, channels: 3, resize: 'stretch' }, out, 0);
const ours = mae(out);
const plain = new Uint8Array(OUT * OUT * 3);
fourTap(stripes, OUT, OUT, plain);
const theirs = mae(plain);
console.log(`aliasing on 1-in-4 stripes (mean |error| to the area average, 8-bit levels): antialiased ${ours.toFixed(2)}, 4-tap bilinear ${theirs.toFixed(2)}`);
if (sink < 0) console.log(sink);
process.exit(ours < theirs ? 0 : 1);

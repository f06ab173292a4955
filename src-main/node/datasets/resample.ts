/**
 * Fitting a decoded image to a model's input: geometry (crop / stretch / pad), channel conversion
 * and resampling, written as bytes straight into a sample store.
 *
 * Resampling is separable triangle ("bilinear") filtering over pixel centres at i + 0.5:
 * output pixel i of an axis sits at source coordinate c = (i + 0.5 - t) / s, where s is output
 * pixels per source pixel and t the image's offset in output pixels; source pixel j gets weight
 * tri(((j + 0.5) - c) / r) with tri(d) = max(0, 1 - |d|) and radius r = max(1, 1/s), and the
 * weights of in-image pixels are normalised to sum 1.
 * - Upscaling or equal size (r = 1) this is exactly bilinear interpolation with half-pixel centres
 *   (tf.image.resize 'bilinear', OpenCV INTER_LINEAR; at the border it equals clamping to the edge).
 * - Downscaling by k (r = k) the triangle widens to cover every source pixel the output pixel
 *   spans, an antialiasing prefilter (PIL's Image.resize BILINEAR, tf.image.resize antialias=true);
 *   plain 4-tap bilinear would sample 4 of k*k pixels and alias (moire on a 4000 px photo -> 224).
 *
 * Channels follow the model, not the file: alpha is composited on black first (premultiplied,
 * v = c * a / 255, which is also what a browser canvas hands tf.browser.fromPixels for transparent
 * pixels, and avoids coloured fringes when resampling), then RGB -> 1 channel is ITU-R BT.601 luma
 * Y = 0.299 R + 0.587 G + 0.114 B (as tf.image.rgbToGrayscale), and grey -> 3 channels replicates Y
 * (a grey PNG decodes to R = G = B, so this needs no special case).
 * @example fitImageInto(img, { height: 224, width: 224, channels: 3, resize: 'crop' }, out, 0)
 */
import type { ResizeMode } from '../../common/input-prep';

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8Array;
}

export interface FitTarget {
  height: number;
  width: number;
  channels: 1 | 3;
  resize: ResizeMode;
}

/** Where the source image lands along one axis: scale s (output px per source px) and offset t. */
interface AxisPlacement {
  s: number;
  t: number;
}

/** Per-axis placement of an sw x sh image in a w x h output for a resize mode. */
export function placement(sw: number, sh: number, w: number, h: number, mode: ResizeMode): { x: AxisPlacement; y: AxisPlacement } {
  if (mode === 'stretch') return { x: { s: w / sw, t: 0 }, y: { s: h / sh, t: 0 } };
  // crop: cover the output (larger scale), pad: fit inside it (smaller scale); centred either way.
  const s = mode === 'crop' ? Math.max(w / sw, h / sh) : Math.min(w / sw, h / sh);
  return { x: { s, t: (w - sw * s) / 2 }, y: { s, t: (h - sh * s) / 2 } };
}

/**
 * Resampling weights of one axis: for each of `n` outputs, the first source index and the
 * normalised weights of consecutive source pixels. An output whose centre falls outside the image
 * (only with `pad`) gets no taps and is filled with black.
 */
export function axisWeights(srcLen: number, n: number, p: AxisPlacement): { first: Int32Array; taps: Float32Array[] } {
  const r = Math.max(1, 1 / p.s);
  const first = new Int32Array(n);
  const taps: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const c = (i + 0.5 - p.t) / p.s;
    if (c < 0 || c > srcLen) {
      first[i] = 0;
      taps.push(new Float32Array(0));
      continue;
    }
    // Pixels strictly inside the triangle: c - r < j + 0.5 < c + r.
    const lo = Math.max(0, Math.floor(c - r - 0.5) + 1);
    const hi = Math.min(srcLen - 1, Math.ceil(c + r - 0.5) - 1);
    const w = new Float32Array(hi - lo + 1);
    let sum = 0;
    for (let j = lo; j <= hi; j++) {
      const v = Math.max(0, 1 - Math.abs(j + 0.5 - c) / r);
      w[j - lo] = v;
      sum += v;
    }
    if (sum > 0) for (let k = 0; k < w.length; k++) w[k] /= sum;
    else w[Math.min(w.length - 1, Math.max(0, Math.floor(c) - lo))] = 1;
    first[i] = lo;
    taps.push(w);
  }
  return { first, taps };
}

/**
 * Fits `img` to the target and writes height * width * channels bytes (rounded, clamped) into `out`
 * at `offset`. Works one source row at a time: besides the output it holds one converted source
 * row and an (image rows used) x width x channels float buffer, never a float copy of the photo.
 */
export function fitImageInto(img: RgbaImage, target: FitTarget, out: Uint8Array, offset: number): void {
  const { width: sw, height: sh, data } = img;
  const { width: w, height: h, channels: c } = target;
  const place = placement(sw, sh, w, h, target.resize);
  const wx = axisWeights(sw, w, place.x);
  const wy = axisWeights(sh, h, place.y);
  // Source rows any output row reads.
  let rowLo = sh;
  let rowHi = -1;
  for (let i = 0; i < h; i++) {
    if (wy.taps[i].length === 0) continue;
    rowLo = Math.min(rowLo, wy.first[i]);
    rowHi = Math.max(rowHi, wy.first[i] + wy.taps[i].length - 1);
  }
  out.fill(0, offset, offset + h * w * c);
  if (rowHi < rowLo) return;
  const rows = rowHi - rowLo + 1;
  const horiz = new Float32Array(rows * w * c);
  const line = new Float32Array(sw * c);
  for (let y = rowLo; y <= rowHi; y++) {
    convertRow(data, y * sw * 4, sw, c, line);
    const base = (y - rowLo) * w * c;
    for (let x = 0; x < w; x++) {
      const t = wx.taps[x];
      if (t.length === 0) continue;
      const f = wx.first[x];
      // The hot loop of a photo (rows x outputs x taps): channels unrolled, one read of each tap.
      if (c === 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let j = 0, p = f * 3; j < t.length; j++, p += 3) {
          const tj = t[j];
          r += tj * line[p];
          g += tj * line[p + 1];
          b += tj * line[p + 2];
        }
        const o = base + x * 3;
        horiz[o] = r;
        horiz[o + 1] = g;
        horiz[o + 2] = b;
      } else {
        let acc = 0;
        for (let j = 0; j < t.length; j++) acc += t[j] * line[f + j];
        horiz[base + x] = acc;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    const t = wy.taps[y];
    if (t.length === 0) continue;
    const f = wy.first[y] - rowLo;
    const o = offset + y * w * c;
    for (let x = 0; x < w; x++) {
      if (wx.taps[x].length === 0) continue;
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (let j = 0; j < t.length; j++) acc += t[j] * horiz[(f + j) * w * c + x * c + k];
        out[o + x * c + k] = acc <= 0 ? 0 : acc >= 255 ? 255 : Math.round(acc);
      }
    }
  }
}

/** One RGBA row to `c` float channels: alpha composited on black, then luma for c = 1. */
function convertRow(data: Uint8Array, start: number, n: number, c: 1 | 3, line: Float32Array): void {
  for (let x = 0; x < n; x++) {
    const p = start + x * 4;
    const a = data[p + 3] / 255;
    const r = data[p] * a;
    const g = data[p + 1] * a;
    const b = data[p + 2] * a;
    if (c === 1) line[x] = 0.299 * r + 0.587 * g + 0.114 * b;
    else {
      line[x * 3] = r;
      line[x * 3 + 1] = g;
      line[x * 3 + 2] = b;
    }
  }
}

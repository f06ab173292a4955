/**
 * Thumbnails of a dataset as the model will see it: a few samples per class after resizing, cropping
 * and channel conversion, shown as PNG data URLs. The input scaling is undone for display (a [-1, 1]
 * sample is drawn as the bytes it came from), since a picture of "x/127.5 - 1" looks the same.
 * Image folders decode only the files shown; other formats are loaded and their first samples drawn.
 */
import path from 'node:path';
import { PNG } from 'pngjs';
import { byteMapping, type InputScale, type ResizeMode } from '../../common/input-prep';
import { ConfigError } from '../../common/errors';
import { imageFolderOf, loadDataset, type LoadDatasetOptions } from './index';
import { isImageShape, readImageFile, scanImageFolder } from './images';
import { fitImageInto } from './resample';
import type { PreviewImage, DatasetPreview } from '../../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { PreviewImage, DatasetPreview };

export interface PreviewOptions {
  /** Resize target [H, W, 1|3], normally the model's input. */
  imageTarget?: number[];
  modelInputShape?: readonly (number | null)[];
  inputScale: InputScale;
  resize: ResizeMode;
  perClass: number;
  /** Classes shown at most (the first ones). */
  maxClasses: number;
  /** Thumbnails larger than this a side are downscaled for transport. */
  shownMax?: number;
}

/** PNG data URL of an h x w x c byte image. */
export function pngDataUrl(bytes: Uint8Array, h: number, w: number, c: 1 | 3): string {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < h * w; i++) {
    const o = i * 4;
    png.data[o] = bytes[i * c];
    png.data[o + 1] = bytes[i * c + (c === 3 ? 1 : 0)];
    png.data[o + 2] = bytes[i * c + (c === 3 ? 2 : 0)];
    png.data[o + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

/** Downscales an h x w x c byte image so neither side exceeds `max` (same resampler as training data). */
function shrink(bytes: Uint8Array, h: number, w: number, c: 1 | 3, max: number): { bytes: Uint8Array; h: number; w: number } {
  if (h <= max && w <= max) return { bytes, h, w };
  const k = max / Math.max(h, w);
  const nh = Math.max(1, Math.round(h * k));
  const nw = Math.max(1, Math.round(w * k));
  const rgba = new Uint8Array(h * w * 4);
  for (let i = 0; i < h * w; i++) {
    for (let j = 0; j < 3; j++) rgba[i * 4 + j] = bytes[i * c + (c === 3 ? j : 0)];
    rgba[i * 4 + 3] = 255;
  }
  const out = new Uint8Array(nh * nw * c);
  fitImageInto({ width: w, height: h, data: rgba }, { height: nh, width: nw, channels: c, resize: 'stretch' }, out, 0);
  return { bytes: out, h: nh, w: nw };
}

/**
 * A preview of `spec` prepared with `o`.
 * @example await previewDataset('images:photos', { imageTarget: [224, 224, 3], inputScale: '-1-1', resize: 'crop', perClass: 3, maxClasses: 12 })
 */
export async function previewDataset(spec: string, o: PreviewOptions): Promise<DatasetPreview> {
  if (!(Number.isInteger(o.perClass) && o.perClass >= 1)) throw new ConfigError(`perClass must be a positive integer, got ${o.perClass}`);
  const map = byteMapping(o.inputScale);
  const valueRange: [number, number] = [map.offset, 255 * map.scale + map.offset];
  const max = o.shownMax ?? 128;
  const folder = await imageFolderOf(spec);
  if (folder) {
    const scanned = await scanImageFolder(folder);
    const target = o.imageTarget ?? (o.modelInputShape && isImageShape(o.modelInputShape) ? [...o.modelInputShape] : undefined);
    let shape = target as [number, number, number] | undefined;
    const classes: DatasetPreview['classes'] = [];
    for (const [label, name] of scanned.classNames.slice(0, o.maxClasses).entries()) {
      const files = scanned.parts.flatMap((p) => p.files.filter((f) => f.label === label)).map((f) => f.file);
      const images: PreviewImage[] = [];
      for (const file of files) {
        if (images.length >= o.perClass) break;
        let img;
        try {
          img = await readImageFile(file);
        } catch {
          continue; // the loader reports unreadable files; the preview shows the readable ones
        }
        shape ??= [img.height, img.width, img.grey ? 1 : 3];
        const [h, w, c] = shape;
        const bytes = new Uint8Array(h * w * c);
        fitImageInto(img, { height: h, width: w, channels: c as 1 | 3, resize: o.resize }, bytes, 0);
        const small = shrink(bytes, h, w, c as 1 | 3, max);
        images.push({ src: pngDataUrl(small.bytes, small.h, small.w, c as 1 | 3), file: path.relative(folder, file) });
      }
      classes.push({ name, images });
    }
    const s = shape ?? [0, 0, 3];
    return { sampleShape: [...s], inputScale: o.inputScale, resize: o.resize, valueRange, shownSize: shownSize(s, max), classes };
  }
  const loadOptions: LoadDatasetOptions = { inputScale: o.inputScale, resize: o.resize, modelInputShape: o.modelInputShape };
  const ds = await loadDataset(spec, loadOptions);
  const shape = ds.sampleShape;
  const base = { sampleShape: [...shape], inputScale: o.inputScale, resize: o.resize, valueRange };
  if (!isImageShape(shape)) {
    return { ...base, shownSize: [0, 0], classes: ds.classNames.slice(0, o.maxClasses).map((name) => ({ name, images: [] })), note: `samples of shape [${shape.join(', ')}] are not images` };
  }
  const [h, w, c] = shape;
  const per = h * w * c;
  const picked = new Map<number, number[]>();
  const labels = ds.train.labels;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l >= o.maxClasses) continue;
    const list = picked.get(l) ?? [];
    if (list.length < o.perClass) picked.set(l, [...list, i]);
  }
  const classes = ds.classNames.slice(0, o.maxClasses).map((name, label) => {
    const idx = picked.get(label) ?? [];
    const { x } = ds.train.take(idx);
    return {
      name,
      images: idx.map((_, k) => {
        const bytes = toDisplayBytes(x.subarray(k * per, (k + 1) * per), map);
        const small = shrink(bytes, h, w, c as 1 | 3, max);
        return { src: pngDataUrl(small.bytes, small.h, small.w, c as 1 | 3) };
      }),
    };
  });
  return { ...base, shownSize: shownSize(shape, max), classes };
}

function shownSize(shape: number[], max: number): [number, number] {
  const [h, w] = shape;
  if (h <= max && w <= max) return [h, w];
  const k = max / Math.max(h, w);
  return [Math.max(1, Math.round(h * k)), Math.max(1, Math.round(w * k))];
}

/**
 * Model-input values back to display bytes: the 8-bit mapping undone; samples outside its range
 * (float data stored in its own units) are contrast-stretched to 0..255 instead.
 */
function toDisplayBytes(x: Float32Array, map: { scale: number; offset: number }): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Uint8Array(x.length);
  const inRange = lo >= map.offset - 1e-3 && hi <= 255 * map.scale + map.offset + 1e-3;
  const a = inRange ? 1 / map.scale : hi > lo ? 255 / (hi - lo) : 0;
  const b = inRange ? map.offset : lo;
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, Math.round((x[i] - b) * a)));
  return out;
}

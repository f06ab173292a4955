/**
 * Image folders: `DIR/<class>/*.png|jpg|jpeg`, or `DIR/train/<class>/...` plus `DIR/test/<class>/...`.
 * PNG is decoded by pngjs, JPEG by jpeg-js; both give 8-bit RGBA. Each image is then resized with
 * bilinear interpolation (half-pixel centres, the convention of tf.image.resizeBilinear with
 * halfPixelCenters) to the sample shape's H x W, and converted to 1 channel (BT.601 luma,
 * 0.299 R + 0.587 G + 0.114 B, as tf.image.rgbToGrayscale) or 3 channels (RGB). Alpha is ignored.
 * Samples are stored as bytes, H*W*C per image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { ConfigError, DatasetFormatError, inFile } from '../../common/errors';
import type { SampleStore } from './store';

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes. */
  data: Uint8Array;
}

export interface ImageFolder {
  classNames: string[];
  /** When DIR has train/ and test/ these are separate; otherwise everything is in `all`. */
  parts: { name: string; files: { file: string; label: number }[] }[];
  /** Files ignored because their extension is not an image one. */
  ignored: number;
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);
/** Larger images are skipped as unreadable: decoding one would need hundreds of MB. */
const MAX_MEGAPIXELS = 50;

/** Class-name order: natural (numeric-aware) and locale-independent, so "2" sorts before "10". */
export function compareNames(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' }) || (a < b ? -1 : a > b ? 1 : 0);
}

async function listDir(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? 'folder not found' : code === 'ENOTDIR' ? 'not a folder' : `cannot read folder: ${code ?? String(err)}`;
    throw new DatasetFormatError(inFile(dir, problem), { file: dir });
  }
}

function visibleDirs(entries: fs.Dirent[]): string[] {
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
}

/** Finds classes and image files; decodes nothing. */
export async function scanImageFolder(dir: string): Promise<ImageFolder> {
  const top = visibleDirs(await listDir(dir));
  const split = top.includes('train') && top.includes('test');
  const roots = split ? ['train', 'test'].map((p) => ({ name: p, dir: path.join(dir, p) })) : [{ name: 'all', dir }];
  const perRoot: { name: string; classes: Map<string, string[]> }[] = [];
  let ignored = 0;
  for (const root of roots) {
    const classes = new Map<string, string[]>();
    for (const cls of visibleDirs(await listDir(root.dir))) {
      const files: string[] = [];
      for (const e of await listDir(path.join(root.dir, cls))) {
        if (!e.isFile() || e.name.startsWith('.')) continue;
        if (IMAGE_EXT.has(path.extname(e.name).toLowerCase())) files.push(path.join(root.dir, cls, e.name));
        else ignored++;
      }
      files.sort(compareNames);
      classes.set(cls, files);
    }
    perRoot.push({ name: root.name, classes });
  }
  const classNames = [...new Set(perRoot.flatMap((r) => [...r.classes.keys()]))].sort(compareNames);
  if (classNames.length === 0) {
    const where = split ? `${dir}/train and ${dir}/test` : dir;
    throw new DatasetFormatError(inFile(dir, `empty dataset: no class subfolders in ${where} (expected one folder of images per class)`), { file: dir });
  }
  const parts = perRoot.map((r) => ({
    name: r.name,
    files: classNames.flatMap((c, label) => (r.classes.get(c) ?? []).map((file) => ({ file, label }))),
  }));
  if (parts.every((p) => p.files.length === 0)) {
    throw new DatasetFormatError(inFile(dir, `empty dataset: the class folders hold no .png/.jpg/.jpeg files`), { file: dir });
  }
  return { classNames, parts, ignored };
}

/** Decodes a PNG or JPEG (chosen by magic bytes) to 8-bit RGBA. Throws on anything unreadable. */
export function decodeImage(bytes: Uint8Array): RgbaImage {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    // pngjs allocates width*height*4 up front; read IHDR first so a huge or lying header is refused.
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const megapixels = (view.getUint32(16, false) * view.getUint32(20, false)) / 1e6;
      if (megapixels > MAX_MEGAPIXELS) throw new Error(`PNG is ${megapixels.toFixed(0)} megapixels; at most ${MAX_MEGAPIXELS} are decoded`);
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 256 });
    return { width: img.width, height: img.height, data: img.data };
  }
  throw new Error('neither a PNG nor a JPEG (unrecognized magic bytes)');
}

/** True when every pixel has R = G = B, i.e. a grayscale image stored as RGBA. */
export function isGray(img: RgbaImage): boolean {
  const d = img.data;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false;
  return true;
}

/**
 * Bilinear resize with half-pixel centres plus channel conversion, written into `out` at `offset`
 * as H*W*C bytes. Source pixel for output x is (x + 0.5) * srcW / W - 0.5, clamped to the edges.
 * @example resizeInto(img, 28, 28, 1, out, 0) // 28x28 grayscale bytes
 */
export function resizeInto(img: RgbaImage, h: number, w: number, c: 1 | 3, out: Uint8Array, offset: number): void {
  const { width: sw, height: sh, data } = img;
  const sy = sh / h;
  const sx = sw / w;
  const px = [0, 0, 0];
  for (let y = 0; y < h; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, sh - 1);
    const wy = fy - y0;
    for (let x = 0; x < w; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, sw - 1);
      const wx = fx - x0;
      const a = (y0 * sw + x0) * 4;
      const b = (y0 * sw + x1) * 4;
      const d = (y1 * sw + x0) * 4;
      const e = (y1 * sw + x1) * 4;
      for (let k = 0; k < 3; k++) {
        const top = data[a + k] + (data[b + k] - data[a + k]) * wx;
        const bottom = data[d + k] + (data[e + k] - data[d + k]) * wx;
        px[k] = top + (bottom - top) * wy;
      }
      const o = offset + (y * w + x) * c;
      if (c === 1) out[o] = Math.round(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]);
      else for (let k = 0; k < 3; k++) out[o + k] = Math.round(px[k]);
    }
  }
}

export interface DecodedImages {
  store: SampleStore;
  /** Which part (train / test / all) each sample came from, in store order. */
  part: Uint8Array;
  sampleShape: number[];
  skipped: { file: string; reason: string }[];
}

/**
 * Decodes every file of `folder` into one byte store. A shape of [H, W, C] (C = 1 or 3) is the
 * target; without one, the first readable image decides H and W, and C is 1 if it is gray, else 3.
 */
export async function decodeImageFolder(
  folder: ImageFolder,
  dir: string,
  options: { sampleShape?: number[]; scale: number; onProgress?: (done: number, total: number) => void },
): Promise<DecodedImages> {
  const files = folder.parts.flatMap((p, partIndex) => p.files.map((f) => ({ ...f, partIndex })));
  const total = files.length;
  let shape = options.sampleShape ? checkImageShape(options.sampleShape) : undefined;
  let sampleSize = shape ? shape[0] * shape[1] * shape[2] : 0;
  let data = shape ? new Uint8Array(total * sampleSize) : new Uint8Array(0);
  const labels = new Int32Array(total);
  const part = new Uint8Array(total);
  const skipped: { file: string; reason: string }[] = [];
  let n = 0;
  for (let i = 0; i < total; i++) {
    const { file, label, partIndex } = files[i];
    let img: RgbaImage;
    try {
      img = decodeImage(new Uint8Array(await fs.promises.readFile(file)));
      if (img.width < 1 || img.height < 1) throw new Error('image has no pixels');
    } catch (err) {
      skipped.push({ file, reason: err instanceof Error ? err.message : String(err) });
      options.onProgress?.(i + 1, total);
      continue;
    }
    if (!shape) {
      shape = [img.height, img.width, isGray(img) ? 1 : 3];
      sampleSize = shape[0] * shape[1] * shape[2];
      data = new Uint8Array(total * sampleSize);
    }
    resizeInto(img, shape[0], shape[1], shape[2] as 1 | 3, data, n * sampleSize);
    labels[n] = label;
    part[n] = partIndex;
    n++;
    options.onProgress?.(i + 1, total);
  }
  if (n === 0 || !shape) {
    const example = skipped[0] ? ` (first: ${skipped[0].file}: ${skipped[0].reason})` : '';
    throw new DatasetFormatError(inFile(dir, `none of the ${total} image files could be read${example}`), { file: dir });
  }
  return {
    store: { data: data.subarray(0, n * sampleSize), labels: labels.subarray(0, n), sampleSize, scale: options.scale },
    part: part.subarray(0, n),
    sampleShape: shape,
    skipped,
  };
}

function checkImageShape(shape: number[]): [number, number, number] {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0) || (shape[2] !== 1 && shape[2] !== 3)) {
    throw new ConfigError(`sampleShape for image folders must be [height, width, channels] with channels 1 or 3, got [${shape.join(', ')}]`);
  }
  return [shape[0], shape[1], shape[2]];
}

/**
 * Image folders: `DIR/<class>/*.png|jpg|jpeg`, or `DIR/train/<class>/...` plus `DIR/test/<class>/...`.
 * PNG is decoded by pngjs, JPEG by jpeg-js (turned upright by its EXIF orientation); both give 8-bit
 * RGBA. Each image is then fitted to the target [H, W, C] by resample.ts: `crop` (default), `stretch`
 * or `pad` geometry, antialiased bilinear resampling, alpha composited on black, and C taken from the
 * target (1: BT.601 luma, 3: RGB, grey replicated). The target is normally the model's input; without
 * one, the first readable image decides H and W, and C is 1 only if its file stores grey.
 * Samples are stored as bytes, H*W*C per image, decoded one file at a time straight into the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import type { ResizeMode } from '../../common/input-prep';
import { ConfigError, DatasetFormatError, inFile } from '../../common/errors';
import { applyOrientation, readJpegMeta } from './jpeg-meta';
import { fitImageInto, type RgbaImage } from './resample';
import type { SampleStore } from './store';

export type { RgbaImage } from './resample';

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
/**
 * Most bytes the decoded samples of one folder may take (N * H * W * C): the largest typed array
 * Node allocates (4 GiB, 28 000 photos at 224x224x3); beyond, a named error instead of a RangeError.
 */
export const MAX_STORE_BYTES = 2 ** 32;

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
  const where = (c: string) => (split ? `${dir}/{train,test}/${c}` : path.join(dir, c));
  const anyFiles = perRoot.some((r) => [...r.classes.values()].some((f) => f.length > 0));
  const empty = classNames.filter((c) => perRoot.every((r) => (r.classes.get(c) ?? []).length === 0));
  if (anyFiles && empty.length > 0) {
    // A class the model has an output for but no image of is almost always a copy that went wrong.
    const more = empty.length > 1 ? ` (and ${empty.length - 1} more: ${empty.slice(1, 4).join(', ')}${empty.length > 4 ? ', ...' : ''})` : '';
    throw new DatasetFormatError(inFile(where(empty[0]), `empty class folder: no .png/.jpg/.jpeg files${more}`), { file: where(empty[0]) });
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

/** A decoded image plus what its file declares about colour. */
export interface DecodedImage extends RgbaImage {
  /** The file stores one grey channel (PNG colour type 0/4, single-component JPEG). */
  grey: boolean;
}

/**
 * Decodes a PNG or JPEG (chosen by magic bytes) to 8-bit RGBA, upright. PNG: every colour type and
 * depth pngjs reads (grey, grey+alpha, RGB, RGBA, palette; 16-bit samples are scaled to 8 bits).
 * JPEG: baseline and progressive via jpeg-js, turned by its EXIF orientation. Throws on anything
 * unreadable.
 */
export function decodeImage(bytes: Uint8Array): DecodedImage {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    // pngjs allocates width*height*4 up front; read IHDR first so a huge or lying header is refused.
    if (bytes.length >= 24) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const megapixels = (view.getUint32(16, false) * view.getUint32(20, false)) / 1e6;
      if (megapixels > MAX_MEGAPIXELS) throw new Error(`PNG is ${megapixels.toFixed(0)} megapixels; at most ${MAX_MEGAPIXELS} are decoded`);
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const data = new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength);
    return { width: png.width, height: png.height, data, grey: !png.color && !png.palette };
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    const meta = readJpegMeta(bytes);
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: 256 });
    const upright = applyOrientation({ width: img.width, height: img.height, data: img.data }, meta.orientation);
    return { ...upright, grey: meta.components === 1 };
  }
  throw new Error('neither a PNG nor a JPEG (unrecognized magic bytes)');
}

/** Reads and decodes one file; problems name the file. */
export async function readImageFile(file: string): Promise<DecodedImage> {
  const img = decodeImage(new Uint8Array(await fs.promises.readFile(file)));
  if (img.width < 1 || img.height < 1) throw new Error('image has no pixels');
  return img;
}

export interface DecodedImages {
  store: SampleStore;
  /** Which part (train / test / all) each sample came from, in store order. */
  part: Uint8Array;
  sampleShape: number[];
  skipped: { file: string; reason: string }[];
}

/**
 * Decodes every file of `folder` into one byte store, one file at a time. A shape of [H, W, C]
 * (C = 1 or 3) is the target; without one, the first readable image decides H and W, and C is 1 if
 * its file stores grey, else 3. Unreadable files are skipped and listed.
 */
export async function decodeImageFolder(
  folder: ImageFolder,
  dir: string,
  options: {
    sampleShape?: number[];
    /**
     * Values a flat model input takes (e.g. 784 for Dense on 28x28 grey): without a target shape it
     * picks the channels, 1 if H*W of the first image equals it, 3 if 3*H*W does.
     */
    flatSize?: number;
    resize?: ResizeMode;
    scale: number;
    offset?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<DecodedImages> {
  const files = folder.parts.flatMap((p, partIndex) => p.files.map((f) => ({ ...f, partIndex })));
  const total = files.length;
  const resize = options.resize ?? 'crop';
  let shape = options.sampleShape ? checkImageShape(options.sampleShape) : undefined;
  if (shape) checkStoreSize(total, shape, dir, 'the target shape');
  let sampleSize = shape ? shape[0] * shape[1] * shape[2] : 0;
  let data = shape ? new Uint8Array(total * sampleSize) : new Uint8Array(0);
  const labels = new Int32Array(total);
  const part = new Uint8Array(total);
  const skipped: { file: string; reason: string }[] = [];
  let n = 0;
  for (let i = 0; i < total; i++) {
    const { file, label, partIndex } = files[i];
    let img: DecodedImage;
    try {
      img = await readImageFile(file);
    } catch (err) {
      skipped.push({ file, reason: err instanceof Error ? err.message : String(err) });
      options.onProgress?.(i + 1, total);
      continue;
    }
    if (!shape) {
      const area = img.height * img.width;
      const channels = options.flatSize === area ? 1 : options.flatSize === 3 * area ? 3 : img.grey ? 1 : 3;
      shape = [img.height, img.width, channels];
      sampleSize = shape[0] * shape[1] * shape[2];
      checkStoreSize(total, shape, dir, `the first readable image (${file}) decides the sample shape`);
      data = new Uint8Array(total * sampleSize);
    }
    fitImageInto(img, { height: shape[0], width: shape[1], channels: shape[2] as 1 | 3, resize }, data, n * sampleSize);
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
    store: { data: data.subarray(0, n * sampleSize), labels: labels.subarray(0, n), sampleSize, scale: options.scale, offset: options.offset ?? 0 },
    part: part.subarray(0, n),
    sampleShape: shape,
    skipped,
  };
}

/** Refuses a folder whose samples would not fit in memory, before allocating them. */
function checkStoreSize(n: number, shape: number[], dir: string, why: string): void {
  const bytes = n * shape[0] * shape[1] * shape[2];
  if (bytes <= MAX_STORE_BYTES) return;
  throw new DatasetFormatError(
    inFile(dir, `${n} images of [${shape.join(', ')}] need ${(bytes / 2 ** 30).toFixed(1)} GiB, more than the ${MAX_STORE_BYTES / 2 ** 30} GiB ` +
      `an image folder may take (${why}); load it for a model so images are resized to its input, or use fewer images`),
    { file: dir },
  );
}

/** True when `shape` is one an image folder can be fitted to: [H, W, 1 | 3]. */
export function isImageShape(shape: readonly (number | null)[]): shape is [number, number, number] {
  return shape.length === 3 && shape.every((d) => Number.isInteger(d) && (d as number) > 0) && (shape[2] === 1 || shape[2] === 3);
}

function checkImageShape(shape: number[]): [number, number, number] {
  if (!isImageShape(shape)) {
    throw new ConfigError(`sampleShape for image folders must be [height, width, channels] with channels 1 or 3, got [${shape.join(', ')}]`);
  }
  return [shape[0], shape[1], shape[2]];
}

/** Writers for small dataset files, so tests build their fixtures in a temp dir. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export function tempDir(prefix = 'topiary-ds-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** IDX bytes with a uint8 payload (type 0x08); `magic` overrides the first 4 bytes. */
export function idxBytes(dims: number[], values: ArrayLike<number>, magic?: number): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, magic ?? (0x0800 | dims.length), false);
  dims.forEach((d, i) => header.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(header.byteLength + values.length);
  out.set(new Uint8Array(header.buffer));
  out.set(Uint8Array.from(values), header.byteLength);
  return out;
}

export function writeFile(file: string, bytes: Uint8Array | string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return file;
}

export function gzip(bytes: Uint8Array): Uint8Array {
  return zlib.gzipSync(bytes);
}

/** Pixel value for sample i, pixel j: distinct per sample so tests can check ordering. */
export function pixel(i: number, j: number): number {
  return (i * 7 + j * 3) % 256;
}

/**
 * Writes an MNIST-style IDX folder: `train` and `test` samples of h x w with labels i % classes.
 * `gz` picks .gz files for all four.
 */
export function writeIdxDir(
  dir: string,
  o: { train: number; test: number; h?: number; w?: number; classes?: number; gz?: boolean },
): void {
  const h = o.h ?? 4;
  const w = o.w ?? 4;
  const classes = o.classes ?? 3;
  for (const [prefix, n] of [['train', o.train], ['t10k', o.test]] as const) {
    const px = Array.from({ length: n * h * w }, (_, k) => pixel(Math.floor(k / (h * w)), k % (h * w)));
    const labels = Array.from({ length: n }, (_, i) => i % classes);
    const x = idxBytes([n, h, w], px);
    const y = idxBytes([n], labels);
    const ext = o.gz ? '.gz' : '';
    writeFile(path.join(dir, `${prefix}-images-idx3-ubyte${ext}`), o.gz ? gzip(x) : x);
    writeFile(path.join(dir, `${prefix}-labels-idx1-ubyte${ext}`), o.gz ? gzip(y) : y);
  }
}

export type NpyValues = { descr: string; shape: number[]; data: Uint8Array };

/** `.npy` v1.0 bytes for a raw little-endian payload; `headerText` replaces the dict when given. */
export function npyBytes(descr: string, shape: number[], payload: Uint8Array, headerText?: string): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = headerText ?? `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  dict = dict + ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + dict.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(new TextEncoder().encode(dict), 10);
  out.set(payload, 10 + dict.length);
  return out;
}

export function npyU8(shape: number[], values: ArrayLike<number>): Uint8Array {
  return npyBytes('|u1', shape, Uint8Array.from(values));
}
export function npyF32(shape: number[], values: ArrayLike<number>): Uint8Array {
  return npyBytes('<f4', shape, new Uint8Array(Float32Array.from(values).buffer));
}
export function npyF64(shape: number[], values: ArrayLike<number>): Uint8Array {
  return npyBytes('<f8', shape, new Uint8Array(Float64Array.from(values).buffer));
}
export function npyI32(shape: number[], values: ArrayLike<number>): Uint8Array {
  return npyBytes('<i4', shape, new Uint8Array(Int32Array.from(values).buffer));
}
export function npyI64(shape: number[], values: number[]): Uint8Array {
  return npyBytes('<i8', shape, new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer));
}

/** An .npz archive (deflated, as np.savez_compressed) of `NAME.npy` members. */
export function npzBytes(members: Record<string, Uint8Array>): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  for (const [name, bytes] of Object.entries(members)) entries[`${name}.npy`] = bytes;
  return zipSync(entries, { level: 6 });
}

/** PNG of a w x h RGB image where `rgb(x, y)` gives the colour. */
export function pngBytes(w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): Uint8Array {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = rgb(x, y);
      const o = (y * w + x) * 4;
      png.data[o] = r;
      png.data[o + 1] = g;
      png.data[o + 2] = b;
      png.data[o + 3] = 255;
    }
  }
  return new Uint8Array(PNG.sync.write(png));
}

export function jpegBytes(w: number, h: number, rgb: (x: number, y: number) => [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b] = rgb(x, y);
      data.set([r, g, b, 255], (y * w + x) * 4);
    }
  }
  return new Uint8Array(jpeg.encode({ width: w, height: h, data }, 95).data);
}

export type Rgba = [number, number, number, number];

/**
 * PNG of a w x h image in any colour type pngjs writes (0 grey, 2 RGB, 4 grey+alpha, 6 RGBA) and
 * depth 8 or 16; `rgba(x, y)` gives 8-bit values (16-bit files store v * 257, i.e. v/255 of full scale).
 */
export function pngBytesOf(
  w: number,
  h: number,
  rgba: (x: number, y: number) => Rgba,
  o: { colorType: 0 | 2 | 4 | 6; bitDepth?: 8 | 16 },
): Uint8Array {
  const depth = o.bitDepth ?? 8;
  const values = depth === 16 ? new Uint16Array(w * h * 4) : new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = rgba(x, y);
      for (let k = 0; k < 4; k++) values[(y * w + x) * 4 + k] = depth === 16 ? px[k] * 257 : px[k];
    }
  }
  const png = new PNG({ width: w, height: h, bitDepth: depth, colorType: o.colorType, inputHasAlpha: true });
  png.data = Buffer.from(values.buffer);
  return new Uint8Array(PNG.sync.write(png, { colorType: o.colorType, bitDepth: depth, inputHasAlpha: true }));
}

/** A palette PNG (colour type 3, 8-bit indices), written by hand since pngjs writes none. */
export function palettePngBytes(w: number, h: number, palette: [number, number, number][], index: (x: number, y: number) => number): Uint8Array {
  const chunk = (type: string, body: Uint8Array) => {
    const out = new Uint8Array(12 + body.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, body.length, false);
    out.set(new TextEncoder().encode(type), 4);
    out.set(body, 8);
    view.setUint32(8 + body.length, zlib.crc32(out.subarray(4, 8 + body.length)), false);
    return out;
  };
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, w, false);
  hv.setUint32(4, h, false);
  ihdr.set([8, 3, 0, 0, 0], 8);
  const rows = new Uint8Array(h * (w + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rows[y * (w + 1) + 1 + x] = index(x, y);
  const parts = [
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', Uint8Array.from(palette.flat())),
    chunk('IDAT', new Uint8Array(zlib.deflateSync(rows))),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A TIFF (EXIF) block "MM" or "II" whose IFD0 holds only Orientation = `orientation`. */
export function exifOrientationBlock(orientation: number, littleEndian = false): Uint8Array {
  const b = new Uint8Array(8 + 2 + 12 + 4);
  const v = new DataView(b.buffer);
  b.set(littleEndian ? [0x49, 0x49] : [0x4d, 0x4d], 0);
  v.setUint16(2, 42, littleEndian);
  v.setUint32(4, 8, littleEndian);
  v.setUint16(8, 1, littleEndian);
  v.setUint16(10, 0x0112, littleEndian);
  v.setUint16(12, 3, littleEndian); // SHORT
  v.setUint32(14, 1, littleEndian);
  v.setUint16(18, orientation, littleEndian);
  return b;
}

/** JPEG like jpegBytes, with an EXIF APP1 segment carrying `orientation` when given. */
export function jpegBytesWithExif(
  w: number,
  h: number,
  rgb: (x: number, y: number) => [number, number, number],
  orientation: number,
  quality = 95,
): Uint8Array {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([...rgb(x, y), 255], (y * w + x) * 4);
  }
  const exif = new Uint8Array(6 + 26);
  exif.set([0x45, 0x78, 0x69, 0x66, 0, 0]);
  exif.set(exifOrientationBlock(orientation), 6);
  return new Uint8Array(jpeg.encode({ width: w, height: h, data, exifBuffer: Buffer.from(exif) } as jpeg.RawImageData<Uint8Array>, quality).data);
}

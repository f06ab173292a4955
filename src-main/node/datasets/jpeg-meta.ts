/**
 * What a JPEG says about itself before its pixels: the EXIF orientation (phones store the sensor's
 * pixels and a tag saying how to turn them) and the number of colour components. Read from the
 * marker segments up to the first scan; jpeg-js decodes pixels only.
 *
 * EXIF (JEITA CP-3451) lives in an APP1 segment "Exif\0\0" followed by a TIFF structure: byte order
 * "II" (little-endian) or "MM", the magic 42, the offset of IFD0, then 12-byte entries
 * (tag, type, count, value); tag 0x0112 Orientation is a SHORT 1..8.
 */
import type { RgbaImage } from './resample';

export interface JpegMeta {
  /** EXIF orientation 1..8; 1 (as stored) when absent or unreadable. */
  orientation: number;
  /** Colour components of the frame (1 = greyscale, 3 = YCbCr/RGB, 4 = CMYK), 0 when not found. */
  components: number;
}

/** Reads orientation and component count; malformed metadata is ignored (orientation 1), never fatal. */
export function readJpegMeta(bytes: Uint8Array): JpegMeta {
  const meta: JpegMeta = { orientation: 1, components: 0 };
  let i = 2;
  while (i + 4 <= bytes.length) {
    if (bytes[i] !== 0xff) break;
    const marker = bytes[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image
    const len = (bytes[i + 2] << 8) | bytes[i + 3];
    if (len < 2 || i + 2 + len > bytes.length) break;
    const body = bytes.subarray(i + 4, i + 2 + len);
    if (marker === 0xe1 && body.length > 14 && isExifHeader(body)) {
      meta.orientation = exifOrientation(body.subarray(6));
    } else if (isStartOfFrame(marker) && body.length >= 6) {
      meta.components = body[5];
    }
    i += 2 + len;
  }
  return meta;
}

function isExifHeader(b: Uint8Array): boolean {
  return b[0] === 0x45 && b[1] === 0x78 && b[2] === 0x69 && b[3] === 0x66 && b[4] === 0 && b[5] === 0;
}

/** SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
function isStartOfFrame(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

/** Orientation tag of a TIFF structure (IFD0), 1 when absent or out of range. */
export function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const le = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!le && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  if (view.getUint16(2, le) !== 42) return 1;
  const ifd = view.getUint32(4, le);
  if (ifd + 2 > tiff.length) return 1;
  const count = view.getUint16(ifd, le);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > tiff.length) return 1;
    if (view.getUint16(e, le) !== 0x0112) continue;
    const v = view.getUint16(e + 8, le);
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

/**
 * The image as it should be displayed for an EXIF orientation: 2 mirror, 3 rotate 180, 4 flip,
 * 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 anticlockwise (5..8 swap width
 * and height). Orientation 1 returns the image itself.
 */
export function applyOrientation(img: RgbaImage, orientation: number): RgbaImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: W, height: H, data } = img;
  const swap = orientation >= 5;
  const ow = swap ? H : W;
  const oh = swap ? W : H;
  const out = new Uint8Array(ow * oh * 4);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let sx: number;
      let sy: number;
      switch (orientation) {
        case 2: sx = W - 1 - x; sy = y; break;
        case 3: sx = W - 1 - x; sy = H - 1 - y; break;
        case 4: sx = x; sy = H - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = H - 1 - x; break;
        case 7: sx = W - 1 - y; sy = H - 1 - x; break;
        default: sx = W - 1 - y; sy = x; break; // 8
      }
      const s = (sy * W + sx) * 4;
      const o = (y * ow + x) * 4;
      out[o] = data[s];
      out[o + 1] = data[s + 1];
      out[o + 2] = data[s + 2];
      out[o + 3] = data[s + 3];
    }
  }
  return { width: ow, height: oh, data: out };
}

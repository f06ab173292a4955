/**
 * Reading zip archives that come from users (.npz datasets, .keras models) without trusting them.
 *
 * A zip's central directory declares every member's compression method, CRC-32 and sizes. This
 * reader parses it first and refuses, before inflating anything:
 * - a declared uncompressed total above an absolute limit (default 2 GiB: Node cannot read a
 *   bigger file into one buffer anyway, and tfjs-wasm has a 4 GiB heap for everything);
 * - a declared total above `maxRatio` times the archive's size once it exceeds a floor (default
 *   200x above 64 MiB). Deflate tops out near 1032:1 (a 258-byte match in about 2 bits), which is
 *   what zip bombs use; real model weights compress 1.1-1.3x, 90 %-pruned weights 5-10x, image
 *   and label arrays 3-30x, so 200x leaves a wide margin for real data and still stops a bomb
 *   five times short of deflate's limit. Below the floor any ratio is fine: memory stays small.
 * Then it inflates each member with node:zlib capped at its declared size (a member that lies
 * about its size is stopped at the lie, so memory is bounded by what was checked), and checks the
 * result's length and CRC-32 (IEEE 802.3 polynomial, as zip uses; fflate's unzipSync checks
 * neither, so corrupted bytes were accepted). Every refusal names the archive and the member.
 * @example const members = safeUnzip(bytes, '/data/mnist.npz', { errorClass: DatasetFormatError, filter: (n) => n.endsWith('.npy') });
 */
import zlib from 'node:zlib';
import { inFile, type TopiaryError } from '../common/errors';

export const ZIP_MAX_TOTAL_BYTES = 2 * 1024 ** 3;
export const ZIP_MAX_RATIO = 200;
export const ZIP_RATIO_FLOOR_BYTES = 64 * 1024 ** 2;

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  encrypted: boolean;
}

export interface SafeUnzipOptions {
  /** The named error to throw (DatasetFormatError for datasets, ModelFormatError for models). */
  errorClass: new (message: string, options?: { file?: string; cause?: unknown }) => TopiaryError;
  /** How a broken central directory is described, e.g. `not a readable .npz (zip) archive`. */
  unreadable?: string;
  /** Members to inflate (by name); the others are listed but neither checked nor inflated. */
  filter?: (name: string) => boolean;
  maxTotalBytes?: number;
  maxRatio?: number;
  ratioFloorBytes?: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;

/** Inflates the wanted members of a zip archive after checking its declared sizes; see the module doc. */
export function safeUnzip(bytes: Uint8Array, file: string, opts: SafeUnzipOptions): Record<string, Uint8Array> {
  const fail = (problem: string, cause?: unknown): never => {
    throw new opts.errorClass(inFile(file, problem), { file, cause });
  };
  const entries = listZipEntries(bytes, file, opts.errorClass, opts.unreadable).filter((e) => !opts.filter || opts.filter(e.name));
  const maxTotal = opts.maxTotalBytes ?? ZIP_MAX_TOTAL_BYTES;
  const maxRatio = opts.maxRatio ?? ZIP_MAX_RATIO;
  const floor = opts.ratioFloorBytes ?? ZIP_RATIO_FLOOR_BYTES;
  let total = 0;
  for (const e of entries) {
    if (e.encrypted) fail(`zip member "${e.name}" is encrypted; encrypted archives are not supported`);
    if (e.method !== 0 && e.method !== 8) fail(`zip member "${e.name}" uses compression method ${e.method}; only stored (0) and deflate (8) are supported`);
    if (e.method === 0 && e.compressedSize !== e.size) fail(`zip member "${e.name}" is stored but declares ${e.size} bytes for ${e.compressedSize} stored bytes`);
    if (e.size > maxTotal) fail(`zip member "${e.name}" declares ${e.size} bytes uncompressed, over the limit of ${maxTotal} bytes`);
    total += e.size;
  }
  if (total > maxTotal) fail(`zip members declare ${total} bytes uncompressed in all, over the limit of ${maxTotal} bytes`);
  if (exceedsRatio(total, bytes.length, { maxRatio, ratioFloorBytes: floor })) {
    const biggest = entries.reduce((a, b) => (b.size > a.size ? b : a));
    fail(
      `zip members (largest "${biggest.name}", ${biggest.size} bytes) declare ${total} bytes uncompressed from a ${bytes.length}-byte archive: ` +
        `a compression ratio over ${maxRatio}x, refused as a likely zip bomb`,
    );
  }
  const out: Record<string, Uint8Array> = {};
  for (const e of entries) out[e.name] = inflateEntry(bytes, e, fail);
  return out;
}

/**
 * Whether `declared` uncompressed bytes from a `compressed`-byte file is beyond what real data
 * compresses to (see the module doc for the 200x / 64 MiB reasoning). Shared with the gzip IDX reader.
 */
export function exceedsRatio(declared: number, compressed: number, opts: { maxRatio?: number; ratioFloorBytes?: number } = {}): boolean {
  return declared > (opts.ratioFloorBytes ?? ZIP_RATIO_FLOOR_BYTES) && declared > (opts.maxRatio ?? ZIP_MAX_RATIO) * compressed;
}

function inflateEntry(bytes: Uint8Array, e: ZipEntry, fail: (problem: string, cause?: unknown) => never): Uint8Array {
  const at = e.localHeaderOffset;
  if (at + 30 > bytes.length || u32(bytes, at) !== SIG_LOCAL) fail(`zip member "${e.name}" has no local header at offset ${at}`);
  const start = at + 30 + u16(bytes, at + 26) + u16(bytes, at + 28);
  const end = start + e.compressedSize;
  if (end > bytes.length) fail(`zip member "${e.name}" is truncated: its ${e.compressedSize} bytes run past the end of the archive`);
  const raw = bytes.subarray(start, end);
  let data: Uint8Array;
  if (e.method === 0) {
    data = raw;
  } else {
    try {
      // maxOutputLength stops inflation at the declared size: memory never exceeds what was checked.
      const buf = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      // A plain Uint8Array view: Buffer#slice does not copy, which readers that slice would trip on.
      data = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') fail(`zip member "${e.name}" inflates to more than its declared ${e.size} bytes`, err);
      fail(`zip member "${e.name}" is not valid deflate data (${(err as Error).message})`, err);
    }
  }
  if (data.length !== e.size) fail(`zip member "${e.name}" inflates to ${data.length} bytes, but declares ${e.size}`);
  const crc = crc32(data);
  if (crc !== e.crc32) fail(`zip member "${e.name}" fails its CRC-32 check (recorded ${hex(e.crc32)}, content ${hex(crc)}): the archive is corrupt`);
  return data;
}

/** The members listed in a zip's central directory (zip64 included), bounds-checked. */
export function listZipEntries(bytes: Uint8Array, file: string, errorClass: SafeUnzipOptions['errorClass'], unreadable = 'corrupt zip archive'): ZipEntry[] {
  const fail = (problem: string): never => {
    throw new errorClass(inFile(file, `${unreadable}: ${problem}`), { file });
  };
  let eocd = -1;
  for (let i = bytes.length - 22; i >= 0 && i >= bytes.length - 22 - 0xffff; i--) {
    if (u32(bytes, i) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record');
  let count = u16(bytes, eocd + 10);
  let cdSize = u32(bytes, eocd + 12);
  let cdOffset = u32(bytes, eocd + 16);
  if (eocd >= 20 && u32(bytes, eocd - 20) === SIG_EOCD64_LOCATOR) {
    const z = u64(bytes, eocd - 12);
    if (z + 56 > bytes.length || u32(bytes, z) !== SIG_EOCD64) fail('broken zip64 end-of-central-directory record');
    count = u64(bytes, z + 32);
    cdSize = u64(bytes, z + 40);
    cdOffset = u64(bytes, z + 48);
  }
  if (cdOffset + cdSize > bytes.length) fail(`central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the file`);
  const entries: ZipEntry[] = [];
  let o = cdOffset;
  for (let i = 0; i < count; i++) {
    if (o + 46 > bytes.length || u32(bytes, o) !== SIG_CENTRAL) fail(`central directory entry ${i} is missing or damaged`);
    const flags = u16(bytes, o + 8);
    const nameLen = u16(bytes, o + 28);
    const extraLen = u16(bytes, o + 30);
    const commentLen = u16(bytes, o + 32);
    if (o + 46 + nameLen + extraLen > bytes.length) fail(`central directory entry ${i} runs past the end of the file`);
    const nameBytes = bytes.subarray(o + 46, o + 46 + nameLen);
    const name = flags & 0x800 ? new TextDecoder('utf-8').decode(nameBytes) : String.fromCharCode(...nameBytes);
    const entry: ZipEntry = {
      name,
      method: u16(bytes, o + 10),
      crc32: u32(bytes, o + 16),
      compressedSize: u32(bytes, o + 20),
      size: u32(bytes, o + 24),
      localHeaderOffset: u32(bytes, o + 42),
      encrypted: (flags & 1) === 1,
    };
    // Zip64 extra field (id 1): the 64-bit values of whichever 32-bit fields are 0xffffffff, in order.
    for (let x = o + 46 + nameLen; x + 4 <= o + 46 + nameLen + extraLen; ) {
      const id = u16(bytes, x);
      const len = u16(bytes, x + 2);
      if (id === 1) {
        let p = x + 4;
        const take = () => {
          if (p + 8 > x + 4 + len) fail(`zip64 field of "${name}" is too short`);
          const v = u64(bytes, p);
          p += 8;
          return v;
        };
        if (entry.size === U32_MAX) entry.size = take();
        if (entry.compressedSize === U32_MAX) entry.compressedSize = take();
        if (entry.localHeaderOffset === U32_MAX) entry.localHeaderOffset = take();
      }
      x += 4 + len;
    }
    entries.push(entry);
    o += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

let CRC_TABLE: Uint32Array | undefined;

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zip records it: node:zlib's native
 * crc32 where the runtime has it (Node >= 20.15), else crc32Table.
 * @example crc32(new TextEncoder().encode('123456789')) // 0xcbf43926
 */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  return native ? native(data) >>> 0 : crc32Table(data);
}

/** The classic byte-at-a-time table CRC-32 (Sarwate), for runtimes without zlib.crc32. */
export function crc32Table(data: Uint8Array): number {
  const table = (CRC_TABLE ??= Uint32Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  }));
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function u16(b: Uint8Array, i: number): number {
  return i + 2 <= b.length ? b[i] | (b[i + 1] << 8) : -1;
}

function u32(b: Uint8Array, i: number): number {
  return i >= 0 && i + 4 <= b.length ? (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0 : -1;
}

function u64(b: Uint8Array, i: number): number {
  const lo = u32(b, i);
  const hi = u32(b, i + 4);
  return lo < 0 || hi < 0 ? Number.MAX_SAFE_INTEGER : hi * 2 ** 32 + lo;
}

/**
 * IDX files (the MNIST / Fashion-MNIST format, http://yann.lecun.com/exdb/mnist/): a 4-byte magic
 * number `0x00 0x00 <type> <ndims>`, then ndims big-endian uint32 sizes, then the values big-endian.
 * `.gz` files are decompressed as a stream straight into one preallocated buffer, so loading never
 * holds the compressed file, a decompressed copy and the samples at the same time.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { DatasetFormatError, inFile } from '../../common/errors';
import { exceedsRatio, ZIP_MAX_RATIO } from '../safe-unzip';
import { product } from './store';

export interface IdxArray {
  file: string;
  /** Sizes from the header, e.g. [60000, 28, 28]. */
  dims: number[];
  /** uint8 files keep their bytes; every other type is converted to float32. */
  data: Uint8Array | Float32Array;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Above this the header is surely corrupt; it keeps a bad size field from allocating gigabytes. */
const MAX_IDX_BYTES = 8 * 1024 ** 3;

interface Header {
  type: number;
  dims: number[];
  headerBytes: number;
  dataBytes: number;
}

function fail(file: string, problem: string): never {
  throw new DatasetFormatError(inFile(file, problem), { file });
}

/** Parses the header from the first bytes, or returns undefined when more bytes are needed. */
function parseHeader(file: string, head: Uint8Array): Header | undefined {
  if (head.length < 4) return undefined;
  const [z0, z1, type, ndims] = head;
  const magic = ((z0 << 24) | (z1 << 16) | (type << 8) | ndims) >>> 0;
  const magicHex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (z0 !== 0 || z1 !== 0 || !(type in TYPES) || ndims < 1 || ndims > 4) {
    fail(file, `wrong IDX magic number ${magicHex}: expected 0x00000801 (labels), 0x00000803 (images) or another 0x0000TTNN with a known type TT and NN = 1..4 dimensions`);
  }
  const headerBytes = 4 + 4 * ndims;
  if (head.length < headerBytes) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, headerBytes);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const dataBytes = product(dims) * TYPES[type].bytes;
  if (dataBytes > MAX_IDX_BYTES) {
    fail(file, `header declares shape [${dims.join(', ')}], ${dataBytes} bytes of data, which is implausibly large`);
  }
  return { type, dims, headerBytes, dataBytes };
}

function describeShortfall(h: Header, got: number): string {
  return (
    `truncated: header says ${h.dims[0]} items of shape [${h.dims.slice(1).join(', ')}] ` +
    `(${h.dataBytes} bytes of ${TYPES[h.type].name}), but only ${Math.max(0, got)} bytes of data follow`
  );
}

/** Converts big-endian non-uint8 payloads to float32. */
function decode(h: Header, bytes: Uint8Array): Uint8Array | Float32Array {
  if (h.type === 0x08) return bytes;
  const n = product(h.dims);
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    switch (h.type) {
      case 0x09: out[i] = view.getInt8(i); break;
      case 0x0b: out[i] = view.getInt16(2 * i, false); break;
      case 0x0c: out[i] = view.getInt32(4 * i, false); break;
      case 0x0d: out[i] = view.getFloat32(4 * i, false); break;
      default: out[i] = view.getFloat64(8 * i, false);
    }
  }
  return out;
}

/**
 * Reads one IDX file, raw or `.gz` (detected by the gzip magic bytes, not the name).
 * @example const { dims, data } = await readIdx('/data/train-labels-idx1-ubyte.gz') // dims [60000]
 */
export async function readIdx(
  file: string,
  onBytes?: (done: number, total: number) => void,
): Promise<IdxArray> {
  const probe = new Uint8Array(2);
  let fileSize: number;
  try {
    const handle = await fs.promises.open(file, 'r');
    try {
      fileSize = (await handle.stat()).size;
      await handle.read(probe, 0, 2, 0);
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, expected an IDX file' : `cannot read: ${code ?? String(err)}`);
  }
  const gzipped = fileSize >= 2 && probe[0] === 0x1f && probe[1] === 0x8b;
  return gzipped ? readGzipped(file, fileSize, onBytes) : readRaw(file, fileSize, onBytes);
}

async function readRaw(file: string, fileSize: number, onBytes?: (d: number, t: number) => void): Promise<IdxArray> {
  const buf = new Uint8Array(await fs.promises.readFile(file));
  onBytes?.(fileSize, fileSize);
  const h = parseHeader(file, buf);
  if (!h) fail(file, `truncated: ${buf.length} bytes is shorter than an IDX header`);
  const available = buf.length - h.headerBytes;
  if (available < h.dataBytes) fail(file, describeShortfall(h, available));
  if (available > h.dataBytes) {
    fail(file, `${available - h.dataBytes} bytes after the data that the header declares (shape [${h.dims.join(', ')}])`);
  }
  return { file, dims: h.dims, data: decode(h, buf.subarray(h.headerBytes)) };
}

async function readGzipped(
  file: string,
  fileSize: number,
  onBytes?: (d: number, t: number) => void,
): Promise<IdxArray> {
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const gunzip = zlib.createGunzip();
  source.on('data', () => onBytes?.(source.bytesRead, fileSize));
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);

  let head = new Uint8Array(0);
  let header: Header | undefined;
  // Grown by doubling from a modest start, so a corrupt size field costs only as much as the file holds.
  let data = new Uint8Array(0);
  let filled = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let bytes: Uint8Array = chunk;
      if (!header) {
        const joined = new Uint8Array(head.length + bytes.length);
        joined.set(head);
        joined.set(bytes, head.length);
        header = parseHeader(file, joined);
        if (!header) {
          head = joined;
          continue;
        }
        bytes = joined.subarray(header.headerBytes);
        // A gzip bomb declares a plausible shape and inflates zeros into it: refuse before filling it.
        if (exceedsRatio(header.dataBytes, fileSize)) {
          fail(file, `header declares ${header.dataBytes} bytes of data from a ${fileSize}-byte gzip file: a compression ratio over ${ZIP_MAX_RATIO}x, refused as a likely gzip bomb`);
        }
        data = new Uint8Array(Math.min(header.dataBytes, 64 * 1024 * 1024));
      }
      if (filled + bytes.length > header.dataBytes) {
        fail(file, `more data than the header declares (shape [${header.dims.join(', ')}], ${header.dataBytes} bytes)`);
      }
      if (filled + bytes.length > data.length) {
        const grown = new Uint8Array(Math.min(header.dataBytes, Math.max(data.length * 2, filled + bytes.length)));
        grown.set(data.subarray(0, filled));
        data = grown;
      }
      data.set(bytes, filled);
      filled += bytes.length;
    }
  } catch (err) {
    if (err instanceof DatasetFormatError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(String((err as Error).message))) {
      fail(file, header ? `${describeShortfall(header, filled)} (the gzip stream ends early)` : 'truncated gzip stream');
    }
    fail(file, `not a valid gzip file: ${(err as Error).message}`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
  if (!header) fail(file, `truncated: ${head.length} bytes is shorter than an IDX header`);
  if (filled < header.dataBytes) fail(file, describeShortfall(header, filled));
  return { file, dims: header.dims, data: decode(header, data) };
}

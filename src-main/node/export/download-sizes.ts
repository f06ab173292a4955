/**
 * What a browser downloads: each file's size raw, gzip (level 9) and brotli (quality 11), the two
 * encodings web servers and CDNs apply to tfjs weight shards. node:zlib, so this lives in node/.
 */
import zlib from 'node:zlib';

export interface DownloadSizes {
  rawBytes: number;
  gzipBytes: number;
  brotliBytes: number;
}

/** Sizes of one byte array as served raw, gzip and brotli. */
export function downloadSizesOf(bytes: Uint8Array): DownloadSizes {
  return {
    rawBytes: bytes.byteLength,
    gzipBytes: zlib.gzipSync(bytes, { level: 9 }).byteLength,
    brotliBytes: zlib.brotliCompressSync(bytes, {
      params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength },
    }).byteLength,
  };
}

/**
 * Sizes of a set of files (each compressed on its own, as each is its own HTTP response) and their sum.
 * @example downloadSizes(files.filter((f) => f.name.endsWith('.bin'))).total.brotliBytes
 */
export function downloadSizes(files: { name: string; bytes: Uint8Array }[]): { files: ({ name: string } & DownloadSizes)[]; total: DownloadSizes } {
  const rows = files.map((f) => ({ name: f.name, ...downloadSizesOf(f.bytes) }));
  const total = rows.reduce((a, r) => ({ rawBytes: a.rawBytes + r.rawBytes, gzipBytes: a.gzipBytes + r.gzipBytes, brotliBytes: a.brotliBytes + r.brotliBytes }), { rawBytes: 0, gzipBytes: 0, brotliBytes: 0 });
  return { files: rows, total };
}

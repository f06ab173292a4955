/**
 * NumPy `.npy` arrays (format spec: numpy.lib.format, versions 1.0-3.0) and `.npz` archives (a zip of
 * `.npy` members, read with fflate). Supported dtypes are the little-endian numeric ones a dataset
 * needs: float32, float64, uint8, int32, int64. Everything else is rejected by name.
 */
import fs from 'node:fs';
import { DatasetFormatError, inFile } from '../../common/errors';
import { safeUnzip } from '../safe-unzip';
import { product } from './store';

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int32' | 'int64';

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array;
}

const DESCRS: Record<string, { dtype: NpyDtype; bytes: number }> = {
  '<f4': { dtype: 'float32', bytes: 4 },
  '<f8': { dtype: 'float64', bytes: 8 },
  '|u1': { dtype: 'uint8', bytes: 1 },
  '<u1': { dtype: 'uint8', bytes: 1 },
  '>u1': { dtype: 'uint8', bytes: 1 },
  '<i4': { dtype: 'int32', bytes: 4 },
  '<i8': { dtype: 'int64', bytes: 8 },
};

const KIND_NAMES: Record<string, string> = { f: 'float', i: 'int', u: 'uint', b: 'bool', c: 'complex', U: 'unicode string', S: 'byte string', O: 'Python object', M: 'datetime', m: 'timedelta', V: 'void/structured' };

function describeDescr(descr: string): string {
  const m = /^([<>|=])([a-zA-Z])(\d*)$/.exec(descr);
  if (!m) return 'code (not a numpy type string)';
  const [, order, kind, size] = m;
  const bits = size && 'fiuc'.includes(kind) ? String(Number(size) * 8) : size;
  const endian = order === '>' ? 'big-endian ' : '';
  return `'${descr}' (${endian}${KIND_NAMES[kind] ?? kind}${bits})`;
}

function fail(file: string, problem: string): never {
  throw new DatasetFormatError(inFile(file, problem), { file });
}

/**
 * Parses one `.npy` payload. `file` names it in errors (for npz members, `archive.npz:x_train.npy`).
 * @example const { shape, data } = parseNpy(bytes, 'x.npy') // shape [100, 28, 28], data Uint8Array
 */
export function parseNpy(bytes: Uint8Array, file: string): NpyArray {
  const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(file, 'malformed NPY header: missing the \\x93NUMPY magic string');
  }
  const major = bytes[6];
  if (major < 1 || major > 3) fail(file, `malformed NPY header: unknown format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes) fail(file, 'malformed NPY header: file ends inside the header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  if (bytes.length < start + headerLen) {
    fail(file, `malformed NPY header: header declares ${headerLen} bytes but the file ends first`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const descrMatch = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(header);
  if (!descrMatch) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail(file, 'unsupported NPY dtype: structured arrays are not supported');
    fail(file, "malformed NPY header: no 'descr' entry");
  }
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  if (!fortranMatch) fail(file, "malformed NPY header: no 'fortran_order' entry");
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!shapeMatch) fail(file, "malformed NPY header: no 'shape' tuple");

  const descr = descrMatch[2];
  const type = DESCRS[descr];
  if (!type) {
    fail(file, `unsupported NPY dtype ${describeDescr(descr)}: supported are little-endian float32 (<f4), float64 (<f8), uint8 (|u1), int32 (<i4), int64 (<i8)`);
  }
  if (fortranMatch[1] === 'True') fail(file, 'Fortran-ordered (column-major) arrays are not supported; save with np.ascontiguousarray');
  const parts = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (!parts.every((p) => /^\d+L?$/.test(p))) fail(file, 'malformed NPY header: the shape is not a tuple of sizes');
  const shape = parts.map((p) => Number.parseInt(p, 10));

  const count = product(shape);
  const dataStart = start + headerLen;
  const need = count * type.bytes;
  const have = bytes.length - dataStart;
  if (have < need) {
    fail(file, `truncated: shape [${shape.join(', ')}] of ${type.dtype} needs ${need} bytes of data, found ${have}`);
  }
  // Copy multi-byte data so it is aligned for its typed array; uint8 can be a view.
  const raw = bytes.subarray(dataStart, dataStart + need);
  let data: NpyArray['data'];
  switch (type.dtype) {
    case 'uint8': data = raw; break;
    case 'float32': data = new Float32Array(raw.slice().buffer); break;
    case 'float64': data = new Float64Array(raw.slice().buffer); break;
    case 'int32': data = new Int32Array(raw.slice().buffer); break;
    case 'int64': data = new BigInt64Array(raw.slice().buffer); break;
  }
  return { dtype: type.dtype, shape, data };
}

/** Reads one `.npy` file. */
export async function readNpy(file: string): Promise<NpyArray> {
  return parseNpy(new Uint8Array(await readFileOrFail(file)), file);
}

/**
 * Reads the named arrays of a `.npz` archive that are present (members `NAME.npy`); absent names are
 * left out of the result. Only the wanted members are decompressed.
 */
export async function readNpz(file: string, names: string[]): Promise<Record<string, NpyArray>> {
  const bytes = new Uint8Array(await readFileOrFail(file));
  // CRC-checked and size-capped (a .npz is a zip; see safeUnzip for the limits and why).
  const members = safeUnzip(bytes, file, { errorClass: DatasetFormatError, unreadable: 'not a readable .npz (zip) archive', filter: (name) => names.includes(name.replace(/\.npy$/, '')) });
  const out: Record<string, NpyArray> = {};
  for (const [member, data] of Object.entries(members)) {
    out[member.replace(/\.npy$/, '')] = parseNpy(data, `${file}:${member}`);
  }
  return out;
}

async function readFileOrFail(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : `cannot read: ${code ?? String(err)}`);
  }
}

/**
 * Converts a label array to int32 class indices. Accepts shape [N], [N, 1], or one-hot [N, K]
 * (argmax). Float labels must be whole numbers.
 */
export function toLabels(arr: NpyArray, what: string): Int32Array {
  const { shape, data } = arr;
  if (shape.length === 2 && shape[1] > 1) {
    const [n, k] = shape;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (Number(data[i * k + j]) > Number(data[i * k + best])) best = j;
      out[i] = best;
    }
    return out;
  }
  if (shape.length > 2 || (shape.length === 2 && shape[1] !== 1) || shape.length === 0) {
    fail(what, `labels must have shape [N], [N, 1] or one-hot [N, K], got [${shape.join(', ')}]`);
  }
  const n = shape[0];
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(data[i]);
    if (!Number.isInteger(v) || v > 2 ** 31 - 1 || v < -(2 ** 31)) {
      fail(what, `label at index ${i} is ${v}, not an integer class index`);
    }
    out[i] = v;
  }
  return out;
}

/** Converts a sample array to compact storage: uint8 stays bytes, everything else becomes float32. */
export function toSamples(arr: NpyArray): Uint8Array | Float32Array {
  const { data } = arr;
  if (data instanceof Uint8Array || data instanceof Float32Array) return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

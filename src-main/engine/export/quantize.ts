/**
 * Weight quantization helpers for the tfjs exporter: affine uint8/uint16 with 0.0 exactly
 * representable, and IEEE 754 binary16 encoding. Both produce the layouts the stock tfjs loader
 * decodes (`io_utils.decodeWeight`: value = q * scale + min, or a float16 decode).
 */

/** Affine parameters in the form a tfjs weights-manifest `quantization` entry stores them. */
export interface AffineParams {
  dtype: 'uint8' | 'uint16';
  /** Step between two adjacent levels; > 0. */
  scale: number;
  /** Value of level 0; equals -zeroPoint * scale so that level zeroPoint decodes to exactly 0. */
  min: number;
  /** The level that decodes to 0.0. */
  zeroPoint: number;
}

/**
 * Chooses affine parameters for `values` so that 0.0 is one of the levels (the range is widened
 * to include 0, then `min` is nudged to -zeroPoint * scale). The stock tfjs loader computes
 * `q * scale + min` in float64; with min = -(zeroPoint * scale) the zero level decodes to exactly
 * +0, so pruned weights stay pruned. Reconstruction error is at most scale / 2 inside the range.
 *
 * @example affineParams(new Float32Array([-1, 0, 3]), 'uint8') // {scale: 4/255, zeroPoint: 64, ...}
 */
export function affineParams(values: Float32Array, dtype: 'uint8' | 'uint16'): AffineParams {
  const levels = dtype === 'uint8' ? 255 : 65535;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new RangeError(`cannot quantize a non-finite weight value (${v})`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (hi === lo) return { dtype, scale: 1, min: 0, zeroPoint: 0 }; // all zeros: any scale decodes to 0
  const scale = (hi - lo) / levels;
  const zeroPoint = Math.min(levels, Math.max(0, Math.round(-lo / scale)));
  return { dtype, scale, min: -(zeroPoint * scale), zeroPoint };
}

/** Quantizes `values` with `p`: q = clamp(round(v / scale) + zeroPoint, 0, levels). Zero maps to zeroPoint exactly. */
export function quantizeAffine(values: Float32Array, p: AffineParams): Uint8Array | Uint16Array {
  const levels = p.dtype === 'uint8' ? 255 : 65535;
  const out = p.dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] / p.scale) + p.zeroPoint;
    out[i] = q < 0 ? 0 : q > levels ? levels : q;
  }
  return out;
}

/** The value the stock tfjs loader reconstructs for level `q` (float64 math, stored as float32). */
export function dequantizeAffine(q: Uint8Array | Uint16Array, p: { scale: number; min: number }): Float32Array {
  const out = new Float32Array(q.length);
  for (let i = 0; i < q.length; i++) out[i] = q[i] * p.scale + p.min;
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Converts one float32 to IEEE 754 binary16 bits with round-to-nearest-even, keeping signed zeros,
 * subnormals, infinities and NaN. Values beyond ±65504 become ±Infinity, as in IEEE conversion.
 * @example toFloat16Bits(1) === 0x3c00
 */
export function toFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Inf or NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-1 mantissa right and round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m; // a carry into bit 10 correctly yields the smallest normal
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // may carry into the exponent: still correct
  return h;
}

/** Encodes a float32 array as binary16 bits (see {@link toFloat16Bits}). */
export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toFloat16Bits(values[i]);
  return out;
}

/**
 * Compact mask encoding for plans: a little-endian bitset (bit i of byte i>>3 is element i, set =
 * kept) written as base64. 1 bit per weight keeps a LeNet-300-100 plan near 45 KB of text.
 * Base64 is hand-written because the engine must not depend on Node's Buffer, and btoa needs a string.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.length ? ALPHABET[n & 63] : '=';
  }
  return out;
}

/** Decodes base64; returns null when the text is not valid base64. */
export function fromBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text.charCodeAt(i + j);
      const isPad = ch === 61 && i + j >= text.length - pad;
      const v = isPad ? 0 : ch < 128 ? LOOKUP[ch] : -1;
      if (v < 0) return null;
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/** Keep-mask (1 = kept) -> base64 bitset. */
export function encodeMask(keep: Uint8Array): string {
  const bytes = new Uint8Array(Math.ceil(keep.length / 8));
  for (let i = 0; i < keep.length; i++) if (keep[i]) bytes[i >> 3] |= 1 << (i & 7);
  return toBase64(bytes);
}

/** base64 bitset -> keep-mask of `length` elements; null when malformed or too short. */
export function decodeMask(text: string, length: number): Uint8Array | null {
  const bytes = fromBase64(text);
  if (!bytes || bytes.length !== Math.ceil(length / 8)) return null;
  const keep = new Uint8Array(length);
  for (let i = 0; i < length; i++) keep[i] = (bytes[i >> 3] >> (i & 7)) & 1;
  return keep;
}

/**
 * Turning scores into keep-masks. Pure array code so the count is exact and ties are broken the
 * same way everywhere: lower score first, then lower layer order, then lower element index.
 */

/** Keep-mask with exactly `k` of the lowest-scored elements pruned. */
export function pruneLowest(scores: Float32Array, k: number): Uint8Array {
  const n = scores.length;
  const keep = new Uint8Array(n).fill(1);
  if (k <= 0) return keep;
  if (k >= n) return keep.fill(0);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b] || a - b);
  for (let i = 0; i < k; i++) keep[order[i]] = 0;
  return keep;
}

/**
 * One threshold across several arrays: prunes exactly `k` elements overall, the lowest scores
 * first. Returns one keep-mask per array.
 */
export function pruneLowestGlobal(scores: Float32Array[], k: number): Uint8Array[] {
  const sizes = scores.map((s) => s.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const flat = new Float32Array(total);
  let off = 0;
  for (const s of scores) {
    flat.set(s, off);
    off += s.length;
  }
  // The flat index already orders by (layer order, element index), so pruneLowest's tie-break applies.
  const keep = pruneLowest(flat, k);
  const out: Uint8Array[] = [];
  off = 0;
  for (const n of sizes) {
    out.push(keep.slice(off, off + n));
    off += n;
  }
  return out;
}

/**
 * N:M keep-mask: within every run of `m` consecutive elements along `inAxis` keep the `n` highest
 * scores (ties: lower index kept). `shape` is the kernel's, row-major.
 * @example nmMask(scores, [8, 3], 0, 2, 4) // Dense [in=8, out=3]: per output, 2 of each 4 inputs kept
 */
export function nmMask(scores: Float32Array, shape: number[], inAxis: number, n: number, m: number): Uint8Array {
  const size = shape[inAxis];
  const outer = shape.slice(0, inAxis).reduce((a, b) => a * b, 1);
  const stride = shape.slice(inAxis + 1).reduce((a, b) => a * b, 1);
  const keep = new Uint8Array(scores.length);
  const idx = new Array<number>(m);
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < stride; s++) {
      for (let g = 0; g < size; g += m) {
        for (let j = 0; j < m; j++) idx[j] = (o * size + g + j) * stride + s;
        idx.sort((a, b) => scores[b] - scores[a] || a - b);
        for (let j = 0; j < n; j++) keep[idx[j]] = 1;
      }
    }
  }
  return keep;
}

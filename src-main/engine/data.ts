/**
 * The engine's view of a dataset: plain typed arrays with random access, so the same code runs in a
 * worker, a test or a browser. Readers in node/ produce these; samples are stored compactly (e.g. as
 * bytes) and converted to float32 only one batch at a time, which keeps memory bounded.
 */
export interface DataSplit {
  /** Number of samples. */
  readonly size: number;
  /**
   * Samples at the given indices: `x` is float32, row-major, `indices.length * prod(sampleShape)`
   * values, already normalized for the model; `y` holds integer class labels.
   */
  take(indices: ArrayLike<number>): { x: Float32Array; y: Int32Array };
}

export interface Dataset {
  /** Human-readable name, e.g. "fashion-mnist" or the file it came from. */
  readonly name: string;
  /** Where it came from (the spec the user gave, e.g. `idx:/data/mnist`). */
  readonly source: string;
  /** Shape of one sample, e.g. [28, 28, 1]. */
  readonly sampleShape: number[];
  readonly classNames: string[];
  readonly train: DataSplit;
  readonly test: DataSplit;
  /** Problems that did not stop loading, e.g. "skipped 3 unreadable images". */
  readonly warnings: string[];
}

/**
 * A split over in-memory arrays: `x` row-major with `per` values a sample, `y` one label a sample.
 * @example const split = arraySplit(new Float32Array([0, 1, 1, 0]), new Int32Array([0, 1]), 2)
 */
export function arraySplit(x: Float32Array, y: Int32Array, per: number): DataSplit {
  return {
    size: y.length,
    take(indices) {
      const xs = new Float32Array(indices.length * per);
      const ys = new Int32Array(indices.length);
      for (let i = 0; i < indices.length; i++) {
        xs.set(x.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
        ys[i] = y[indices[i]];
      }
      return { x: xs, y: ys };
    },
  };
}

/** A contiguous range [start, end) of a split, in order. */
export function takeRange(split: DataSplit, start: number, end: number): { x: Float32Array; y: Int32Array } {
  const n = Math.max(0, Math.min(end, split.size) - start);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = start + i;
  return split.take(idx);
}

/** Deterministic PRNG (mulberry32) so shuffles and splits are reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates permutation of 0..n-1 from a seed. */
export function permutation(n: number, seed: number): Int32Array {
  const rand = seededRandom(seed);
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** A view of `split` restricted to `indices` (used for seeded train/test and validation splits). */
export function subset(split: DataSplit, indices: Int32Array): DataSplit {
  return {
    size: indices.length,
    take(idx) {
      const mapped = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) mapped[i] = indices[idx[i]];
      return split.take(mapped);
    },
  };
}

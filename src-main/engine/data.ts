/**
 * The engine's view of a dataset: plain typed arrays with random access, so the same code runs in a
 * worker, a test or a browser. Readers in node/ produce these; samples are stored compactly (e.g. as
 * bytes) and converted to float32 only one batch at a time, which keeps memory bounded.
 */
import { ConfigError } from '../common/errors';

export interface DataSplit {
  /** Number of samples. */
  readonly size: number;
  /**
   * Samples at the given indices: `x` is float32, row-major, `indices.length * prod(sampleShape)`
   * values, already normalized for the model; `y` holds one integer class label a sample
   * (Int32Array) or, for regression, `k` float targets a sample, row-major [n, k] (Float32Array).
   */
  take(indices: ArrayLike<number>): Batch;
}

/**
 * One batch. The type of `y` says what it holds: Int32Array = class labels, Float32Array =
 * regression targets. Code that needs one kind narrows with `instanceof` (or labelsOf/targetsOf),
 * so a consumer that forgets regression does not type-check.
 */
export interface Batch {
  x: Float32Array;
  y: Int32Array | Float32Array;
}

/** The class labels of a batch; a ConfigError when the dataset holds regression targets instead. */
export function labelsOf(y: Int32Array | Float32Array, what = 'this step'): Int32Array {
  if (y instanceof Int32Array) return y;
  throw new ConfigError(`${what} needs class labels, but the dataset holds regression targets (pass --task regression, or a classification dataset)`);
}

/**
 * Regression targets of a batch of `n` samples as float32 [n, k]; integer labels (e.g. a CSV column of
 * whole numbers such as abalone's rings) are read as one float target each.
 */
export function targetsOf(y: Int32Array | Float32Array): Float32Array {
  return y instanceof Float32Array ? y : Float32Array.from(y);
}

export interface Dataset {
  /**
   * Names of the regression targets (k of them: every split's `y` is then a Float32Array of k values
   * a sample); absent for classification datasets, whose `y` is class labels.
   */
  readonly targetNames?: string[];
  /** Human-readable name, e.g. "fashion-mnist" or the file it came from. */
  readonly name: string;
  /** Where it came from (the spec the user gave, e.g. `idx:/data/mnist`). */
  readonly source: string;
  /** Shape of one sample, e.g. [28, 28, 1]. */
  readonly sampleShape: number[];
  /** Class names by label index; empty for a regression dataset. */
  readonly classNames: string[];
  readonly train: DataSplit;
  readonly test: DataSplit;
  /** Problems that did not stop loading, e.g. "skipped 3 unreadable images". */
  readonly warnings: string[];
}

/**
 * A split over in-memory arrays: `x` row-major with `per` values a sample; `y` one label a sample
 * (Int32Array) or `yPer` regression targets a sample (Float32Array, row-major).
 * @example const split = arraySplit(new Float32Array([0, 1, 1, 0]), new Int32Array([0, 1]), 2)
 * @example const reg = arraySplit(x, new Float32Array([0.5, 1.5]), 2) // one float target a sample
 */
export function arraySplit(x: Float32Array, y: Int32Array | Float32Array, per: number, yPer = 1): DataSplit {
  const size = Math.floor(y.length / yPer);
  return {
    size,
    take(indices) {
      const xs = new Float32Array(indices.length * per);
      const ys = y instanceof Float32Array ? new Float32Array(indices.length * yPer) : new Int32Array(indices.length * yPer);
      for (let i = 0; i < indices.length; i++) {
        xs.set(x.subarray(indices[i] * per, (indices[i] + 1) * per), i * per);
        for (let j = 0; j < yPer; j++) ys[i * yPer + j] = y[indices[i] * yPer + j];
      }
      return { x: xs, y: ys };
    },
  };
}

/** A contiguous range [start, end) of a split, in order. */
export function takeRange(split: DataSplit, start: number, end: number): Batch {
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

/**
 * Compact in-memory sample storage shared by every reader. Samples stay in their file's numeric type
 * (bytes for 8-bit images, float32 otherwise) and become float32 only inside `take()`, one batch at a
 * time, so a 60000x28x28 image set costs 47 MB rather than 188 MB.
 */
import type { DataSplit } from '../../engine/data';
import { ConfigError, DatasetFormatError, inFile } from '../../common/errors';
import { describeNonFinite, findNonFinite } from '../../engine/finite';

export interface SampleStore {
  /** Row-major samples, `sampleSize` values each. */
  data: Uint8Array | Float32Array;
  /** One class index per sample. */
  labels: Int32Array;
  /** Values per sample (product of the sample shape). */
  sampleSize: number;
  /** Multiplier applied in take(): 1/255 for 8-bit images normalized to [0, 1], else 1. */
  scale: number;
  /** Added after scaling in take() (-1 for 8-bit data mapped to [-1, 1]); default 0. */
  offset?: number;
  /**
   * Regression: `width` float targets a sample, row-major; take() then returns them as `y` (a
   * Float32Array) and `labels` is empty.
   */
  targets?: { values: Float32Array; width: number };
}

/** A DataSplit over `store`, optionally restricted to (and ordered by) `indices`. */
export function storeSplit(store: SampleStore, indices?: Int32Array): DataSplit & { readonly labels: Int32Array } {
  const { data, sampleSize, scale, targets } = store;
  const count = targets ? targets.values.length / targets.width : store.labels.length;
  const size = indices ? indices.length : count;
  const labels = targets ? new Int32Array(0) : indices ? gather(store.labels, indices) : store.labels;
  return {
    size,
    labels,
    take(idx: ArrayLike<number>) {
      const offset = store.offset ?? 0;
      const n = idx.length;
      const x = new Float32Array(n * sampleSize);
      const w = targets?.width ?? 1;
      const y = targets ? new Float32Array(n * w) : new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const k = idx[i];
        if (!Number.isInteger(k) || k < 0 || k >= size) {
          throw new RangeError(`sample index ${k} is outside the split [0, ${size})`);
        }
        const row = indices ? indices[k] : k;
        const src = row * sampleSize;
        const dst = i * sampleSize;
        if (scale === 1 && offset === 0) {
          x.set(data.subarray(src, src + sampleSize), dst);
        } else {
          for (let j = 0; j < sampleSize; j++) x[dst + j] = data[src + j] * scale + offset;
        }
        if (targets) y.set(targets.values.subarray(row * w, (row + 1) * w), i * w);
        else y[i] = store.labels[row];
      }
      return { x, y };
    },
  };
}

/**
 * Seeded random split for regression targets (nothing to stratify on): round(n * testFraction)
 * samples to test, at least one in each split; indices ascending within each split.
 */
export function randomSplit(n: number, testFraction: number, seed: number): { train: Int32Array; test: Int32Array } {
  const order = shuffled(Array.from({ length: n }, (_, i) => i), seed >>> 0);
  const k = Math.min(n - 1, Math.max(1, Math.round(n * testFraction)));
  return { test: Int32Array.from(order.slice(0, k)).sort(), train: Int32Array.from(order.slice(k)).sort() };
}

function gather(values: Int32Array, indices: Int32Array): Int32Array {
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) out[i] = values[indices[i]];
  return out;
}

/**
 * Seeded stratified split. The test split gets round(N * testFraction) samples, apportioned to classes
 * by largest remainder (class c gets floor(n_c * f) plus one if its remainder is among the largest),
 * so class proportions match the whole set; a class with two or more samples keeps at least one in
 * each split. Indices come back in ascending order within each split.
 * @example stratifiedSplit(labels, 10, 0.2, 42).test.length // ~ labels.length / 5
 */
export function stratifiedSplit(
  labels: Int32Array,
  numClasses: number,
  testFraction: number,
  seed: number,
): { train: Int32Array; test: Int32Array } {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const quota = byClass.map((m) => Math.floor(m.length * testFraction));
  let remaining = Math.round(labels.length * testFraction) - quota.reduce((a, b) => a + b, 0);
  const byRemainder = byClass
    .map((m, c) => ({ c, r: m.length * testFraction - quota[c] }))
    .sort((a, b) => b.r - a.r || a.c - b.c);
  for (const { c } of byRemainder) {
    if (remaining <= 0) break;
    quota[c]++;
    remaining--;
  }
  const isTest = new Uint8Array(labels.length);
  let testCount = 0;
  let rand = seed >>> 0;
  byClass.forEach((members, c) => {
    // A per-class seed keeps each class's choice independent of the other classes' sizes.
    rand = (rand + 0x9e3779b9) >>> 0;
    if (members.length === 0) return;
    let k = quota[c];
    if (k === 0 && members.length >= 2) k = 1;
    if (k >= members.length) k = members.length - 1;
    const order = shuffled(members, rand);
    for (let j = 0; j < k; j++) isTest[order[j]] = 1;
    testCount += k;
  });
  const train = new Int32Array(labels.length - testCount);
  const test = new Int32Array(testCount);
  let a = 0;
  let b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (isTest[i]) test[b++] = i;
    else train[a++] = i;
  }
  return { train, test };
}

function shuffled(values: number[], seed: number): number[] {
  const out = values.slice();
  let s = seed;
  const rand = () => {
    // mulberry32, same generator as engine/data.ts seededRandom.
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Throws unless every sample value is a finite number (one pass; bytes cannot be anything else). A
 * NaN pixel turns every loss it touches into NaN: training on it wrecks the model without a word.
 */
export function checkFiniteSamples(data: Uint8Array | Float32Array, sampleSize: number, what: string): void {
  if (data instanceof Uint8Array) return;
  const bad = findNonFinite(data);
  if (!bad) return;
  const sample = Math.floor(bad.index / Math.max(1, sampleSize));
  throw new DatasetFormatError(
    inFile(what, `sample ${sample} holds ${describeNonFinite(bad.value)} (value ${bad.index - sample * sampleSize} of ${sampleSize}); ` +
      `${bad.count} value(s) in the file are not finite numbers, and samples must be`),
    { file: what },
  );
}

/** Throws unless every label is in [0, numClasses). `what` names the file or array for the message. */
export function checkLabels(labels: Int32Array, numClasses: number, what: string): void {
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v < 0 || v >= numClasses) {
      throw new DatasetFormatError(
        inFile(what, `label ${v} at index ${i} is out of range: expected 0..${numClasses - 1} (${numClasses} classes)`),
        { file: what },
      );
    }
  }
}

/** Largest label + 1, rejecting negative labels and implausibly many classes. */
export function inferClassCount(labels: Int32Array, what: string): number {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v < 0) {
      throw new DatasetFormatError(inFile(what, `label ${v} at index ${i} is negative`), { file: what });
    }
    if (v > max) max = v;
  }
  if (max >= MAX_CLASSES) {
    throw new DatasetFormatError(
      inFile(what, `label ${max} implies ${max + 1} classes; at most ${MAX_CLASSES} are supported`),
      { file: what },
    );
  }
  return max + 1;
}

export const MAX_CLASSES = 100_000;

/**
 * Resolves the sample shape: `natural` is what the file holds; a requested shape must hold the same
 * number of values (a reshape such as [784] -> [28, 28, 1] is allowed, a different size is not).
 */
export function resolveSampleShape(natural: number[], requested: number[] | undefined, what: string): number[] {
  if (!requested) return natural;
  checkShapeOption(requested);
  if (product(requested) !== product(natural)) {
    throw new DatasetFormatError(
      inFile(
        what,
        `sample shape mismatch: samples have shape [${natural.join(', ')}] (${product(natural)} values) ` +
          `but sampleShape [${requested.join(', ')}] needs ${product(requested)}`,
      ),
      { file: what },
    );
  }
  return requested.slice();
}

export function checkShapeOption(shape: number[]): void {
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ConfigError(`sampleShape must be a list of positive integers, got [${shape.join(', ')}]`);
  }
}

export function product(dims: readonly number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

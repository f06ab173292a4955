/**
 * Finding NaN and ±Infinity in typed arrays, one pass each. Weights and samples are checked at the
 * boundary with these, so a non-finite number is a named error at load instead of a run that
 * trains on garbage and is recorded as a result.
 */

/** Where the first non-finite value of an array is, and how many there are. */
export interface NonFinite {
  /** Index of the first NaN or ±Infinity. */
  index: number;
  value: number;
  /** How many values are not finite. */
  count: number;
}

/**
 * Scans `values` once; undefined when every value is finite. `v - v` is NaN exactly for NaN and
 * ±Infinity, and is cheaper per element than Number.isFinite on a typed array.
 * @example findNonFinite(new Float32Array([1, NaN, Infinity])) // { index: 1, value: NaN, count: 2 }
 */
export function findNonFinite(values: ArrayLike<number>): NonFinite | undefined {
  let index = -1;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) {
      if (index < 0) index = i;
      count++;
    }
  }
  return index < 0 ? undefined : { index, value: values[index], count };
}

/** "NaN", "Infinity" or "-Infinity", as a message should name the value. */
export function describeNonFinite(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
}

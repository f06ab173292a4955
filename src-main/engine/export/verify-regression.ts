/**
 * Verification of an exported regressor: outputs are judged by their error, never by arg-max
 * agreement (a 1-output model "agrees" with anything on top-1). Shared by the TF Lite (LiteRT) and
 * tfjs verifiers so both apply the same rule.
 *
 * Scale s = the standard deviation of the targets over the verification samples (of the in-app
 * model's outputs when there are no targets; at least 1e-6). Pass rule per numeric mode:
 * - float32 (none): max |exported - in-app| <= 1e-4 * max(1, s): float rounding only;
 * - float16 / uint16 weights: max |exported - in-app| <= 1e-2 * max(1, s);
 * - 8-bit (int8, dynamic-int8, tfjs uint8): mean |exported - in-app| <= 5 % of s, and with targets
 *   the artifact's MAE exceeds the in-app model's by at most 5 % of s.
 */
export type RegressionVerifyMode = 'none' | 'float16' | 'uint16' | 'dynamic-int8' | 'int8' | 'uint8';

export interface RegressionComparison {
  samples: number;
  maxAbsDiff: number;
  meanAbsDiff: number;
  /** MAE of the exported outputs against the targets; null without targets. */
  mae: number | null;
  referenceMae: number | null;
  scale: number;
  passed: boolean;
  reason: string | null;
  /** The rule applied, in words, with the numbers it used. */
  rule: string;
}

/** Relative tolerances: `max` is times max(1, s) on the max abs diff, `mean` times s on the mean abs diff and the MAE increase. */
export const REGRESSION_TOLERANCE: Record<RegressionVerifyMode, { max?: number; mean?: number }> = {
  none: { max: 1e-4 },
  float16: { max: 1e-2 },
  uint16: { max: 1e-2 },
  'dynamic-int8': { mean: 0.05 },
  int8: { mean: 0.05 },
  uint8: { mean: 0.05 },
};

function std(v: ArrayLike<number>): number {
  if (v.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i];
  const mean = sum / v.length;
  let sq = 0;
  for (let i = 0; i < v.length; i++) sq += (v[i] - mean) ** 2;
  return Math.sqrt(sq / v.length);
}

/**
 * Compares exported outputs `got` with the in-app outputs `ref` (same layout, n * k values) and,
 * with `targets` (n * k), both models' MAE; judges with REGRESSION_TOLERANCE[mode].
 * @example compareRegression(ref, got, targets, 'int8').passed
 */
export function compareRegression(ref: ArrayLike<number>, got: ArrayLike<number>, targets: ArrayLike<number> | undefined, mode: RegressionVerifyMode, samples: number): RegressionComparison {
  let maxAbs = 0;
  let sumAbs = 0;
  let errGot = 0;
  let errRef = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates as a failure
    sumAbs += d;
    if (targets) {
      errGot += Math.abs(got[i] - targets[i]);
      errRef += Math.abs(ref[i] - targets[i]);
    }
  }
  const count = Math.max(1, ref.length);
  const scale = Math.max(1e-6, std(targets ?? ref));
  const tol = REGRESSION_TOLERANCE[mode];
  const mae = targets ? errGot / count : null;
  const referenceMae = targets ? errRef / count : null;
  const meanAbsDiff = sumAbs / count;
  const problems: string[] = [];
  const rules: string[] = [];
  if (tol.max !== undefined) {
    const bound = tol.max * Math.max(1, scale);
    rules.push(`max |diff| <= ${bound.toExponential(2)} (${tol.max} x max(1, scale))`);
    if (!(maxAbs <= bound)) problems.push(`max |diff| ${maxAbs.toExponential(3)} > ${bound.toExponential(2)}`);
  }
  if (tol.mean !== undefined) {
    const bound = tol.mean * scale;
    rules.push(`mean |diff| <= ${bound.toPrecision(3)} (${100 * tol.mean} % of scale)`);
    if (!(meanAbsDiff <= bound)) problems.push(`mean |diff| ${meanAbsDiff.toPrecision(3)} > ${bound.toPrecision(3)}`);
    if (mae !== null && referenceMae !== null) {
      rules.push(`MAE increase <= ${bound.toPrecision(3)}`);
      if (!(mae - referenceMae <= bound)) problems.push(`MAE ${mae.toPrecision(4)} is more than ${bound.toPrecision(3)} above the in-app model's ${referenceMae.toPrecision(4)}`);
    }
  }
  return {
    samples,
    maxAbsDiff: maxAbs,
    meanAbsDiff,
    mae,
    referenceMae,
    scale,
    passed: problems.length === 0,
    reason: problems.length ? problems.join('; ') : null,
    rule: `scale = std of the ${targets ? 'targets' : 'in-app outputs'} = ${scale.toPrecision(4)}; ${rules.join(', ')}`,
  };
}

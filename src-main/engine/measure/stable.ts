/**
 * Latency timing that repeats until the median is known well enough, for comparing two models on
 * a shared, noisy machine: the candidates run interleaved (A B, B A, A B, ...), so a burst of load
 * from elsewhere slows all of them alike instead of flattering whichever ran in the quiet moment.
 */
import { CancelledError, ConfigError } from '../../common/errors';
import { median, percentile } from './latency';
import type { StableTiming } from '../../common/contract/receipts';

export type { StableTiming } from '../../common/contract/receipts';

export interface StableTimingOptions {
  /** Untimed calls of each candidate first (operator setup, caches). Default 10. */
  warmup?: number;
  /** Timed calls of each candidate always made. Default 15. */
  minRuns?: number;
  /** Timed calls of each candidate at most. Default 2000. */
  maxRuns?: number;
  /** Stop once the median's 95% CI half-width is within this fraction of the median for every candidate. Default 0.03. */
  targetCi?: number;
  /** Wall-time budget for all candidates together, warm-up included, in ms. Default 3000. */
  budgetMs?: number;
  /** Clock in ms; default performance.now. Tests pass a fake one. */
  now?: () => number;
  signal?: AbortSignal;
}


/**
 * Distribution-free 95% confidence interval of the median from order statistics: the ranks
 * n/2 -+ 1.96 sqrt(n)/2 (binomial(n, 1/2) normal approximation; Conover, "Practical
 * Nonparametric Statistics", 3rd ed., 5.6). Returns the half-width relative to the median.
 * @example medianCiRel([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]) === 0
 */
export function medianCiRel(sortedAsc: number[]): number {
  const n = sortedAsc.length;
  if (n < 3) return Infinity;
  const half = 0.98 * Math.sqrt(n);
  const lo = Math.max(0, Math.floor(n / 2 - half));
  const hi = Math.min(n - 1, Math.ceil(n / 2 + half) - 1);
  const med = median(sortedAsc);
  if (!(med > 0)) return Infinity;
  return (sortedAsc[hi] - sortedAsc[lo]) / 2 / med;
}

/** Median, spread and CI of a set of samples; `unstable` when ciRel exceeds `targetCi`. */
export function summarizeTimes(times: number[], targetCi: number): StableTiming {
  const s = [...times].sort((a, b) => a - b);
  const med = median(s);
  const dev = s.map((t) => Math.abs(t - med)).sort((a, b) => a - b);
  const p25 = percentile(s, 0.25);
  const p75 = percentile(s, 0.75);
  const ciRel = medianCiRel(s);
  return { medianMs: med, iqrMs: p75 - p25, madMs: median(dev), p25Ms: p25, p75Ms: p75, minMs: s[0], runs: s.length, ciRel, unstable: !(ciRel <= targetCi) };
}

/**
 * Times each candidate (an async call that does one inference to completion) interleaved, in
 * rounds whose order alternates, until every candidate's median CI is within `targetCi` (after
 * `minRuns`) or the budget or `maxRuns` is reached. Results are in candidate order.
 * @example const [a, b] = await timeUntilStable([() => runDense(), () => runPruned()], { budgetMs: 2000 })
 */
export async function timeUntilStable(candidates: (() => Promise<void>)[], opts: StableTimingOptions = {}): Promise<StableTiming[]> {
  const warmup = opts.warmup ?? 10;
  const minRuns = opts.minRuns ?? 15;
  const maxRuns = opts.maxRuns ?? 2000;
  const targetCi = opts.targetCi ?? 0.03;
  const budgetMs = opts.budgetMs ?? 3000;
  const now = opts.now ?? (() => performance.now());
  if (candidates.length === 0) throw new ConfigError('timeUntilStable needs at least one candidate');
  if (!Number.isInteger(warmup) || warmup < 0) throw new ConfigError(`warmup must be a non-negative integer, got ${warmup}`);
  if (!Number.isInteger(minRuns) || minRuns < 3) throw new ConfigError(`minRuns must be an integer >= 3, got ${minRuns}`);
  if (!Number.isInteger(maxRuns) || maxRuns < minRuns) throw new ConfigError(`maxRuns must be an integer >= minRuns (${minRuns}), got ${maxRuns}`);
  if (!(targetCi > 0)) throw new ConfigError(`targetCi must be > 0, got ${targetCi}`);
  if (!(budgetMs > 0)) throw new ConfigError(`budgetMs must be > 0, got ${budgetMs}`);

  const start = now();
  const cancelled = () => {
    if (opts.signal?.aborted) throw new CancelledError('latency measurement cancelled');
  };
  for (let i = 0; i < warmup; i++) {
    for (const c of candidates) await c();
    cancelled();
    if (now() - start > budgetMs / 4) break;
  }
  const times: number[][] = candidates.map(() => []);
  const order = candidates.map((_, i) => i);
  for (let round = 0; round < maxRuns; round++) {
    cancelled();
    const seq = round % 2 === 0 ? order : [...order].reverse();
    for (const i of seq) {
      const t0 = now();
      await candidates[i]();
      times[i].push(now() - t0);
    }
    if (round + 1 < minRuns) continue;
    // Checking stability sorts every series; every 5th round is often enough.
    if ((round + 1) % 5 === 0 && times.every((t) => summarizeTimes(t, targetCi).unstable === false)) break;
    if (now() - start > budgetMs) break;
  }
  return times.map((t) => summarizeTimes(t, targetCi));
}

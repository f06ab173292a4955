import { describe, expect, it } from 'vitest';
import { CancelledError, ConfigError } from '../../../../src-main/common/errors';
import { medianCiRel, summarizeTimes, timeUntilStable } from '../../../../src-main/engine/measure/stable';

/** A fake clock: each candidate call advances time by the next duration of that candidate. */
function fakeRig(durations: ((i: number) => number)[]) {
  let clock = 0;
  const calls = durations.map(() => 0);
  const order: number[] = [];
  const candidates = durations.map((d, k) => async () => {
    clock += d(calls[k]++);
    order.push(k);
  });
  return { candidates, calls, order, now: () => clock };
}

describe('medianCiRel', () => {
  it('is 0 for identical samples and grows with the spread around the median', () => {
    expect(medianCiRel(Array(20).fill(2))).toBe(0);
    const tight = Array.from({ length: 100 }, (_, i) => 10 + (i % 10) * 0.01).sort((a, b) => a - b);
    const wide = Array.from({ length: 100 }, (_, i) => 10 + (i % 10)).sort((a, b) => a - b);
    expect(medianCiRel(tight)).toBeLessThan(0.01);
    expect(medianCiRel(wide)).toBeGreaterThan(medianCiRel(tight) * 10);
    expect(medianCiRel([1, 2])).toBe(Infinity);
  });
});

describe('summarizeTimes', () => {
  it('reports median, IQR and MAD of the samples', () => {
    const s = summarizeTimes([5, 1, 3, 2, 4, 100, 3, 3], 0.5);
    expect(s.medianMs).toBe(3);
    expect(s.p25Ms).toBe(2);
    expect(s.p75Ms).toBe(4);
    expect(s.iqrMs).toBe(2);
    expect(s.madMs).toBe(1);
    expect(s.minMs).toBe(1);
    expect(s.runs).toBe(8);
  });
});

describe('timeUntilStable', () => {
  it('stops early when every median is tight, and interleaves the candidates in alternating order', async () => {
    const rig = fakeRig([() => 1, () => 2]);
    const [a, b] = await timeUntilStable(rig.candidates, { warmup: 2, minRuns: 15, maxRuns: 1000, budgetMs: 1e9, now: rig.now });
    expect(a.medianMs).toBe(1);
    expect(b.medianMs).toBe(2);
    expect(a.unstable).toBe(false);
    // Stability is checked every 5 rounds from minRuns on: constant times stop at round 15.
    expect(a.runs).toBe(15);
    // After warm-up (0,1,0,1) the rounds go 0 1, 1 0, 0 1, ...
    expect(rig.order.slice(4, 10)).toEqual([0, 1, 1, 0, 0, 1]);
  });

  it('flags a candidate unstable when the budget runs out before its CI reaches the target', async () => {
    // Alternating 1 ms and 3 ms calls: the median's CI spans the two values however long it runs.
    const rig = fakeRig([(i) => (i % 2 ? 3 : 1), () => 2]);
    const [a, b] = await timeUntilStable(rig.candidates, { warmup: 0, minRuns: 10, budgetMs: 200, targetCi: 0.03, now: rig.now });
    expect(a.unstable).toBe(true);
    expect(a.ciRel).toBeGreaterThan(0.03);
    expect(b.unstable).toBe(false);
    // The budget (200 ms at 4 ms a round) bounded the rounds to about 50.
    expect(a.runs).toBeLessThanOrEqual(52);
    expect(a.runs).toBeGreaterThanOrEqual(10);
  });

  it('rejects bad options and honours cancellation', async () => {
    await expect(timeUntilStable([])).rejects.toThrow(ConfigError);
    await expect(timeUntilStable([async () => {}], { minRuns: 2 })).rejects.toThrow(/minRuns/);
    await expect(timeUntilStable([async () => {}], { budgetMs: 0 })).rejects.toThrow(/budgetMs/);
    const ac = new AbortController();
    ac.abort();
    await expect(timeUntilStable([async () => {}], { signal: ac.signal, warmup: 0 })).rejects.toThrow(CancelledError);
  });
});

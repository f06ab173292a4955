import { describe, expect, it } from 'vitest';
import { iterativeSchedule, makeSchedule, oneshotSchedule, polySchedule } from '../../../../src-main/engine/schedule';

describe('schedules', () => {
  it('oneshot prunes once, at step 0, to the final sparsity', () => {
    const s = oneshotSchedule(0.9);
    expect(s(0)).toEqual({ prune: true, sparsity: 0.9 });
    expect(s(1).prune).toBe(false);
  });

  it('poly follows s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3', () => {
    const si = 0.1;
    const sf = 0.85;
    const t0 = 10;
    const end = 110;
    const s = polySchedule({ initialSparsity: si, finalSparsity: sf, begin: t0, end, frequency: 20 });
    for (const t of [10, 25, 30, 60, 77, 110]) {
      expect(s(t).sparsity).toBeCloseTo(sf + (si - sf) * Math.pow(1 - (t - t0) / (end - t0), 3), 12);
    }
    expect(s(50).sparsity).toBeCloseTo(0.85 - 0.75 * 0.6 ** 3, 12);
    expect(s(5)).toEqual({ prune: false, sparsity: 0 });
    expect(s(500).sparsity).toBe(sf);
    expect([10, 30, 50, 70, 90, 110].every((t) => s(t).prune)).toBe(true);
    expect([11, 29, 111, 130].some((t) => s(t).prune)).toBe(false);
  });

  it('iterative geometric removes the same fraction of the remaining weights each round', () => {
    const s = iterativeSchedule({ finalSparsity: 0.875, rounds: 3, totalSteps: 30 });
    expect([0, 10, 20].map((t) => s(t).prune)).toEqual([true, true, true]);
    expect(s(5).prune).toBe(false);
    expect(s(0).sparsity).toBeCloseTo(0.5, 12);
    expect(s(10).sparsity).toBeCloseTo(0.75, 12);
    expect(s(20).sparsity).toBe(0.875);
  });

  it('iterative linear adds the same fraction of all weights each round', () => {
    const s = iterativeSchedule({ finalSparsity: 0.9, rounds: 3, totalSteps: 9, spacing: 'linear' });
    expect([0, 3, 6].map((t) => s(t).sparsity)).toEqual([0.3, 0.6, 0.9].map((v) => expect.closeTo(v, 12)));
  });

  it('makeSchedule gives poly defaults that finish at two thirds of training', () => {
    const s = makeSchedule({ kind: 'poly', initialSparsity: 0 }, 0.8, 300);
    expect(s(0)).toEqual({ prune: true, sparsity: 0 });
    expect(s(200)).toEqual({ prune: true, sparsity: 0.8 });
    expect(s(20).prune).toBe(true);
    expect(s(21).prune).toBe(false);
  });
});

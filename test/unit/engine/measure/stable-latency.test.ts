import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CancelledError, ConfigError } from '../../../../src-main/common/errors';
import { measureStableLatencies, measureStableLatency } from '../../../../src-main/engine/measure';
import { lenet300100 } from '../../../../src-main/engine/models';

/** A fake clock that moves on by `step(i)` ms after its i-th read, so a timed call takes the step of its start read. */
function scriptedClock(step: (i: number) => number) {
  let t = 0;
  let reads = 0;
  return () => {
    const now = t;
    t += step(reads++);
    return now;
  };
}

/** Seeded noise in [1, 10] ms (a small LCG), so timings spread without a pattern. */
function noisy(): (i: number) => number {
  let x = 12345;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 1 + (x % 10);
  };
}

describe('measureStableLatency', () => {
  it('reports median, IQR and what was measured, and stops once the median is stable', async () => {
    const model = lenet300100();
    const start = tf.memory().numTensors;
    const r = await measureStableLatency(model, { fast: false, warmup: 2, minRuns: 15, maxRuns: 500, budgetMs: 1e9, targetCi: 0.05, now: scriptedClock(() => 2) });
    expect(r.medianMs).toBe(2);
    expect(r.iqrMs).toBe(0);
    expect(r.unstable).toBe(false);
    // Identical times are stable at the first check after minRuns (every 5th round).
    expect(r.runs).toBe(15);
    expect(r.batch).toBe(1);
    expect(r.runtime).toBe('tfjs');
    expect(r.measured).toBe('in-app tfjs model, batch 1');
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('flags noisy timings as unstable when the budget runs out, with their spread', async () => {
    const model = lenet300100();
    // Calls of 1 to 10 ms: in 40 calls the median's CI does not tighten to 1%.
    const r = await measureStableLatency(model, { fast: false, warmup: 0, minRuns: 5, maxRuns: 40, budgetMs: 1e9, targetCi: 0.01, now: scriptedClock(noisy()) });
    expect(r.unstable).toBe(true);
    expect(r.runs).toBe(40);
    expect(r.iqrMs).toBeGreaterThan(5);
    model.dispose();
  });

  it('refuses a bad batch size and stops when cancelled', async () => {
    const model = lenet300100();
    await expect(measureStableLatency(model, { batchSize: 0 })).rejects.toBeInstanceOf(ConfigError);
    const ac = new AbortController();
    ac.abort();
    await expect(measureStableLatency(model, { fast: false, warmup: 1, signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    model.dispose();
  });

  it('times a parent and its pruned model interleaved, one figure each, saying so', async () => {
    const parent = lenet300100();
    const pruned = lenet300100();
    const start = tf.memory().numTensors;
    const [a, b] = await measureStableLatencies([parent, pruned], { fast: false, warmup: 1, minRuns: 5, maxRuns: 5, budgetMs: 1e9, now: scriptedClock(() => 1) });
    expect([a.runs, b.runs]).toEqual([5, 5]);
    expect(a.measured).toBe('in-app tfjs model, batch 1, timed interleaved');
    expect(b.medianMs).toBe(1);
    expect(tf.memory().numTensors).toBe(start);
    parent.dispose();
    pruned.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { CancelledError, ConfigError } from '../../../../src-main/common/errors';
import { measureLatency, median, percentile } from '../../../../src-main/engine/measure';
import { lenet300100 } from '../../../../src-main/engine/models';

describe('percentile and median', () => {
  it('use nearest rank for p90 and the middle mean for an even median', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(xs, 0.9)).toBe(9);
    expect(percentile(xs, 1)).toBe(10);
    expect(median(xs)).toBe(5.5);
    expect(median([3, 1, 2].sort())).toBe(2);
  });
});

describe('measureLatency', () => {
  it('reports median and p90 from the injected clock, per batch size', async () => {
    const model = lenet300100({ seed: 1 });
    // Each timed run reads the clock at its start and end; durations are 1..10 ms, shuffled.
    const durations = [7, 1, 10, 3, 5, 2, 9, 4, 8, 6];
    const script: number[] = [];
    let clock = 0;
    for (let b = 0; b < 2; b++) {
      for (const d of durations) {
        script.push(clock, clock + d);
        clock += 100;
      }
    }
    let reads = 0;
    const now = () => script[reads++];
    const before = tf.memory().numTensors;
    const res = await measureLatency(model, { batchSizes: [1, 4], warmup: 1, runs: 10, now });
    expect(tf.memory().numTensors).toBe(before);
    expect(res).toHaveLength(2);
    expect(reads).toBe(40);
    for (const [i, r] of res.entries()) {
      expect(r.batchSize).toBe([1, 4][i]);
      expect(r.runs).toBe(10);
      expect(r.medianMs).toBe(5.5);
      expect(r.p90Ms).toBe(9);
      expect(r.minMs).toBe(1);
    }
    expect(res[1].msPerSample).toBe(5.5 / 4);
    model.dispose();
  });

  it('measures real time with performance.now by default', async () => {
    const model = lenet300100();
    const [r] = await measureLatency(model, { batchSizes: [2], warmup: 1, runs: 3 });
    expect(r.medianMs).toBeGreaterThan(0);
    expect(r.p90Ms).toBeGreaterThanOrEqual(r.medianMs);
    model.dispose();
  });

  it('feeds every input of a multi-input model', async () => {
    const a = tf.input({ shape: [3] });
    const b = tf.input({ shape: [5] });
    const cat = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [a, b], outputs: tf.layers.dense({ units: 2 }).apply(cat) as tf.SymbolicTensor });
    const before = tf.memory().numTensors;
    const [r] = await measureLatency(model, { batchSizes: [3], warmup: 0, runs: 2 });
    expect(r.runs).toBe(2);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('validates its options and can be cancelled', async () => {
    const model = lenet300100();
    await expect(measureLatency(model, { batchSizes: [] })).rejects.toBeInstanceOf(ConfigError);
    await expect(measureLatency(model, { batchSizes: [0] })).rejects.toThrow(/positive integers, got 0/);
    await expect(measureLatency(model, { batchSizes: [1], runs: 0 })).rejects.toThrow(/runs/);
    const controller = new AbortController();
    controller.abort();
    const before = tf.memory().numTensors;
    await expect(measureLatency(model, { batchSizes: [1], warmup: 0, signal: controller.signal })).rejects.toBeInstanceOf(
      CancelledError,
    );
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
  it('stops once its time budget is spent, after the minimum number of timed runs', async () => {
    const model = lenet300100({ seed: 1 });
    // A fake clock that advances 100 ms at every read: each run "takes" 100 ms.
    let t = 0;
    const now = () => (t += 100);
    const [r] = await measureLatency(model, { batchSizes: [1], warmup: 10, runs: 50, budgetMs: 1000, minRuns: 3, now });
    expect(r.runs).toBeGreaterThanOrEqual(3);
    expect(r.runs).toBeLessThan(50);
    const [floor] = await measureLatency(model, { batchSizes: [1], warmup: 1, runs: 50, budgetMs: 1, minRuns: 4, now });
    expect(floor.runs).toBe(4);
    model.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { CurveSampler, MAX_CURVE_POINTS, type CurveProgress } from '../../../src-main/app/curve-sampler';

const batch = (epoch: number, b: number, batches: number, loss: number, extra: Partial<CurveProgress> = {}): CurveProgress => ({
  phase: 'batch', epoch, batch: b, batches, loss, accuracy: 1 - loss, sparsity: 0.5, ...extra,
});
const epochEnd = (epoch: number, batches: number, extra: Partial<CurveProgress> = {}): CurveProgress => ({
  phase: 'epoch', epoch, batch: batches - 1, batches, loss: 0, accuracy: 0, sparsity: 0.5, ...extra,
});

function sampler(epochs: number, quality: 'accuracy' | 'r2' = 'accuracy') {
  let t = 1000;
  return new CurveSampler({ epochs, startedAt: 1000, learningRate: 0.001, quality, now: () => (t += 10) });
}

describe('CurveSampler', () => {
  it('records every step of a short run, with step, fractional epoch, wall time and values', () => {
    const s = sampler(2);
    const points = [];
    for (let e = 0; e < 2; e++) {
      for (let b = 0; b < 4; b++) points.push(s.observe(batch(e, b, 4, 0.1 * (b + 1))));
      points.push(s.observe(epochEnd(e, 4, { valLoss: 0.3, valAccuracy: 0.7 })));
    }
    const got = points.filter((p) => p !== undefined);
    expect(got.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(got.map((p) => p.epoch)).toEqual([0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]);
    expect(got[0].values).toEqual({ loss: 0.1, accuracy: 0.9, sparsity: 0.5, lr: 0.001 });
    // The epoch's last step carries the held-out values of that epoch's report.
    expect(got[3].values).toMatchObject({ loss: 0.4, valLoss: 0.3, valAccuracy: 0.7 });
    expect(got[2].values.valLoss).toBeUndefined();
    const walls = got.map((p) => p.wallMs);
    expect(walls).toEqual([...walls].sort((a, b) => a - b));
    expect(walls[0]).toBeGreaterThan(0);
  });

  it('keeps a long run near MAX_CURVE_POINTS points, each the mean of the steps since the previous one', () => {
    const epochs = 10;
    const batches = 938;
    const s = sampler(epochs);
    const got = [];
    for (let e = 0; e < epochs; e++) {
      for (let b = 0; b < batches; b++) {
        const p = s.observe(batch(e, b, batches, (e * batches + b) % 2 === 0 ? 1 : 3));
        if (p) got.push(p);
      }
      const p = s.observe(epochEnd(e, batches));
      if (p) got.push(p);
    }
    expect(got.length).toBeLessThanOrEqual(MAX_CURVE_POINTS + epochs);
    expect(got.length).toBeGreaterThan(MAX_CURVE_POINTS * 0.9);
    expect(got[got.length - 1].step).toBe(epochs * batches);
    // A stride of ceil(9380 / 250) = 38 steps alternating 1 and 3: every full window averages 2.
    expect(got[1].step - got[0].step).toBe(38);
    expect(got[0].values.loss).toBe(2);
  });

  it('names a regressor\'s quality r2 and leaves out values that are not finite', () => {
    const s = sampler(1, 'r2');
    const p = s.observe(batch(0, 0, 1, Number.NaN, { accuracy: 0.4 }));
    expect(p).toBeUndefined();
    const end = s.observe(epochEnd(0, 1, { valLoss: Number.POSITIVE_INFINITY, valAccuracy: 0.2 }));
    expect(end?.values).toEqual({ r2: 0.4, sparsity: 0.5, lr: 0.001, valR2: 0.2 });
  });

  it('flushes the steps of an epoch that stopped early (a diverged run), and ignores pruning reports', () => {
    const s = sampler(1);
    expect(s.observe({ ...batch(0, 0, 1000, 0.5), phase: 'prune' })).toBeUndefined();
    expect(s.observe(batch(0, 0, 1000, 0.5))).toBeUndefined();
    expect(s.observe(batch(0, 1, 1000, 1.5))).toBeUndefined();
    const p = s.flush();
    expect(p).toMatchObject({ step: 2, epoch: 0.002, values: { loss: 1 } });
    expect(s.flush()).toBeUndefined();
  });
});

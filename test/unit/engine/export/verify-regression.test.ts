import { describe, expect, it } from 'vitest';
import { compareRegression } from '../../../../src-main/engine/export/verify-regression';

const targets = Float32Array.from({ length: 100 }, (_, i) => i / 10); // std ~2.89
const ref = Float32Array.from(targets, (t) => t + 0.3);

describe('regression verification', () => {
  it('float32 passes on rounding-level differences and fails on a real one', () => {
    const close = Float32Array.from(ref, (v) => v + 1e-6);
    expect(compareRegression(ref, close, targets, 'none', 100).passed).toBe(true);
    const off = Float32Array.from(ref, (v, i) => (i === 7 ? v + 0.01 : v));
    const r = compareRegression(ref, off, targets, 'none', 100);
    expect(r.passed).toBe(false);
    expect(r.reason).toMatch(/max \|diff\|/);
    expect(r.maxAbsDiff).toBeCloseTo(0.01, 4);
  });

  it('8-bit modes are judged on mean |diff| and the MAE increase relative to the targets std', () => {
    const r = compareRegression(ref, Float32Array.from(ref, (v, i) => v + (i % 2 ? 0.05 : -0.05)), targets, 'int8', 100);
    expect(r.scale).toBeCloseTo(2.887, 2);
    expect(r.passed).toBe(true);
    expect(r.mae).toBeCloseTo(0.3, 2);
    expect(r.referenceMae).toBeCloseTo(0.3, 5);
    const worse = compareRegression(ref, Float32Array.from(ref, (v) => v + 0.3), targets, 'int8', 100);
    expect(worse.passed).toBe(false);
    expect(worse.reason).toMatch(/mean \|diff\| .*MAE 0\.6/);
  });

  it('without targets the scale is the outputs std and no MAE is claimed', () => {
    const r = compareRegression(ref, ref, undefined, 'uint8', 100);
    expect(r.mae).toBeNull();
    expect(r.rule).toMatch(/std of the in-app outputs/);
    expect(r.passed).toBe(true);
  });
});

import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { analyzeModel } from '../../../../src-main/engine/analyze';
import { lenet300100 } from '../../../../src-main/engine/models';
import { modelCost, percentChange, speedVerdict, type SpeedReceipt } from '../../../../src-main/engine/measure/receipt';

const ratios = (r: Partial<SpeedReceipt['ratios']>): SpeedReceipt['ratios'] => ({ latency: 1, macs: 1, nonZeroMacs: 1, params: 1, nonZeros: 1, bytes: 1, ...r });

describe('percentChange', () => {
  it('rounds to whole percent with a sign', () => {
    expect(percentChange(0.5)).toBe('-50%');
    expect(percentChange(1.031)).toBe('+3%');
    expect(percentChange(1.001)).toBe('±0%');
    expect(percentChange(NaN)).toBe('n/a');
  });
});

describe('speedVerdict', () => {
  it('blames unstructured sparsity when non-zero MACs fall and latency does not', () => {
    const v = speedVerdict({ ratios: ratios({ nonZeroMacs: 0.2, latency: 1.05 }), granularity: 'unstructured', parentMs: 2, unstable: false });
    expect(v.agrees).toBe(false);
    expect(v.verdict).toMatch(/^non-zero MACs -80%, latency \+5%: the runtime does not use unstructured sparsity/);
  });

  it('names the sparse-check failures when given', () => {
    const v = speedVerdict({ ratios: ratios({ nonZeroMacs: 0.2 }), granularity: 'unstructured', parentMs: 2, unstable: false, sparseFailures: ['weights not stored sparse'] });
    expect(v.verdict).toContain('weights not stored sparse');
  });

  it('blames odd widths for a structured prune whose latency barely moved', () => {
    const v = speedVerdict({ ratios: ratios({ macs: 0.5, nonZeroMacs: 0.5, latency: 0.97 }), granularity: 'structured', keptWidths: [13, 32, 27], parentMs: 3, unstable: false });
    expect(v.agrees).toBe(false);
    expect(v.verdict).toMatch(/^MACs -50%, latency -3%: kept widths 13, 27 are not multiples/);
    expect(v.verdict).toContain('--round-to');
  });

  it('blames fixed per-call cost for a tiny model', () => {
    const v = speedVerdict({ ratios: ratios({ macs: 0.5, nonZeroMacs: 0.5, latency: 0.9 }), granularity: 'structured', keptWidths: [16, 32], parentMs: 0.1, unstable: false });
    expect(v.verdict).toContain('fixed per-call cost');
  });

  it('agrees when latency falls at least half as much as the MACs, and marks unstable timings', () => {
    const v = speedVerdict({ ratios: ratios({ macs: 0.5, nonZeroMacs: 0.5, latency: 0.7 }), granularity: 'structured', keptWidths: [16], parentMs: 3, unstable: true });
    expect(v.agrees).toBe(true);
    expect(v.verdict).toMatch(/latency follows the MACs/);
    expect(v.verdict).toMatch(/unstable/);
  });

  it('flags a file that got slower without less work', () => {
    const v = speedVerdict({ ratios: ratios({ latency: 1.3 }), granularity: 'structured', parentMs: 3, unstable: false });
    expect(v.agrees).toBe(false);
    expect(v.verdict).toMatch(/slower/);
  });
});

describe('modelCost', () => {
  it('scales each layer\'s MACs by its kernel non-zero fraction', () => {
    const model = lenet300100({ seed: 1 });
    const dense = modelCost(analyzeModel(model));
    expect(dense.nonZeroMacs).toBeCloseTo(dense.macs, 0);
    // Zero the first Dense kernel (784x300, most of the MACs).
    const first = model.layers.find((l) => l.getClassName() === 'Dense')!;
    const w = first.getWeights();
    expect(w[0].shape).toEqual([784, 300]);
    const zeros = tf.zerosLike(w[0]);
    first.setWeights([zeros, w[1]]);
    zeros.dispose();
    const pruned = modelCost(analyzeModel(model));
    expect(pruned.macs).toBe(dense.macs);
    expect(pruned.nonZeroMacs).toBeCloseTo(dense.macs - 784 * 300, 0);
    model.dispose();
  });
});

describe('speedVerdict with the sparse check', () => {
  it('says the runtime build is suspect when the file meets the sparse rules and latency did not follow', () => {
    const v = speedVerdict({ ratios: ratios({ nonZeroMacs: 0.2 }), granularity: 'unstructured', parentMs: 2, unstable: false, sparseFailures: [] });
    expect(v.agrees).toBe(false);
    expect(v.verdict).toMatch(/meets XNNPACK's sparse-inference rules/);
  });
});

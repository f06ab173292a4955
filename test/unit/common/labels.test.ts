import { describe, expect, it } from 'vitest';
import { countShort, msValue, percentShort } from '../../../src-main/common/format';
import { configChange, formatConfigValue, formatMetric, formatMetricDelta, formatTick, metricLabel, niceTicks, orderMetrics } from '../../../src-main/common/labels';

describe('metric labels and formats', () => {
  it('names every recorded metric for people, with its unit', () => {
    expect(metricLabel('gzipBytes')).toBe('Size (gzip)');
    expect(metricLabel('latencyBatchMs')).toBe('Latency, batch (ms)');
    expect(metricLabel('sizeBytes')).toBe('Size in memory (float32)');
    expect(metricLabel('shippedBytes')).toBe('Size (shipped file)');
    expect(metricLabel('accuracy')).toBe('Accuracy');
  });

  it('labels an unknown metric from its name instead of showing the identifier', () => {
    expect(metricLabel('arenaBytes')).toBe('Arena');
    expect(metricLabel('warmupMs')).toBe('Warmup (ms)');
    expect(formatMetric('arenaBytes', 2048)).toBe('2.0 KiB');
  });

  it('formats values in their unit: percent, KiB/MiB, counts, ms', () => {
    expect(formatMetric('accuracy', 0.9123)).toBe('91.23 %');
    expect(formatMetric('gzipBytes', 71_577)).toBe('69.9 KiB');
    expect(formatMetric('sizeBytes', 3 * 1024 * 1024)).toBe('3.00 MiB');
    expect(formatMetric('params', 61_706)).toBe('61,706');
    expect(formatMetric('latencyMs', 0.4567)).toBe('0.46');
    expect(formatMetric('accuracy', null)).toBe('-');
  });

  it('writes deltas signed, fractions in points', () => {
    expect(formatMetricDelta('accuracy', -0.0123)).toBe('−1.23 pts');
    expect(formatMetricDelta('sizeBytes', 2048)).toBe('+2.0 KiB');
    expect(formatMetricDelta('sizeBytes', 0)).toBe('same');
  });

  it('orders known metrics as tables list them, unknown ones after', () => {
    expect(orderMetrics(['zeta', 'sizeBytes', 'accuracy', 'alpha'])).toEqual(['accuracy', 'sizeBytes', 'alpha', 'zeta']);
  });

  it('makes nice axis ticks covering the range, KiB-aligned for sizes', () => {
    const acc = niceTicks(0.81, 0.93, 'accuracy');
    expect(acc[0]).toBeLessThanOrEqual(0.81);
    expect(acc[acc.length - 1]).toBeGreaterThanOrEqual(0.93);
    expect(acc.map((t) => formatTick('accuracy', t))).toEqual(['80%', '82.5%', '85%', '87.5%', '90%', '92.5%', '95%']);
    const size = niceTicks(40_000, 250_000, 'sizeBytes');
    expect(size.every((t) => t % 1024 === 0)).toBe(true);
    expect(size.map((t) => formatTick('sizeBytes', t))).toContain('100 KiB');
    expect(niceTicks(5, 5, 'latencyMs').length).toBeGreaterThan(1);
  });
});

describe('config values without JSON', () => {
  it('writes scalars, shapes, lists and objects readably', () => {
    expect(formatConfigValue('prune.sparsity', 0.8)).toBe('0.8 (80 %)');
    expect(formatConfigValue('prune.epochs', 2)).toBe('2');
    expect(formatConfigValue('inputShape', [28, 28, 1])).toBe('28 × 28 × 1');
    expect(formatConfigValue('exports', [{ format: 'tflite', quant: 'int8' }])).toBe('format: tflite, quant: int8');
    expect(formatConfigValue('profile', null)).toBe('none');
    expect(formatConfigValue('sensitivity', false)).toBe('no');
  });

  it('describes a change as before → after, or same', () => {
    expect(configChange('prune.sparsity', 0.5, 0.8)).toBe('0.5 (50 %) → 0.8 (80 %)');
    expect(configChange('prune.method', 'magnitude', 'taylor')).toBe('magnitude → taylor');
    expect(configChange('seed', 1, 1)).toBe('same');
    expect(configChange('name', null, 'b', { before: true })).toBe('(not set) → b');
  });
});

describe('short number forms (common/format.ts) for axes and unit-labelled columns', () => {
  it('msValue keeps small latencies readable', () => {
    expect(msValue(1.2345)).toBe('1.23');
    expect(msValue(0.04539)).toBe('0.045');
    expect(msValue(0)).toBe('0.00');
    expect(msValue(Number.NaN)).toBe('-');
  });

  it('percentShort and countShort drop trailing zeros', () => {
    expect(percentShort(0.825)).toBe('82.5%');
    expect(percentShort(0.8)).toBe('80%');
    expect(countShort(416_520)).toBe('416.5k');
    expect(countShort(3_400_000)).toBe('3.4M');
    expect(countShort(950)).toBe('950');
  });
});

import { describe, expect, it } from 'vitest';
import { bytes, count, duration, inferencePath, latencyChange, MISSING, ms, percent, readable, runPaths, table, timing, trainingPath } from '../../../src-main/common/format';

describe('formatters', () => {
  it('bytes use binary units: whole B, KiB with one decimal, MiB with two', () => {
    expect([0, 1023, 1024, 1536, 1024 * 1024 - 1, 3 * 1024 * 1024].map(bytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '1024.0 KiB', '3.00 MiB']);
    expect(bytes(-2048)).toBe('-2.0 KiB');
  });

  it('missing or non-finite values print as the missing mark, never NaN or undefined', () => {
    for (const v of [undefined, null, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect([bytes(v), count(v), percent(v), ms(v), duration(v)]).toEqual([MISSING, MISSING, MISSING, MISSING, MISSING]);
    }
  });

  it('counts, percentages, milliseconds and durations', () => {
    expect(count(1234567.4)).toBe('1,234,567');
    expect(percent(0.12345)).toBe('12.35 %');
    expect(percent(0.5, 1, '')).toBe('50.0%');
    expect(ms(1.23456)).toBe('1.235 ms');
    expect(ms(1.23456, 2)).toBe('1.23 ms');
    expect([duration(59.4), duration(125)]).toEqual(['59 s', '2 min 5 s']);
  });

  it('table pads columns to the widest cell, right-aligns where asked, and sets a footer off with a rule', () => {
    expect(table(['name', 'n'], [['a', 10], ['bbb', 2]], [false, true])).toBe('name   n\n----  --\na     10\nbbb    2');
    expect(table(['k', 'v'], [['x', 'y']], [], { rule: false })).toBe('k  v\nx  y');
    expect(table(['k', 'v'], [['x', '1']], [false, true], { footer: [['total', '1']] })).toBe('k      v\n-----  -\nx      1\n-----  -\ntotal  1');
  });
});

describe('latency figures', () => {
  const stable = (medianMs: number, runtime = 'tfjs') => ({ medianMs, iqrMs: 0.2, unstable: false, runtime });
  it('timing writes median ± half the IQR and flags an unstable figure', () => {
    expect(timing(stable(1.234))).toBe('1.23 ms ± 0.10');
    expect(timing({ ...stable(14.8), unstable: true })).toBe('14.80 ms ± 0.10 (unstable)');
    expect(timing(undefined)).toBe(MISSING);
    expect(bytes(2048 * 1024 * 1024)).toBe('2.00 GiB');
    expect(timing({ medianMs: 0.045, iqrMs: 0.004, unstable: false })).toBe('0.045 ms ± 0.002');
  });
  it('latencyChange is a ratio only between two stable figures of the same runtime', () => {
    expect(latencyChange(stable(2), stable(1))).toBe('×0.50');
    // The case: 14.8 ms vs 0.45 ms from unsettled timings is not a speed-up.
    expect(latencyChange({ ...stable(14.8), unstable: true }, stable(0.45))).toBe('unstable');
    expect(latencyChange(stable(2), { ...stable(1), unstable: true })).toBe('unstable');
    expect(latencyChange(stable(2, 'tfjs'), stable(1, 'native'))).toBe('not comparable');
    expect(latencyChange(stable(0), stable(1))).toBe(MISSING);
  });
});

describe('run paths (what trained, evaluated and timed a run)', () => {
  it('says the native step, or the tfjs step with its reason and memory note', () => {
    expect(trainingPath({ path: 'native', note: 'native graph step' })).toBe('native graph step');
    expect(trainingPath({ path: 'tfjs', note: 'conv1 is dilated', memoryNote: 'micro-batches of 16' })).toBe('tfjs step (conv1 is dilated); micro-batches of 16');
    expect(trainingPath(undefined)).toBeUndefined();
    expect(trainingPath({ path: 'tfjs', backend: 'webgl', adapter: 'ANGLE (SwiftShader Device)', software: true })).toBe('webgl on ANGLE (SwiftShader Device) (software rendering), tfjs step');
    expect(trainingPath({ path: 'tfjs', backend: 'webgpu', adapter: 'nvidia ada', software: false })).toBe('webgpu on nvidia ada, tfjs step');
  });

  it('names one path when evaluation and latency agree, both when not, and the baseline only where it differs', () => {
    const native = { evaluate: 'native graph step', latency: 'native graph step' };
    expect(inferencePath({ baseline: native, final: native })).toBe('native graph step');
    expect(inferencePath({ final: { evaluate: 'tfjs', latency: 'native graph step' } })).toBe('evaluated by tfjs, latency by native graph step');
    expect(inferencePath({ baseline: { evaluate: 'tfjs', latency: 'tfjs' }, final: native })).toBe('native graph step (before pruning: tfjs)');
    expect(inferencePath({})).toBeUndefined();
  });

  it('reads a stored summary defensively and joins both on one line', () => {
    const summary = { training: [{ path: 'native', note: 'native graph step' }], inference: { final: { evaluate: 'tfjs', latency: 'tfjs' } } };
    expect(runPaths(summary)).toBe('fine-tuned by native graph step · inference by tfjs');
    expect(runPaths({ training: 'garbage', inference: 3 })).toBeUndefined();
    expect(runPaths(null)).toBeUndefined();
  });

  it('readable: counts with separators, four significant digits, exponents at the extremes', () => {
    expect(readable(61706)).toBe('61,706');
    expect(readable(0)).toBe('0');
    expect(readable(0.02944)).toBe('0.02944');
    expect(readable(0.1)).toBe('0.1');
    expect(readable(3.14159)).toBe('3.142');
    expect(readable(0.0000123)).toBe('1.230e-5');
    expect(readable(2.5e7 + 0.5)).toBe('2.500e+7');
    expect(readable(null)).toBe(MISSING);
    expect(readable(NaN)).toBe(MISSING);
  });
});

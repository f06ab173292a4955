import { describe, expect, it } from 'vitest';
import { latencyLines } from '../../../src-main/cli/format';
import type { LatencyFigure } from '../../../src-main/common/contract';

const figure = (medianMs: number, measured: string, unstable = false, runtime = 'tfjs'): LatencyFigure => ({
  medianMs, iqrMs: 0.02, madMs: 0.01, p25Ms: medianMs - 0.01, p75Ms: medianMs + 0.01, minMs: medianMs - 0.02, runs: 40, ciRel: unstable ? 0.2 : 0.01, unstable, batch: 1, runtime, measured,
});

describe('latencyLines', () => {
  it('lists the exported file in LiteRT first, and says unstable instead of a ratio of noise', () => {
    const file = 'exported .tflite (int8) in LiteRT, batch 1';
    const app = 'in-app tfjs model, batch 1';
    const text = latencyLines({
      inApp: { before: figure(14.8, app, true), after: figure(0.45, app) },
      exported: { quant: 'int8', before: figure(0.2, file, false, 'litert'), after: figure(0.1, file, false, 'litert') },
    });
    expect(text.split('\n')).toEqual([
      `latency, ${file}: 0.200 ms ± 0.010 -> 0.100 ms ± 0.010 (×0.50)`,
      `latency, ${app}: 14.800 ms ± 0.010 (unstable) -> 0.450 ms ± 0.010 (unstable)`,
    ]);
  });
  it('is empty for runs recorded before latency figures existed', () => {
    expect(latencyLines(undefined)).toBe('');
  });
});

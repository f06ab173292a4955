import { describe, expect, it } from 'vitest';
import { curveOrEpochs, formatX, mergeCurve, runColor, valuesPresent, varies, xOf } from '../../../src-renderer/lib/curves';
import type { CurvePoint } from '../../../src-main/common/contract';

const pt = (step: number, loss: number, extra: Record<string, number> = {}): CurvePoint => ({ step, epoch: step / 10, wallMs: step * 100, values: { loss, lr: 0.001, ...extra } });

describe('renderer curve helpers', () => {
  it('merges stored and live points by step, in step order, the newer point winning', () => {
    const stored = [pt(1, 1), pt(2, 0.9)];
    const live = [pt(3, 0.8), pt(2, 0.85)];
    expect(mergeCurve(stored, live).map((p) => [p.step, p.values.loss])).toEqual([[1, 1], [2, 0.85], [3, 0.8]]);
  });

  it('reads the x value and its label for each axis', () => {
    const p = pt(12, 1);
    expect([xOf(p, 'step'), xOf(p, 'epoch'), xOf(p, 'wall')]).toEqual([12, 1.2, 1200]);
    expect([formatX(12, 'step'), formatX(1.25, 'epoch'), formatX(2, 'epoch'), formatX(4230, 'wall'), formatX(125_000, 'wall')]).toEqual(['12', '1.25', '2', '4.2 s', '2 min 5 s']);
  });

  it('names the values present and whether a value changes; colours differ between runs', () => {
    const runs = [{ points: [pt(1, 1, { accuracy: 0.5 }), pt(2, 0.5, { accuracy: 0.6 })] }];
    expect(valuesPresent(runs).map((v) => v.name)).toEqual(['loss', 'accuracy', 'lr']);
    expect(varies(runs, 'lr')).toBe(false);
    expect(varies(runs, 'loss')).toBe(true);
    expect(new Set([0, 1, 2, 3, 4, 5].map(runColor)).size).toBe(6);
  });

  it('turns the per-epoch series of a run recorded before curves into one point per epoch', () => {
    const metrics = [
      { phase: 'baseline', name: 'accuracy', points: [{ step: 0, epoch: null, value: 0.9, time: 1000 }] },
      { phase: 'train', name: 'loss', points: [{ step: 1, epoch: 1, value: 0.5, time: 3000 }, { step: 2, epoch: 2, value: 0.4, time: 5000 }] },
      { phase: 'val', name: 'accuracy', points: [{ step: 1, epoch: 1, value: 0.8, time: 3000 }] },
    ];
    expect(curveOrEpochs([], metrics, new Date(1000).toISOString())).toEqual([
      { step: 1, epoch: 1, wallMs: 2000, values: { loss: 0.5, valAccuracy: 0.8 } },
      { step: 2, epoch: 2, wallMs: 4000, values: { loss: 0.4 } },
    ]);
    expect(curveOrEpochs([pt(1, 1)], metrics, null)).toEqual([pt(1, 1)]);
  });
});

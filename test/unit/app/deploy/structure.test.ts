import { describe, expect, it } from 'vitest';
import { layerStructure, layerWidths, unitOf } from '../../../../src-main/app/deploy/structure';
import type { LayerResultRecord } from '../../../../src-main/common/contract';

const row = (layer: string, className: string, phase: 'before' | 'after', params: number, nonZeros: number, macs: number): LayerResultRecord => ({
  layer, className, phase, params, nonZeros, macs, sparsity: params ? 1 - nonZeros / params : 0, sensitivity: null,
});

describe('per-layer structure', () => {
  it('records output widths of layers with weights, before and after', () => {
    const w = layerWidths(
      [{ name: 'conv1', outputShape: [null, 24, 24, 16], params: 416 }, { name: 'flat', outputShape: [null, 9216], params: 0 }, { name: 'fc', outputShape: [null, 10], params: 92170 }],
      [{ name: 'conv1', outputShape: [null, 24, 24, 8], params: 208 }, { name: 'fc', outputShape: [null, 10], params: 46090 }],
    );
    expect(w).toEqual({ conv1: { before: 16, after: 8 }, fc: { before: 10, after: 10 } });
  });

  it('a structured run shows width, params and MACs before -> after and the fraction kept, not 0 % sparsity alone', () => {
    const rows = layerStructure(
      [row('conv1', 'Conv2D', 'before', 416, 416, 1000), row('fc', 'Dense', 'before', 1000, 1000, 1000), row('conv1', 'Conv2D', 'after', 208, 208, 500), row('fc', 'Dense', 'after', 500, 500, 500)],
      { conv1: { before: 16, after: 8 }, fc: { before: 100, after: 50 } },
    );
    expect(rows[0]).toMatchObject({ layer: 'conv1', unit: 'filters', widthBefore: 16, widthAfter: 8, paramsBefore: 416, paramsAfter: 208, macsBefore: 1000, macsAfter: 500, sparsityAfter: 0, keptFraction: 0.5, removed: false });
    expect(rows[1]).toMatchObject({ unit: 'units', widthBefore: 100, widthAfter: 50 });
  });

  it('an unstructured run keeps widths and shows the weights kept', () => {
    const [r] = layerStructure([row('fc', 'Dense', 'before', 1000, 1000, 1000), row('fc', 'Dense', 'after', 1000, 100, 1000)], { fc: { before: 100, after: 100 } });
    expect(r).toMatchObject({ widthBefore: 100, widthAfter: 100, keptFraction: 0.1, sparsityAfter: 0.9 });
  });

  it('a layer gone after pruning is marked removed; runs without recorded widths have none', () => {
    const rows = layerStructure([row('a', 'Dense', 'before', 10, 10, 10), row('b', 'Dense', 'before', 10, 10, 10), row('b', 'Dense', 'after', 10, 10, 10)]);
    expect(rows[0]).toMatchObject({ removed: true, paramsAfter: 0, keptFraction: 0, widthBefore: null, unit: null });
    expect(rows[1].removed).toBe(false);
  });

  it('names what a width counts', () => {
    expect(unitOf('Conv2D')).toBe('filters');
    expect(unitOf('DepthwiseConv2D')).toBe('channels');
    expect(unitOf('Dense')).toBe('units');
  });
});

/**
 * What pruning changed per layer: output width before -> after (units, filters or channels kept),
 * params and MACs before and after, and the fraction of weights kept. Structured pruning removes
 * units, so its per-layer sparsity stays 0 while the widths shrink; this is where that shows.
 * Pure: reads the stored per-layer rows and the widths the run pipeline records in its summary.
 */
import type { LayerResultRecord, LayerStructureRow, LayerWidths } from '../../common/contract';

/** The analysis fields widths are read from. */
export interface ShapedLayer {
  name: string;
  outputShape: readonly (number | null)[];
  params: number;
}

/** Last output dimension of every layer with weights, before and after, by layer name. */
export function layerWidths(before: readonly ShapedLayer[], after: readonly ShapedLayer[]): LayerWidths {
  const width = (l: ShapedLayer | undefined): number | null => {
    const d = l?.outputShape[l.outputShape.length - 1];
    return typeof d === 'number' ? d : null;
  };
  const afterByName = new Map(after.map((l) => [l.name, l]));
  const out: LayerWidths = {};
  for (const l of before) {
    if (l.params === 0) continue;
    out[l.name] = { before: width(l), after: afterByName.has(l.name) ? width(afterByName.get(l.name)) : null };
  }
  return out;
}

/** What a layer's output width counts. @example unitOf('Conv2D') // 'filters' */
export function unitOf(className: string): LayerStructureRow['unit'] {
  if (/^(Conv|SeparableConv)/.test(className)) return 'filters';
  if (/^(Dense|LSTM|GRU|SimpleRNN|Embedding)/.test(className)) return 'units';
  return 'channels';
}

const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);

/**
 * One row per layer with weights, in the order of the `before` rows.
 * @example layerStructure(run.layers, run.summary?.widths)[0] // { layer: 'conv1', widthBefore: 16, widthAfter: 8, ... }
 */
export function layerStructure(rows: readonly LayerResultRecord[], widths?: LayerWidths | null): LayerStructureRow[] {
  const before = rows.filter((r) => r.phase === 'before');
  const after = new Map(rows.filter((r) => r.phase === 'after').map((r) => [r.layer, r]));
  const finished = after.size > 0;
  return before
    .filter((b) => b.params > 0)
    .map((b) => {
      const a = after.get(b.layer);
      const w = widths?.[b.layer];
      const nonZerosAfter = a ? a.nonZeros : finished ? 0 : null;
      return {
        layer: b.layer,
        className: b.className,
        unit: w && w.before !== null ? unitOf(b.className) : null,
        widthBefore: w?.before ?? null,
        widthAfter: w ? w.after : null,
        paramsBefore: b.params,
        paramsAfter: a ? a.params : finished ? 0 : null,
        macsBefore: b.macs,
        macsAfter: a ? a.macs : finished ? 0 : null,
        nonZerosAfter,
        sparsityAfter: a ? a.sparsity : null,
        keptFraction: ratio(nonZerosAfter, b.params),
        removed: finished && !a,
      };
    });
}

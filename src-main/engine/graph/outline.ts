/**
 * The model's graph as a run records it (summary.graph): every layer in topological order with the
 * layers feeding it, its width (the output's last axis: units, filters, channels) and sparsity in
 * the original and in the pruned model, so a view can draw the graph original vs pruned side by side.
 */
import type { ModelAnalysis } from '../analyze';
import type { ModelOutline, OutlineNode } from '../../common/contract/classes';

function width(shape: readonly (number | null)[]): number | null {
  const d = shape[shape.length - 1];
  return shape.length >= 2 && typeof d === 'number' ? d : null;
}

/**
 * Joins the analyses of the original and the pruned model by layer name (structured pruning keeps
 * names; a layer missing from the pruned model gets null "after" fields). Inputs name layers only:
 * the model input (`input`, Sequential's hidden InputLayer) is left out.
 * @example modelOutline(analyzeModel(original), analyzeModel(pruned)).nodes[0] // { name: 'conv1', widthBefore: 6, widthAfter: 3, ... }
 */
export function modelOutline(before: ModelAnalysis, after: ModelAnalysis): ModelOutline {
  const layers = new Set(before.layers.filter((l) => l.className !== 'InputLayer').map((l) => l.name));
  const pruned = new Map(after.layers.map((l) => [l.name, l]));
  const nodes: OutlineNode[] = before.layers
    .filter((l) => l.className !== 'InputLayer')
    .map((l) => {
      const a = pruned.get(l.name);
      return {
        name: l.name,
        className: l.className,
        inputs: l.inbound.filter((n) => layers.has(n)),
        widthBefore: width(l.outputShape),
        widthAfter: a ? width(a.outputShape) : null,
        paramsBefore: l.params,
        paramsAfter: a ? a.params : null,
        sparsityBefore: l.sparsity,
        sparsityAfter: a ? a.sparsity : null,
      };
    });
  return { nodes };
}

/**
 * Channel dependency graph over a tfjs LayersModel (Sequential or functional), after DepGraph
 * (Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023).
 *
 * Every producer (Dense units, Conv filters) creates a channel space; layouts then track, for each
 * tensor, which spaces its last axis is made of (concatenation appends segments, DepthwiseConv2D
 * repeats them, Flatten spreads them over spatial positions). Element-wise merges (a residual Add)
 * join spaces into one group with union-find, so their channels are removed together.
 */
import type * as tf from '@tensorflow/tfjs';
import { UnsupportedLayerError } from '../../common/errors';
import { LAYER_RULES, layoutWidth, unknownRule } from './rules';
import type { ChannelGroup, ChannelSpace, DependencyGraph, GraphNode, Layout, LayerRule, RuleContext } from './types';

type Shape = (number | null)[];

function isShapeList(shape: Shape | Shape[]): shape is Shape[] {
  return Array.isArray(shape[0]);
}

function ruleFor(layer: tf.layers.Layer): LayerRule {
  if (layer.inboundNodes.length > 1) return unknownRule(`is called ${layer.inboundNodes.length} times (shared layers are not supported)`);
  if (isShapeList(layer.outputShape as Shape | Shape[])) return unknownRule('has several outputs');
  const className = layer.getClassName();
  return LAYER_RULES.get(className) ?? unknownRule(`no structured-pruning rule for class ${className}`);
}

/** The model's layers in topological order, input layers included (Sequential hides its input). */
function orderedLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const seen = new Set<string>();
  const out: tf.layers.Layer[] = [];
  for (const layer of [...model.inputs.map((t) => t.sourceLayer as tf.layers.Layer), ...model.layers]) {
    if (seen.has(layer.name)) continue;
    seen.add(layer.name);
    out.push(layer);
  }
  return out;
}

/**
 * Builds the dependency graph of `model`. Never throws for unsupported layers: they become
 * refusals on the groups they read (see `ChannelGroup.refusals`), checked when pruning.
 * @example
 * const g = buildDependencyGraph(model);
 * g.groups.filter((gr) => !gr.fixed).map((gr) => gr.producers); // [['conv1', 'conv2'], ['dense1']]
 */
export function buildDependencyGraph(model: tf.LayersModel): DependencyGraph {
  const spaces: ChannelSpace[] = [];
  const parent: number[] = [];
  const refusals = new Map<number, string[]>();
  /** Layers whose rule refused them (their input channels are refused, not rewritten). */
  const refused = new Set<string>();
  const root = (s: number): number => {
    while (parent[s] !== s) {
      parent[s] = parent[parent[s]];
      s = parent[s];
    }
    return s;
  };
  const union = (a: number, b: number): void => {
    const ra = root(a);
    const rb = root(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const newSpace = (owner: string, size: number, fixed?: string): number => {
    const id = spaces.length;
    spaces.push(fixed === undefined ? { id, size, owner } : { id, size, owner, fixed });
    parent.push(id);
    return id;
  };

  const nodes: GraphNode[] = [];
  const byName = new Map<string, GraphNode>();
  for (const layer of orderedLayers(model)) {
    const inbound = layer.inboundNodes[0];
    const inputs = inbound ? inbound.inboundLayers.map((l) => l.name) : [];
    const inputLayouts = inputs.map((name) => {
      const source = byName.get(name);
      if (!source) throw new UnsupportedLayerError(`layer "${layer.name}" reads "${name}", which is not part of the model`);
      return source.outputLayout;
    });
    let rule = ruleFor(layer);
    const outputShape = layer.outputShape as Shape;
    const ctx: RuleContext = {
      node: { name: layer.name, className: layer.getClassName(), layer },
      inputLayouts,
      outputShape,
      inputShapes: inputs.map((name) => byName.get(name)!.layer.outputShape as Shape),
      config: layer.getConfig() as Record<string, unknown>,
      newSpace: (size, fixed) => newSpace(layer.name, size, fixed),
      union,
    };
    let result: { layout: Layout; ownSpace?: number };
    try {
      result = rule.layout(ctx);
    } catch (err) {
      if (!(err instanceof UnsupportedLayerError)) throw err;
      for (const layout of inputLayouts) {
        for (const seg of layout.segments) refusals.set(seg.space, [...(refusals.get(seg.space) ?? []), err.message]);
      }
      const size = isShapeList(layer.outputShape as Shape | Shape[]) ? 0 : (outputShape[outputShape.length - 1] ?? 0);
      const space = newSpace(layer.name, size, `produced by "${layer.name}" (${layer.getClassName()}), which cannot be pruned`);
      result = { layout: { segments: [{ space, length: size, repeat: 1 }], positions: 1 } };
      rule = unknownRule(err.message);
      refused.add(layer.name);
    }
    const node: GraphNode = {
      layer,
      name: layer.name,
      className: layer.getClassName(),
      inputs,
      inputLayouts,
      outputLayout: result.layout,
      rule,
      ...(result.ownSpace === undefined ? {} : { ownSpace: result.ownSpace }),
    };
    nodes.push(node);
    byName.set(layer.name, node);
  }

  // The model's outputs keep every channel: the caller's contract (class count, ...) depends on them.
  for (const t of model.outputs) {
    const node = byName.get(t.sourceLayer.name)!;
    for (const seg of node.outputLayout.segments) {
      const space = spaces[seg.space];
      if (space.fixed === undefined) space.fixed = `feeds model output "${node.name}"`;
    }
    // An output layer that cannot be pruned (a Softmax layer after the logits Dense) keeps its
    // inputs' channels too: they are the output's channels, so they are fixed, not a refusal.
    if (!refused.has(node.name)) continue;
    for (const layout of node.inputLayouts) {
      for (const seg of layout.segments) {
        const space = spaces[seg.space];
        if (space.fixed === undefined) space.fixed = `feeds model output "${node.name}" (${node.className})`;
      }
    }
  }

  const groups = new Map<number, ChannelGroup>();
  for (const space of spaces) {
    const r = root(space.id);
    let g = groups.get(r);
    if (!g) {
      g = { id: r, size: space.size, spaces: [], producers: [], consumers: [], followers: [], refusals: [] };
      groups.set(r, g);
    }
    g.spaces.push(space.id);
    if (space.fixed !== undefined && g.fixed === undefined) g.fixed = space.fixed;
    for (const why of refusals.get(space.id) ?? []) if (!g.refusals.includes(why)) g.refusals.push(why);
  }
  for (const node of nodes) {
    if (node.rule.role === 'producer' && node.ownSpace !== undefined) groups.get(root(node.ownSpace))!.producers.push(node.name);
    const read = new Set(node.inputLayouts.flatMap((l) => l.segments.map((s) => root(s.space))));
    for (const r of read) {
      const g = groups.get(r)!;
      if (node.rule.role === 'producer') g.consumers.push(node.name);
      else if (node.rule.role === 'follower') g.followers.push(node.name);
    }
  }

  return {
    nodes,
    spaces,
    root,
    groups: [...groups.values()].sort((a, b) => a.id - b.id),
    node(name) {
      const n = byName.get(name);
      if (!n) throw new UnsupportedLayerError(`no layer named "${name}" in the model`);
      return n;
    },
  };
}

/**
 * Tensor-channel indices that survive along a layout's last axis, given the kept local channels of
 * each pruned group (keyed by group id). Returns null when nothing along this axis changes.
 * @example
 * // A concat of group 0 (4 channels, keep [1,3]) and group 5 (2 channels, untouched), then Flatten
 * // over 2 positions: rows p*6 + c -> [1,3,4,5, 7,9,10,11]
 */
export function keptIndices(graph: DependencyGraph, layout: Layout, keptByGroup: ReadonlyMap<number, Int32Array>): Int32Array | null {
  if (!layout.segments.some((s) => keptByGroup.has(graph.root(s.space)))) return null;
  const channels: number[] = [];
  let offset = 0;
  for (const seg of layout.segments) {
    const kept = keptByGroup.get(graph.root(seg.space));
    const count = kept ? kept.length : seg.length;
    for (let k = 0; k < count; k++) {
      const i = kept ? kept[k] : k;
      for (let j = 0; j < seg.repeat; j++) channels.push(offset + i * seg.repeat + j);
    }
    offset += seg.length * seg.repeat;
  }
  const width = layoutWidth(layout);
  const out = new Int32Array(channels.length * layout.positions);
  for (let p = 0, n = 0; p < layout.positions; p++) {
    for (const c of channels) out[n++] = p * width + c;
  }
  return out;
}

/**
 * Types of the channel dependency graph (the idea of DepGraph, Fang et al., CVPR 2023): which layers
 * create a set of channels, which layers merely carry it along, and which consume it, so that
 * removing a channel touches every weight that depends on it and nothing else.
 */
import type * as tf from '@tensorflow/tfjs';

/**
 * A run of channels that all come from one channel space. Within a tensor's last axis the segment
 * covers `length * repeat` channels: local channel `i` of the space appears at `i * repeat + j`
 * (`j < repeat`); `repeat > 1` comes from DepthwiseConv2D's depth multiplier.
 */
export interface Segment {
  space: number;
  length: number;
  repeat: number;
}

/**
 * How a tensor's last axis maps onto channel spaces. `positions > 1` means the tensor is a
 * flattened NHWC map: row `p * C + c` holds channel `c` at spatial position `p`, with
 * `C = sum(length * repeat)`.
 */
export interface Layout {
  segments: Segment[];
  positions: number;
}

/** A set of channels created by one layer (or by the model input, or by a layer we cannot read). */
export interface ChannelSpace {
  id: number;
  size: number;
  /** The layer whose output created it. */
  owner: string;
  /** Set when the channels may never be removed (model input, unknown producer, model output). */
  fixed?: string;
}

/** One weight tensor of a layer and the axis along which a channel group indexes it. */
export interface WeightAxis {
  /** Index into `layer.getWeights()`. */
  index: number;
  /** The weight's short name, e.g. `kernel`, `bias`, `gamma`. */
  name: string;
  axis: number;
  /** The axis holds `repeat` entries per channel (c*repeat .. c*repeat+repeat-1), e.g. a separable conv's pointwise input. */
  repeat?: number;
}

/** A layer as the graph sees it. */
export interface GraphNode {
  layer: tf.layers.Layer;
  name: string;
  className: string;
  /** Names of the layers feeding it, in input order. */
  inputs: string[];
  inputLayouts: Layout[];
  outputLayout: Layout;
  /** The space this layer's output channels define, when it is a producer (Dense, Conv2D, ...). */
  ownSpace?: number;
  rule: LayerRule;
}

/**
 * Channels that must be removed together: spaces joined by residual Adds and other element-wise
 * merges. `producers` own the output-channel weights; `consumers` read the channels on their input
 * axis; `followers` transform channels one-to-one (BatchNormalization, DepthwiseConv2D).
 */
export interface ChannelGroup {
  /** Root space id; stable for one graph. */
  id: number;
  size: number;
  spaces: number[];
  producers: string[];
  consumers: string[];
  followers: string[];
  /** Why these channels may never be removed, when they may not (not an error). */
  fixed?: string;
  /** Layers that read these channels but cannot be rewritten: pruning the group is refused. */
  refusals: string[];
}

export interface DependencyGraph {
  nodes: GraphNode[];
  spaces: ChannelSpace[];
  /** Union-find root of a space. */
  root(space: number): number;
  groups: ChannelGroup[];
  node(name: string): GraphNode;
}

/** What a layer rule may do while the graph is being built. */
export interface RuleContext {
  node: { name: string; className: string; layer: tf.layers.Layer };
  inputLayouts: Layout[];
  /** Output shape of the layer (one output). */
  outputShape: (number | null)[];
  /** Input shapes, one per input. */
  inputShapes: (number | null)[][];
  config: Record<string, unknown>;
  /** Create a new channel space of `size` channels owned by this layer. */
  newSpace(size: number, fixed?: string): number;
  /** Declare that two spaces carry the same channels (their removal is coupled). */
  union(a: number, b: number): void;
}

/** What a rule decides about one layer's output. */
export interface RuleOutput {
  layout: Layout;
  /** The space this layer produces (its out-channel weights are indexed by it). */
  ownSpace?: number;
}

/** Kept channel indices for one layer: `null` means "all kept, untouched". */
export interface KeptChannels {
  inputs: (Int32Array | null)[];
  output: Int32Array | null;
}

/**
 * How to prune one layer class: a registry entry keyed by class name. `role` says how the layer
 * relates to channels; `layout` derives the output layout; `slice` and `rewriteConfig` apply kept
 * indices. A class without an entry is unsupported and refuses the groups it reads.
 */
export interface LayerRule {
  role: 'producer' | 'follower' | 'passthrough' | 'merge' | 'input';
  /** Throws UnsupportedLayerError (caught by the builder) for configurations it cannot handle. */
  layout(ctx: RuleContext): RuleOutput;
  /** Weights indexed by the input channels (axis per weight). */
  inAxes?(layer: tf.layers.Layer): WeightAxis[];
  /** Weights indexed by the output channels. */
  outAxes?(layer: tf.layers.Layer): WeightAxis[];
  /** Rewrite the layer's config for the new channel counts (e.g. Dense `units`); called for every layer. */
  rewriteConfig?(config: Record<string, unknown>, kept: KeptChannels, node: GraphNode): void;
}

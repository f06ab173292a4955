/**
 * Structured-pruning rules, one registry entry per tfjs layer class. A class that is not listed
 * here is unsupported: the graph builder marks the channels it reads as refused, so pruning them
 * fails with a message naming the layer instead of silently producing a wrong model.
 */
import type * as tf from '@tensorflow/tfjs';
import { UnsupportedLayerError } from '../../common/errors';
import type { Layout, LayerRule, RuleContext } from './types';

function unsupported(ctx: RuleContext, why: string): never {
  throw new UnsupportedLayerError(`layer "${ctx.node.name}" (${ctx.node.className}): ${why}`);
}

function requireChannelsLast(ctx: RuleContext): void {
  const format = ctx.config.dataFormat;
  if (format !== undefined && format !== 'channelsLast') unsupported(ctx, `dataFormat ${String(format)} is not supported, only channelsLast`);
}

function lastDim(ctx: RuleContext, shape: (number | null)[]): number {
  const d = shape[shape.length - 1];
  if (d === null || d === undefined) unsupported(ctx, 'its channel dimension is not known');
  return d;
}

export function layoutWidth(layout: Layout): number {
  let c = 0;
  for (const s of layout.segments) c += s.length * s.repeat;
  return c;
}

function single(ctx: RuleContext): Layout {
  if (ctx.inputLayouts.length !== 1) unsupported(ctx, `expected one input, got ${ctx.inputLayouts.length}`);
  return ctx.inputLayouts[0];
}

function sameLayout(a: Layout, b: Layout): boolean {
  if (a.positions !== b.positions || a.segments.length !== b.segments.length) return false;
  return a.segments.every((s, i) => s.length === b.segments[i].length && s.repeat === b.segments[i].repeat);
}

/** Element-wise merges (and concatenation along a non-channel axis) couple their inputs' channels. */
function coupleInputs(ctx: RuleContext): Layout {
  const [first, ...rest] = ctx.inputLayouts;
  if (rest.some((other) => !sameLayout(first, other))) {
    unsupported(ctx, 'its inputs are built from differently split channel sets (e.g. a concatenation added to a single layer)');
  }
  for (const other of rest) first.segments.forEach((s, i) => ctx.union(s.space, other.segments[i].space));
  return { segments: first.segments.map((s) => ({ ...s })), positions: first.positions };
}

const passthrough: LayerRule = {
  role: 'passthrough',
  layout(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    return { layout: { segments: input.segments.map((s) => ({ ...s })), positions: input.positions } };
  },
};

/** Producers whose kernel's last axis is the output channel and whose `inAxis` reads the input. */
function producer(inAxis: number, outAxis: number, countKey: 'units' | 'filters'): LayerRule {
  const useBias = (layer: tf.layers.Layer): boolean => layer.getConfig().useBias !== false;
  return {
    role: 'producer',
    layout(ctx) {
      requireChannelsLast(ctx);
      const input = single(ctx);
      if (input.positions > 1 && ctx.inputShapes[0].length !== 2) unsupported(ctx, 'reads a flattened tensor on more than one axis');
      const space = ctx.newSpace(lastDim(ctx, ctx.outputShape));
      return { layout: { segments: [{ space, length: lastDim(ctx, ctx.outputShape), repeat: 1 }], positions: 1 }, ownSpace: space };
    },
    inAxes: () => [{ index: 0, name: 'kernel', axis: inAxis }],
    outAxes: (layer) => [{ index: 0, name: 'kernel', axis: outAxis }, ...(useBias(layer) ? [{ index: 1, name: 'bias', axis: 0 }] : [])],
    rewriteConfig(config, kept) {
      if (kept.output) config[countKey] = kept.output.length;
    },
  };
}

const depthwise: LayerRule = {
  role: 'follower',
  layout(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    if (input.positions > 1) unsupported(ctx, 'reads a flattened tensor');
    const multiplier = Number(ctx.node.layer.weights[0]?.shape[3] ?? ctx.config.depthMultiplier ?? 1); // kernel [h, w, in, m]
    // Output channel c*m + j comes from input channel c: the input's layout with repeat scaled by m.
    return { layout: { segments: input.segments.map((s) => ({ ...s, repeat: s.repeat * multiplier })), positions: 1 } };
  },
  inAxes: () => [{ index: 0, name: 'depthwise_kernel', axis: 2 }],
  outAxes: (layer) => (layer.getConfig().useBias !== false ? [{ index: 1, name: 'bias', axis: 0 }] : []),
};

/** Depthwise then pointwise: reads channels like DepthwiseConv2D, produces filters like Conv2D. */
const separable: LayerRule = {
  ...producer(2, 3, 'filters'),
  inAxes: (layer) => {
    const m = Number(layer.weights[0].shape[3]); // depthwise kernel [h, w, in, multiplier]
    return [
      { index: 0, name: 'depthwise_kernel', axis: 2 },
      { index: 1, name: 'pointwise_kernel', axis: 2, repeat: m },
    ];
  },
  rewriteConfig(config, kept, node) {
    if (kept.output) config.filters = kept.output.length;
    // tfjs 4.22's SeparableConv getConfig drops depthMultiplier; restore it from the kernel shape.
    config.depthMultiplier = node.layer.weights[0].shape[3];
  },
  outAxes: (layer) => [
    { index: 1, name: 'pointwise_kernel', axis: 3 },
    ...(layer.getConfig().useBias !== false ? [{ index: 2, name: 'bias', axis: 0 }] : []),
  ],
};

const batchNorm: LayerRule = {
  role: 'follower',
  layout(ctx) {
    const input = single(ctx);
    // tf.keras 2.x serializes the axis as a one-element list ([3]); tfjs accepts either form.
    const raw = ctx.config.axis;
    const axis = Array.isArray(raw) && raw.length === 1 ? Number(raw[0]) : raw;
    const rank = ctx.inputShapes[0].length;
    if (axis !== -1 && axis !== rank - 1) unsupported(ctx, `normalizes axis ${String(axis)}, only the channel axis (-1) is supported`);
    return { layout: { segments: input.segments.map((s) => ({ ...s })), positions: input.positions } };
  },
  // gamma, beta, moving mean and moving variance are all per channel; which exist depends on
  // `scale`/`center`, so index every weight the layer has.
  inAxes: (layer) => {
    const config = layer.getConfig();
    const names = [...(config.scale !== false ? ['gamma'] : []), ...(config.center !== false ? ['beta'] : []), 'moving_mean', 'moving_variance'];
    return names.map((name, index) => ({ index, name, axis: 0 }));
  },
};

/** PReLU: one learned slope per channel (alpha [..., C]; shared axes have size 1), like a BatchNorm. */
const prelu: LayerRule = {
  role: 'follower',
  layout(ctx) {
    const input = single(ctx);
    const alpha = ctx.node.layer.weights[0]?.shape ?? [];
    if (alpha[alpha.length - 1] === 1 && lastDim(ctx, ctx.outputShape) !== 1) unsupported(ctx, 'shares its slope across channels (shared_axes includes the channel axis)');
    return { layout: { segments: input.segments.map((s) => ({ ...s })), positions: input.positions } };
  },
  inAxes: (layer) => [{ index: 0, name: 'alpha', axis: layer.weights[0].shape.length - 1 }],
};

/** Embedding: its output channels are the embedding dimension (embeddings [vocab, dim]); it reads token ids, not channels. */
const embedding: LayerRule = {
  role: 'producer',
  layout(ctx) {
    const size = lastDim(ctx, ctx.outputShape);
    const space = ctx.newSpace(size);
    return { layout: { segments: [{ space, length: size, repeat: 1 }], positions: 1 }, ownSpace: space };
  },
  inAxes: () => [],
  outAxes: () => [{ index: 0, name: 'embeddings', axis: 1 }],
  rewriteConfig(config, kept) {
    if (kept.output) config.outputDim = kept.output.length;
  },
};

const flatten: LayerRule = {
  role: 'passthrough',
  layout(ctx) {
    requireChannelsLast(ctx);
    const input = single(ctx);
    const shape = ctx.inputShapes[0];
    let positions = input.positions;
    for (let i = 1; i < shape.length - 1; i++) {
      const d = shape[i];
      if (d === null) unsupported(ctx, 'its input has an unknown spatial dimension');
      positions *= d;
    }
    return { layout: { segments: input.segments.map((s) => ({ ...s })), positions } };
  },
};

const reshape: LayerRule = {
  role: 'passthrough',
  layout(ctx) {
    const input = single(ctx);
    const target = ctx.config.targetShape as number[];
    const inShape = ctx.inputShapes[0];
    const channels = inShape[inShape.length - 1];
    if (target.length === 1) return flatten.layout(ctx);
    if (input.positions === 1 && target[target.length - 1] === channels) {
      return { layout: { segments: input.segments.map((s) => ({ ...s })), positions: 1 } };
    }
    unsupported(ctx, `reshape to [${target.join(', ')}] mixes channels with other axes; only flattening or keeping the last axis is supported`);
  },
  rewriteConfig(config, kept) {
    const target = [...(config.targetShape as number[])];
    // The output layout carries the positions, so its kept count is the new last axis whether
    // the reshape flattens (positions x kept channels) or keeps the channel axis.
    if (!kept.output) return;
    target[target.length - 1] = kept.output.length;
    config.targetShape = target;
  },
};

const concatenate: LayerRule = {
  role: 'merge',
  layout(ctx) {
    const rank = ctx.outputShape.length;
    const axis = Number(ctx.config.axis ?? -1);
    if (axis === -1 || axis === rank - 1) {
      if (ctx.inputLayouts.some((l) => l.positions > 1)) unsupported(ctx, 'concatenates flattened tensors');
      return { layout: { segments: ctx.inputLayouts.flatMap((l) => l.segments.map((s) => ({ ...s }))), positions: 1 } };
    }
    return { layout: coupleInputs(ctx) };
  },
};

const merge: LayerRule = { role: 'merge', layout: (ctx) => ({ layout: coupleInputs(ctx) }) };

const inputLayer: LayerRule = {
  role: 'input',
  layout(ctx) {
    const size = ctx.outputShape[ctx.outputShape.length - 1] ?? 0;
    const space = ctx.newSpace(size, `model input "${ctx.node.name}"`);
    return { layout: { segments: [{ space, length: size, repeat: 1 }], positions: 1 }, ownSpace: space };
  },
};

const activation: LayerRule = {
  role: 'passthrough',
  layout(ctx) {
    if (ctx.node.className === 'Softmax' || ctx.config.activation === 'softmax') {
      unsupported(ctx, 'softmax normalizes across channels, so removing one changes the others');
    }
    return passthrough.layout(ctx);
  },
};

const PASSTHROUGH_CLASSES = [
  'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout',
  'ReLU', 'LeakyReLU', 'ELU', 'ThresholdedReLU',
  'MaxPooling1D', 'MaxPooling2D', 'AveragePooling1D', 'AveragePooling2D',
  'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'ZeroPadding1D', 'Cropping1D', 'UpSampling1D',
];

/** Layers that mix channels in a way no slice of their weights can follow, with the reason. */
const CHANNEL_MIXING: Record<string, string> = {
  LayerNormalization: 'normalizes across the channel axis, so removing a channel changes every other channel (prune the layers before it only if it is not on the channel path, or remove it)',
  Permute: 'moves the channel axis',
};

/** The registry: layer class name -> rule. */
export const LAYER_RULES: ReadonlyMap<string, LayerRule> = new Map<string, LayerRule>([
  ['InputLayer', inputLayer],
  ['Dense', producer(0, 1, 'units')],
  ['Conv2D', producer(2, 3, 'filters')],
  ['Conv1D', producer(1, 2, 'filters')],
  // Conv2DTranspose kernels are [h, w, out, in]: the input channels on axis 3, the output on 2.
  ['Conv2DTranspose', producer(3, 2, 'filters')],
  ['PReLU', prelu],
  ['Embedding', embedding],
  ['DepthwiseConv2D', depthwise],
  ['SeparableConv2D', separable],
  ['BatchNormalization', batchNorm],
  ['Flatten', flatten],
  ['Reshape', reshape],
  ['Concatenate', concatenate],
  ['Add', merge],
  ['Subtract', merge],
  ['Multiply', merge],
  ['Average', merge],
  ['Maximum', merge],
  ['Minimum', merge],
  ['Activation', activation],
  ['Softmax', activation],
  ...PASSTHROUGH_CLASSES.map((c): [string, LayerRule] => [c, passthrough]),
  ...Object.entries(CHANNEL_MIXING).map(([c, why]): [string, LayerRule] => [c, unknownRule(why)]),
]);

/** Rule for a layer the registry does not know: it refuses the channels it reads. */
export function unknownRule(why: string): LayerRule {
  return {
    role: 'passthrough',
    layout(ctx) {
      unsupported(ctx, why);
    },
  };
}


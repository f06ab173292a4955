/**
 * Multiply-accumulate counts per sample, one rule per layer class (a registry, not a switch, so a
 * new layer type is one entry). A MAC is one multiply plus one add of a weight into an accumulator;
 * bias additions, activations, pooling, normalization, element-wise merges (Add, Concatenate, ...)
 * and reshapes count 0 MACs: they are cheap next to the weight layers and most papers omit them too.
 */

export type Shape = readonly (number | null)[];

export interface MacInput {
  /** Output shape including the batch dimension (null). */
  outputShape: Shape;
  /** Input shape including the batch dimension, when the layer has one input. */
  inputShape?: Shape;
  /** Weight shapes by short name: `kernel`, `bias`, `depthwise_kernel`, `recurrent_kernel`, ... */
  weights: Map<string, number[]>;
}

const prod = (s: readonly (number | null)[]): number => s.reduce<number>((a, d) => a * (d ?? 1), 1);

/** Spatial positions of the output: all dimensions between batch and channels (channels-last). */
const spatial = (s: Shape): number => prod(s.slice(1, -1));

const kernelSize = (w: Map<string, number[]>, name: string): number => {
  const k = w.get(name);
  return k ? prod(k) : 0;
};

/**
 * Convolution: outSpatial * kh * kw * inC/groups * outC. tfjs kernels are [kh, kw, inC/groups, outC]
 * (and [k, inC, outC] for 1-D, [kd, kh, kw, inC, outC] for 3-D), so the product of the kernel shape
 * times the output positions covers all three.
 */
const conv = (m: MacInput) => spatial(m.outputShape) * kernelSize(m.weights, 'kernel');

export const MAC_RULES: Record<string, (m: MacInput) => number> = {
  /** Dense: in * out, times any leading non-batch dimensions (Dense on [T, F] applies per step). */
  Dense: (m) => spatial(m.outputShape) * kernelSize(m.weights, 'kernel'),
  Conv1D: conv,
  Conv2D: conv,
  Conv3D: conv,
  /** Depthwise: outH * outW * kh * kw * C * multiplier (kernel [kh, kw, C, multiplier]). */
  DepthwiseConv2D: (m) => spatial(m.outputShape) * kernelSize(m.weights, 'depthwise_kernel'),
  /** Separable: depthwise part plus a 1x1 pointwise conv (C*multiplier -> outC) at every output position. */
  SeparableConv2D: (m) =>
    spatial(m.outputShape) * (kernelSize(m.weights, 'depthwise_kernel') + kernelSize(m.weights, 'pointwise_kernel')),
  SeparableConv1D: (m) =>
    spatial(m.outputShape) * (kernelSize(m.weights, 'depthwise_kernel') + kernelSize(m.weights, 'pointwise_kernel')),
  /** Transposed conv: every input position scatters kh * kw * outC * inC products (kernel [kh, kw, outC, inC]). */
  Conv2DTranspose: (m) => (m.inputShape ? spatial(m.inputShape) : 0) * kernelSize(m.weights, 'kernel'),
  Conv3DTranspose: (m) => (m.inputShape ? spatial(m.inputShape) : 0) * kernelSize(m.weights, 'kernel'),
  /** Recurrent layers: per time step, input and recurrent kernels (all gates) are applied once. */
  SimpleRNN: (m) => rnnSteps(m) * (kernelSize(m.weights, 'kernel') + kernelSize(m.weights, 'recurrent_kernel')),
  LSTM: (m) => rnnSteps(m) * (kernelSize(m.weights, 'kernel') + kernelSize(m.weights, 'recurrent_kernel')),
  GRU: (m) => rnnSteps(m) * (kernelSize(m.weights, 'kernel') + kernelSize(m.weights, 'recurrent_kernel')),
};

function rnnSteps(m: MacInput): number {
  // Input [batch, T, features]; T unknown (null) counts as one step.
  return m.inputShape && m.inputShape.length === 3 ? (m.inputShape[1] ?? 1) : 1;
}

/** MACs per sample of one layer, 0 for classes without a rule (see the module comment). */
export function layerMacs(className: string, m: MacInput): number {
  const rule = MAC_RULES[className];
  return rule ? rule(m) : 0;
}

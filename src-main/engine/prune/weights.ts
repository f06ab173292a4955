/**
 * Which layers have prunable kernels, and how their axes read. A registry keyed by Keras class name
 * (not a switch), so a new layer type is one entry. Biases and BatchNorm parameters are never masked:
 * they are a tiny fraction of the parameters and zeroing them shifts activations instead of removing work.
 */
import type * as tf from '@tensorflow/tfjs';
import type { PrunableWeight } from './types';

export interface PrunableLayerRule {
  /** The kernel variable of the layer. */
  kernel(layer: tf.layers.Layer): tf.LayerVariable | undefined;
  inAxis: number;
  outAxis: number;
  /** Whether N:M along the input dimension applies (depthwise kernels have no input dimension to group). */
  nm: boolean;
}

type WithKernel = { kernel?: tf.LayerVariable; depthwiseKernel?: tf.LayerVariable };

export const PRUNABLE_LAYERS: Record<string, PrunableLayerRule> = {
  // Dense kernel [in, out].
  Dense: { kernel: (l) => (l as unknown as WithKernel).kernel, inAxis: 0, outAxis: 1, nm: true },
  // Conv2D kernel [kh, kw, in, out].
  Conv2D: { kernel: (l) => (l as unknown as WithKernel).kernel, inAxis: 2, outAxis: 3, nm: true },
  // DepthwiseConv2D kernel [kh, kw, channels, multiplier]: one output per (channel, multiplier).
  DepthwiseConv2D: { kernel: (l) => (l as unknown as WithKernel).depthwiseKernel, inAxis: 2, outAxis: 2, nm: false },
};

/** All layers of a model in order, descending into nested models (Sequential inside functional). */
export function allLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const out: tf.layers.Layer[] = [];
  const visit = (layers: tf.layers.Layer[]): void => {
    for (const l of layers) {
      const nested = (l as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(nested)) visit(nested);
      else out.push(l);
    }
  };
  visit(model.layers);
  return out;
}

/**
 * Kernels of Dense, Conv2D and DepthwiseConv2D layers, in model order. The last prunable layer
 * is flagged `isOutput` when it produces the model output.
 */
export function prunableWeights(model: tf.LayersModel): PrunableWeight[] {
  const out: PrunableWeight[] = [];
  const outputLayerNames = new Set(model.outputs.map((t) => t.sourceLayer.name));
  for (const layer of allLayers(model)) {
    const rule = PRUNABLE_LAYERS[layer.getClassName()];
    if (!rule) continue;
    const variable = rule.kernel(layer);
    if (!variable) continue;
    out.push({
      layer: layer.name,
      layerClass: layer.getClassName(),
      weightName: variable.name,
      variable,
      shape: variable.shape.map((d) => d ?? 0),
      inAxis: rule.inAxis,
      outAxis: rule.outAxis,
      isOutput: outputLayerNames.has(layer.name),
    });
  }
  // The output layer may be followed by an Activation/Softmax layer; then the last prunable layer is it.
  if (out.length > 0 && !out.some((w) => w.isOutput)) {
    const last = allLayers(model).slice(-1)[0];
    if (last && ['Activation', 'Softmax', 'Dropout'].includes(last.getClassName())) out[out.length - 1].isOutput = true;
  }
  return out;
}

/** Number of weights that N:M groups run over for one output (the kernel's reduction size). */
export function inputSize(w: PrunableWeight): number {
  return w.shape[w.inAxis];
}

/** Fraction of exact zeros in each prunable kernel, by layer name. */
export function kernelSparsity(model: tf.LayersModel): Record<string, number> {
  const out: Record<string, number> = {};
  for (const w of prunableWeights(model)) {
    const values = w.variable.read().dataSync();
    let zeros = 0;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
    out[w.layer] = values.length ? zeros / values.length : 0;
  }
  return out;
}

/**
 * Parameter and multiply-accumulate counts, used to report what structured pruning saved.
 */
import type * as tf from '@tensorflow/tfjs';

/** Layers whose cost is kernel size times output positions (one MAC per weight per position). */
const MAC_LAYERS = new Set(['Dense', 'Conv1D', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

/**
 * MACs per sample of one layer: sum over its kernels (rank >= 2 weights; biases are adds, not MACs)
 * of kernel size x output positions (product of the output's spatial axes; 1 for Dense on a vector).
 * @example layerMacs(conv2d 5x5x1->6 with a 28x28 output) // 5*5*1*6 * 28*28 = 117600
 */
export function layerMacs(layer: tf.layers.Layer): number {
  if (!MAC_LAYERS.has(layer.getClassName())) return 0;
  const out = layer.outputShape as (number | null)[];
  let positions = 1;
  for (let i = 1; i < out.length - 1; i++) positions *= out[i] ?? 1;
  let kernel = 0;
  for (const w of layer.weights) {
    if (w.shape.length < 2) continue;
    kernel += w.shape.reduce((a: number, d) => a * (d ?? 1), 1);
  }
  return kernel * positions;
}

/** MACs per sample of a whole model (sum of `layerMacs`). */
export function modelMacs(model: tf.LayersModel): number {
  return model.layers.reduce((sum, layer) => sum + layerMacs(layer), 0);
}

/**
 * Parameter and multiply-accumulate counts of live tfjs layers, used to report what structured
 * pruning saved. The per-class rules are the analyzer's (analyze/macs.ts), so a model's MACs read
 * the same in `topiary analyze`, a run summary and a structured-pruning report.
 */
import type * as tf from '@tensorflow/tfjs';
import { layerMacs as macsOf, type MacInput, type Shape } from '../analyze/macs';

/** The layer's one input shape, or undefined for several inputs or a layer called more than once. */
function singleInputShape(layer: tf.layers.Layer): Shape | undefined {
  if (layer.inboundNodes.length !== 1) return undefined;
  const s = layer.inboundNodes[0].inputShapes as Shape | Shape[];
  if (s.length > 0 && Array.isArray(s[0])) return s.length === 1 ? (s[0] as Shape) : undefined;
  return s as Shape;
}

function macInput(layer: tf.layers.Layer): MacInput {
  const out = layer.outputShape as Shape | Shape[];
  const weights = new Map<string, number[]>();
  for (const w of layer.weights) weights.set(w.originalName.split('/').pop() ?? w.originalName, [...w.shape] as number[]);
  return { outputShape: Array.isArray(out[0]) ? (out[0] as Shape) : (out as Shape), inputShape: singleInputShape(layer), weights };
}

/**
 * MACs per sample of one layer (see analyze/macs.ts for the rule of each class).
 * @example layerMacs(conv2d 5x5x1->6 with a 28x28 output) // 5*5*1*6 * 28*28 = 117600
 */
export function layerMacs(layer: tf.layers.Layer): number {
  return macsOf(layer.getClassName(), macInput(layer));
}

/** MACs per sample of a whole model (sum of `layerMacs`). */
export function modelMacs(model: tf.LayersModel): number {
  return model.layers.reduce((sum, layer) => sum + layerMacs(layer), 0);
}

/**
 * Doing what a structured plan decided: a new, physically smaller model built from the original's
 * config with channel counts rewritten, and the original weights gathered along every axis a
 * removed channel touches.
 */
import * as tf from '@tensorflow/tfjs';
import { keptIndices } from '../graph/depgraph';
import type { DependencyGraph, GraphNode, KeptChannels, WeightAxis } from '../graph/types';

interface LayerEntry {
  className: string;
  config: Record<string, unknown>;
}

/** Kept indices along a node's input and output axes (null where nothing changes). */
export function keptFor(graph: DependencyGraph, node: GraphNode, keptByGroup: ReadonlyMap<number, Int32Array>): KeptChannels {
  return {
    inputs: node.inputLayouts.map((l) => keptIndices(graph, l, keptByGroup)),
    output: keptIndices(graph, node.outputLayout, keptByGroup),
  };
}

function expand(indices: Int32Array, repeat: number): Int32Array {
  if (repeat === 1) return indices;
  const out = new Int32Array(indices.length * repeat);
  indices.forEach((c, k) => {
    for (let j = 0; j < repeat; j++) out[k * repeat + j] = c * repeat + j;
  });
  return out;
}

/** Gathers `weights` along the axes the layer's rule names; returns new tensors (caller disposes). */
function sliceWeights(node: GraphNode, weights: tf.Tensor[], kept: KeptChannels): tf.Tensor[] {
  const cuts: { axis: WeightAxis; indices: Int32Array }[] = [];
  const keptIn = kept.inputs[0];
  if (keptIn && node.rule.inAxes) for (const axis of node.rule.inAxes(node.layer)) cuts.push({ axis, indices: keptIn });
  if (kept.output && node.rule.outAxes) for (const axis of node.rule.outAxes(node.layer)) cuts.push({ axis, indices: kept.output });
  return weights.map((w, i) => {
    let out = w;
    for (const cut of cuts) {
      if (cut.axis.index !== i) continue;
      const next = tf.gather(out, tf.tensor1d(expand(cut.indices, cut.axis.repeat ?? 1), 'int32'), cut.axis.axis);
      out = next;
    }
    if (out === w) return w.clone();
    // A fresh tensor, not the gather result: the wasm backend keeps the shape of the buffer a
    // reshape-backed gather wrote (rank 4), and its FusedConv2D then rejects the bias as rank 4.
    return tf.tensor(out.dataSync(), out.shape, out.dtype);
  });
}

function layerEntries(config: Record<string, unknown>): LayerEntry[] {
  return (config.layers as LayerEntry[]) ?? [];
}

/**
 * Builds the pruned model: config rewritten per layer rule, weights gathered. `keptByGroup` maps a
 * channel group id to the sorted local channel indices it keeps; groups not in it are untouched.
 */
export function rebuildPruned(model: tf.LayersModel, graph: DependencyGraph, keptByGroup: ReadonlyMap<number, Int32Array>): tf.LayersModel {
  const config = JSON.parse(JSON.stringify(model.getConfig())) as Record<string, unknown>;
  const byName = new Map(layerEntries(config).map((e) => [String(e.config.name), e]));
  const keptByNode = new Map<string, KeptChannels>();
  for (const node of graph.nodes) {
    const kept = keptFor(graph, node, keptByGroup);
    keptByNode.set(node.name, kept);
    const entry = byName.get(node.name);
    if (entry && node.rule.rewriteConfig) node.rule.rewriteConfig(entry.config, kept, node);
  }
  const pruned =
    model instanceof tf.Sequential
      ? (tf.Sequential.fromConfig(tf.Sequential, config as tf.serialization.ConfigDict) as tf.LayersModel)
      : (tf.LayersModel.fromConfig(tf.LayersModel, config as tf.serialization.ConfigDict) as tf.LayersModel);
  for (const node of graph.nodes) {
    if (node.layer.weights.length === 0) continue;
    const kept = keptByNode.get(node.name)!;
    // setWeights copies into the new model's variables, so the gathered tensors can go with the tidy.
    tf.tidy(() => pruned.getLayer(node.name).setWeights(sliceWeights(node, node.layer.getWeights(), kept)));
  }
  return pruned;
}

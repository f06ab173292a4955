/**
 * Static analysis of a LayersModel: parameters, sparsity, compute and memory per layer. Everything
 * returned is plain JSON (numbers, strings, arrays) so it can cross IPC and be stored as a run's
 * per-layer table.
 */
import * as tf from '@tensorflow/tfjs';
import { gzipSync } from 'fflate';
import { flattenModel, hasNestedModels } from '../models/flatten';
import { layerMacs, type Shape } from './macs';
import type { WeightAnalysis, LayerAnalysis, ModelAnalysis } from '../../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { WeightAnalysis, LayerAnalysis, ModelAnalysis };

export interface AnalyzeOptions {
  /** Skip the gzip estimate (it reads and compresses all weights); gzipBytes is then 0. */
  gzip?: boolean;
  /** Flat layer name -> path in the original nesting (LoadedModel.nesting), reported as each layer's `source`. */
  sources?: Readonly<Record<string, string>>;
}

const prod = (s: readonly (number | null)[]): number => s.reduce<number>((a, d) => a * (d ?? 1), 1);

function isShapeList(s: unknown): s is Shape[] {
  return Array.isArray(s) && s.length > 0 && Array.isArray(s[0]);
}

/** A layer's shapes; tfjs throws for layers called several times with different shapes. */
function shapesOf(get: () => Shape | Shape[]): Shape[] | undefined {
  try {
    const s = get();
    if (!Array.isArray(s)) return undefined;
    return isShapeList(s) ? s : [s as Shape];
  } catch {
    return undefined;
  }
}

function outputShapeOf(model: tf.LayersModel, layerName: string): Shape[] | undefined {
  if (layerName === 'input' && model instanceof tf.Sequential) return [model.inputs[0].shape];
  try {
    const layer = model.getLayer(layerName);
    return shapesOf(() => layer.outputShape as Shape | Shape[]);
  } catch {
    return undefined;
  }
}

const KERNEL_NAMES = new Set(['kernel', 'depthwise_kernel', 'pointwise_kernel', 'recurrent_kernel', 'embeddings']);

/** Whether a weight (by originalName, e.g. `fc1/kernel`) is one that pruning removes entries from. */
export function isKernelName(name: string): boolean {
  return KERNEL_NAMES.has(name.split('/').pop() ?? name);
}

/** Count of values that are not exactly zero. */
export function countNonZeros(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

interface GraphStep {
  name: string;
  bytes: number;
  inbound: string[];
}

/**
 * Peak live activation bytes over an execution in the given (topological) order. A tensor is live
 * from the step that produces it until the last step that reads it; model outputs stay live to the
 * end. At each step the live set is everything produced earlier and still needed, plus the step's
 * output. For a chain this reduces to max over layers of (input bytes + output bytes).
 */
export function peakLiveBytes(steps: GraphStep[], outputs: string[]): number {
  const at = new Map<string, number>();
  steps.forEach((s, i) => at.set(s.name, i));
  const lastUse = steps.map(() => -1);
  steps.forEach((s, i) => {
    for (const src of s.inbound) {
      const j = at.get(src);
      if (j !== undefined) lastUse[j] = Math.max(lastUse[j], i);
    }
  });
  for (const o of outputs) {
    const j = at.get(o);
    if (j !== undefined) lastUse[j] = steps.length;
  }
  let peak = 0;
  for (let i = 0; i < steps.length; i++) {
    let live = steps[i].bytes;
    for (let j = 0; j < i; j++) if (lastUse[j] >= i) live += steps[j].bytes;
    peak = Math.max(peak, live);
  }
  return peak;
}

/** Inbound layer names per layer, from the model's own config (not from shared layer objects). */
function inboundNames(model: tf.LayersModel): { inbound: Map<string, string[]>; outputs: string[] } {
  const inbound = new Map<string, string[]>();
  if (model instanceof tf.Sequential) {
    model.layers.forEach((l, i) => inbound.set(l.name, [i === 0 ? 'input' : model.layers[i - 1].name]));
    return { inbound, outputs: model.layers.length > 0 ? [model.layers[model.layers.length - 1].name] : [] };
  }
  const config = model.getConfig() as unknown as {
    layers: { name: string; inboundNodes?: unknown[] }[];
    outputLayers?: unknown[][];
  };
  for (const l of config.layers) {
    const names = new Set<string>();
    for (const node of l.inboundNodes ?? []) {
      if (!Array.isArray(node)) continue;
      for (const entry of node) if (Array.isArray(entry) && typeof entry[0] === 'string') names.add(entry[0]);
    }
    inbound.set(l.name, [...names]);
  }
  const outputs = (config.outputLayers ?? []).map((o) => String(o[0]));
  return { inbound, outputs };
}

/**
 * Per-layer and total parameters, non-zeros, MACs and activation memory of a model.
 *
 * - params: weight elements (trainable + non-trainable, e.g. BatchNorm moving statistics).
 * - sparsity: exact zeros / params, per layer over all of its weights (per weight in `weights`).
 * - MACs per sample: Dense in*out; Conv outH*outW*kh*kw*inC*outC/groups; DepthwiseConv2D
 *   outH*outW*kh*kw*C*multiplier; pooling, BatchNorm, activations, merges: 0 (see macs.ts).
 * - activationBytes: 4 * elements of the layer's output for one sample.
 * - sizeBytes = 4 * params + UTF-8 length of JSON.stringify(model.toJSON(null, false)).
 * - gzipBytes: fflate gzip (level 6) of all weights as float32 little-endian, in model.weights order.
 * - peakActivationBytes: live-tensor estimate over the layers in model.layers order (tfjs orders a
 *   functional model's layers topologically): a tensor is live from its producer to its last
 *   consumer. For a sequential model this equals max over layers of input + output bytes. Every
 *   output counts as its own buffer, even for reshape-like layers a runtime could alias.
 * A model with nested models is analysed as its flat equivalent (engine/models/flatten): every leaf
 * layer is a row, and peak memory follows the real tensor lifetimes inside the nested graphs.
 *
 * @example
 *   const a = analyzeModel(lenet300100());
 *   a.params === 266_610 && a.macs === 266_200
 */
export function analyzeModel(model: tf.LayersModel, opts: AnalyzeOptions = {}): ModelAnalysis {
  if (hasNestedModels(model)) {
    const { model: flat, sources } = flattenModel(model);
    try {
      // The flat model's variables share the original's data, so disposing it frees only its own references.
      return { ...analyzeModel(flat, { ...opts, sources: { ...Object.fromEntries(sources), ...opts.sources } }), className: model.getClassName() };
    } finally {
      flat.dispose();
    }
  }
  const notes = new Set<string>();
  const { inbound, outputs } = inboundNames(model);
  const layers: LayerAnalysis[] = [];
  const steps: GraphStep[] = [];
  const gzipParts: Uint8Array[] = [];

  const inputShape = [...model.inputs[0].shape];
  if (model instanceof tf.Sequential) {
    steps.push({ name: 'input', bytes: 4 * prod(inputShape.slice(1)), inbound: [] });
  }

  model.layers.forEach((layer, index) => {
    const outShapes = shapesOf(() => layer.outputShape as Shape | Shape[]);
    // Input shapes come from the producers in this model's graph (a layer object can belong to
    // several models, so its own node list is not specific to this one).
    const producers = inbound.get(layer.name) ?? [];
    const inShapes = producers.length === 0 ? undefined : producers.flatMap((p) => outputShapeOf(model, p) ?? []);
    if (!outShapes) notes.add(`layer ${layer.name}: output shape differs between calls; activations counted as 0`);
    const activationBytes = (outShapes ?? []).reduce((a, s) => a + 4 * prod(s.slice(1)), 0);
    for (const s of [...(outShapes ?? []), ...(inShapes ?? [])]) {
      if (s.slice(1).some((d) => d === null)) notes.add(`layer ${layer.name}: unknown (null) dimensions counted as 1`);
    }

    const trainableIds = new Set(layer.trainableWeights.map((w) => w.id));
    const weights: WeightAnalysis[] = [];
    const shortShapes = new Map<string, number[]>();
    for (const w of layer.weights) {
      const shape = [...w.shape] as number[];
      const values = w.read().dataSync();
      weights.push({ name: w.originalName, shape, params: values.length, nonZeros: countNonZeros(values), trainable: trainableIds.has(w.id) });
      shortShapes.set(w.originalName.split('/').pop() ?? w.originalName, shape);
    }
    const params = weights.reduce((a, w) => a + w.params, 0);
    const trainableParams = weights.filter((w) => w.trainable).reduce((a, w) => a + w.params, 0);
    const nonZeros = weights.reduce((a, w) => a + w.nonZeros, 0);
    const kernels = weights.filter((w) => isKernelName(w.name));
    const kernelParams = kernels.reduce((a, w) => a + w.params, 0);
    const kernelNonZeros = kernels.reduce((a, w) => a + w.nonZeros, 0);

    const className = layer.getClassName();
    const macs = layerMacs(className, {
      outputShape: outShapes?.[0] ?? [],
      inputShape: inShapes?.length === 1 ? inShapes[0] : undefined,
      weights: shortShapes,
    });
    const source = opts.sources?.[layer.name];

    layers.push({
      index,
      name: layer.name,
      className,
      outputShape: [...(outShapes?.[0] ?? [])],
      inbound: inbound.get(layer.name) ?? [],
      params,
      trainableParams,
      nonTrainableParams: params - trainableParams,
      nonZeros,
      sparsity: params === 0 ? 0 : 1 - nonZeros / params,
      kernelSparsity: kernelParams === 0 ? 0 : 1 - kernelNonZeros / kernelParams,
      macs,
      activationBytes,
      weights,
      ...(source === undefined ? {} : { source }),
    });
    steps.push({ name: layer.name, bytes: activationBytes, inbound: inbound.get(layer.name) ?? [] });
  });

  // Weight bytes in model.weights order, the order tfjs writes shards in.
  if (opts.gzip !== false) {
    for (const w of model.weights) {
      const v = w.read().dataSync();
      const f = v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
      gzipParts.push(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    }
  }
  const weightBuf = new Uint8Array(gzipParts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of gzipParts) {
    weightBuf.set(p, off);
    off += p.length;
  }

  const sum = (f: (l: LayerAnalysis) => number) => layers.reduce((a, l) => a + f(l), 0);
  const params = sum((l) => l.params);
  const nonZeros = sum((l) => l.nonZeros);
  const trainableParams = sum((l) => l.trainableParams);
  const topologyBytes = new TextEncoder().encode(JSON.stringify(model.toJSON(null, false))).length;
  return {
    name: model.name,
    className: model.getClassName(),
    inputShape,
    outputShape: [...model.outputs[0].shape],
    layers,
    params,
    trainableParams,
    nonTrainableParams: params - trainableParams,
    nonZeros,
    sparsity: params === 0 ? 0 : 1 - nonZeros / params,
    macs: sum((l) => l.macs),
    activationBytes: sum((l) => l.activationBytes),
    weightBytes: 4 * params,
    topologyBytes,
    sizeBytes: 4 * params + topologyBytes,
    gzipBytes: opts.gzip === false ? 0 : gzipSync(weightBuf, { level: 6, mtime: 0 }).length,
    peakActivationBytes: peakLiveBytes(steps, outputs),
    notes: [...notes],
  };
}

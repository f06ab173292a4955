/**
 * Flattening nested models: a Sequential or Functional model used as a layer inside another (what
 * Teachable Machine, Keras applications and transfer-learning notebooks produce) becomes ONE flat
 * functional model with the same layers, weights and behaviour.
 *
 * Why: every consumer (dependency graph, structured pruning, TF Lite lowering, activation memory)
 * reasons about a graph of leaf layers. A nested model hides its leaves behind one opaque node, and
 * because tfjs records the nested model's own construction as a node too, it looks "called twice".
 * Flattening once at load time means none of them needs to know nesting exists.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelFormatError } from '../../common/errors';

type Layer = tf.layers.Layer;
type Kwargs = Record<string, unknown>;

/** Where a flat layer came from: e.g. `sequential_1/model/Conv1` (containers then the layer's own name). */
export type NestingMap = Map<string, string>;

export interface FlattenResult {
  /** The flat model, or the input model itself when it had nothing nested (`flattened` false). */
  model: tf.LayersModel;
  flattened: boolean;
  /** Flat layer name -> path through the original nesting; only for layers that were nested or renamed. */
  sources: NestingMap;
}

const isContainer = (l: Layer): l is tf.LayersModel => l instanceof tf.LayersModel;
const isInputLayer = (l: Layer) => l.getClassName() === 'InputLayer';

/** True when some layer of the model is itself a model (Sequential or Functional). */
export function hasNestedModels(model: tf.LayersModel): boolean {
  return model.layers.some(isContainer);
}

interface LeafInfo {
  /** The nested models enclosing the layer, outermost first (the top model itself excluded). */
  chain: tf.LayersModel[];
}

/** Every leaf layer reachable through `.layers`, with the nested models enclosing it. */
function collectLeaves(model: tf.LayersModel, chain: tf.LayersModel[], out: Map<Layer, LeafInfo>): void {
  for (const layer of model.layers) {
    if (isContainer(layer)) collectLeaves(layer, [...chain, layer], out);
    else if (!out.has(layer) && !(chain.length > 0 && isInputLayer(layer))) out.set(layer, { chain });
  }
}

/**
 * Names for the flat model: a layer keeps its own name when no other leaf has it; on a clash it is
 * prefixed with its nested model's name (`block_conv`), then with the whole path, then numbered.
 * Keras keeps names unique within one model, not across nested ones, so clashes do happen.
 */
function assignNames(leaves: Map<Layer, LeafInfo>, inputNames: string[]): Map<Layer, string> {
  const count = new Map<string, number>();
  for (const n of [...inputNames, ...[...leaves.keys()].map((l) => l.name)]) count.set(n, (count.get(n) ?? 0) + 1);
  const taken = new Set<string>([...count].filter(([, c]) => c === 1).map(([n]) => n));
  const names = new Map<Layer, string>();
  for (const [layer, { chain }] of leaves) {
    if (count.get(layer.name) === 1) {
      names.set(layer, layer.name);
      continue;
    }
    const candidates = chain.length === 0 ? [] : [`${chain[chain.length - 1].name}_${layer.name}`, [...chain.map((c) => c.name), layer.name].join('_')];
    let name = candidates.find((c) => !taken.has(c));
    for (let k = 1; name === undefined; k++) if (!taken.has(`${layer.name}_${k}`)) name = `${layer.name}_${k}`;
    taken.add(name);
    names.set(layer, name);
  }
  return names;
}

/** A fresh layer of the same class and configuration (weights are copied after it is built). */
function recreate(layer: Layer, name: string): Layer {
  const config = { ...layer.getConfig(), name } as tf.serialization.ConfigDict;
  // An input shape only matters for the first layer of a Sequential; here every layer is applied
  // to a tensor, and leaving it would put a stray batch_input_shape into the flat topology.
  delete config.batchInputShape;
  delete config.inputShape;
  const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<Layer> & {
    fromConfig: (c: tf.serialization.SerializableConstructor<Layer>, cfg: tf.serialization.ConfigDict) => Layer;
  };
  try {
    return cls.fromConfig(cls, config);
  } catch (err) {
    throw new ModelFormatError(`cannot flatten the nested model: layer "${layer.name}" (${layer.getClassName()}) cannot be recreated from its config: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Rebuilds `model` as one flat functional model. The outer graph is walked from its outputs back to
 * its inputs; a nested model met on the way is expanded in place by binding its own inputs to the
 * tensors it was called on and walking its outputs the same way (any depth). Each leaf layer is
 * recreated from `getClassName()` + `getConfig()`, applied with the original call arguments, and
 * given a copy of all its weights (trainable and not: BatchNorm moving mean/variance included). A
 * leaf stays trainable only if it and every model enclosing it were (tfjs's own rule for
 * `trainableWeights`). Layers that were really shared (called at several nodes) stay shared in the
 * flat model, so later stages refuse them by their own name. The input model is left untouched.
 * @example const { model: flat, sources } = flattenModel(teachableMachineModel); sources.get('Conv1') // 'sequential_1/model/Conv1'
 */
export function flattenModel(model: tf.LayersModel): FlattenResult {
  if (!hasNestedModels(model)) return { model, flattened: false, sources: new Map() };
  const leaves = new Map<Layer, LeafInfo>();
  collectLeaves(model, [], leaves);
  const inputNames = model.inputs.map((t) => t.sourceLayer.name);
  const names = assignNames(leaves, inputNames);
  const clones = new Map<Layer, Layer>();
  const created: Layer[] = [];

  const cloneOf = (layer: Layer): Layer => {
    let c = clones.get(layer);
    if (!c) {
      c = recreate(layer, names.get(layer) ?? layer.name);
      clones.set(layer, c);
      created.push(c);
    }
    return c;
  };

  const newInputs = model.inputs.map((t) => tf.input({ batchShape: [...t.shape], dtype: t.dtype, name: t.sourceLayer.name }));
  const top = new Map<number, tf.SymbolicTensor>();
  model.inputs.forEach((t, i) => top.set(t.id, newInputs[i]));

  // Each scope maps original tensor ids to rebuilt tensors; a nested model's expansion gets its
  // own scope so that a model applied twice is expanded twice rather than aliased.
  const resolve = (t: tf.SymbolicTensor, scope: Map<number, tf.SymbolicTensor>): tf.SymbolicTensor => {
    const hit = scope.get(t.id);
    if (hit) return hit;
    const layer = t.sourceLayer;
    if (isInputLayer(layer)) {
      throw new ModelFormatError(`cannot flatten the nested model: input "${layer.name}" is not connected to the outer model's inputs`);
    }
    const node = layer.inboundNodes[t.nodeIndex];
    const inputs = node.inputTensors.map((x) => resolve(x, scope));
    let outputs: tf.SymbolicTensor[];
    if (isContainer(layer)) {
      const inner = new Map<number, tf.SymbolicTensor>();
      layer.inputs.forEach((x, i) => inner.set(x.id, inputs[i]));
      outputs = layer.outputs.map((o) => resolve(o, inner));
    } else {
      const applied = cloneOf(layer).apply(inputs.length === 1 ? inputs[0] : inputs, (node.callArgs ?? {}) as Kwargs);
      outputs = (Array.isArray(applied) ? applied : [applied]) as tf.SymbolicTensor[];
    }
    node.outputTensors.forEach((o, i) => scope.set(o.id, outputs[i]));
    const out = scope.get(t.id);
    if (!out) throw new ModelFormatError(`cannot flatten the nested model: layer "${layer.name}" did not produce output ${t.tensorIndex}`);
    return out;
  };

  try {
    const newOutputs = model.outputs.map((t) => resolve(t, top));
    const flat = tf.model({ inputs: newInputs, outputs: newOutputs, name: model.name });
    const sources: NestingMap = new Map();
    for (const [orig, clone] of clones) {
      const chain = leaves.get(orig)?.chain ?? [];
      clone.setWeights(orig.getWeights());
      clone.trainable = orig.trainable && chain.every((c) => c.trainable) && model.trainable;
      const path = [...chain.map((c) => c.name), orig.name].join('/');
      if (path !== clone.name) sources.set(clone.name, path);
    }
    return { model: flat, flattened: true, sources };
  } catch (err) {
    for (const c of created) {
      try {
        c.dispose();
      } catch {
        // A layer that failed before it was built holds no weights to free.
      }
    }
    throw err;
  }
}

/**
 * Frees every weight of a (possibly nested) model once. `model.dispose()` is not enough for nested
 * models: tfjs counts a nested model's own construction as a use, so a nested Sequential called in
 * its parent keeps a reference after the parent is disposed and its weights are never freed.
 */
export function disposeModelWeights(model: tf.LayersModel): void {
  const leaves = new Map<Layer, LeafInfo>();
  collectLeaves(model, [], leaves);
  const seen = new Set<number>();
  for (const layer of leaves.keys()) {
    for (const w of layer.weights) {
      if (seen.has(w.id)) continue;
      seen.add(w.id);
      try {
        w.dispose();
      } catch {
        // Already freed (e.g. by an earlier dispose of the model).
      }
    }
  }
}

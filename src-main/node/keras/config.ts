/**
 * Translates Keras model configs (Keras 2 `model_config`, Keras 3 `config.json`) into the
 * Keras-2-style topology tfjs-layers deserializes. Differences handled:
 * - Sequential configs in three shapes: a bare list of layers (old Keras 2), `{layers}` (Keras 2),
 *   and the Keras 3 form (with `module`/`registered_name`/`build_config` around every object).
 * - Keras 3 `batch_shape` -> `batch_input_shape`; DTypePolicy objects -> their float32/int32 name.
 * - Keras 3 functional `inbound_nodes` (`{args: [__keras_tensor__...], kwargs}`) -> Keras 2 lists.
 * - Keras 3 `L1`/`L2` regularizers -> tfjs `L1L2`.
 * Layer classes tfjs does not know are reported by name before tfjs is asked to build anything.
 */
import * as tf from '@tensorflow/tfjs';
import { ModelFormatError, inFile } from '../../common/errors';
import { TOPIARY_ACTIVATIONS } from '../../engine/models/activations';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/**
 * Data-augmentation layers that are the identity at inference (Keras applies them only when
 * `training=True`). tfjs has none of them; they are dropped from the graph at import, so the model
 * behaves exactly as Keras does when predicting. RandomCrop is not among them: at inference it
 * center-crops.
 */
export const INFERENCE_IDENTITY_CLASSES = new Set([
  'RandomFlip',
  'RandomRotation',
  'RandomZoom',
  'RandomTranslation',
  'RandomContrast',
  'RandomBrightness',
  'RandomHeight',
  'RandomWidth',
  'GaussianNoise',
  'GaussianDropout',
]);

const CONTAINER_CLASSES = new Set(['Sequential', 'Functional', 'Model']);
/** Keys Keras 3 adds that carry no meaning for tfjs (and would confuse its deserializer). */
const DROP_KEYS = new Set(['module', 'registered_name', 'build_config', 'compile_config', 'shared_object_id']);

/**
 * Keras options tfjs would silently ignore, giving different outputs: per class, a check that
 * returns the problem. (Options tfjs ignores harmlessly, e.g. `groups: 1` on DepthwiseConv2D from
 * Keras >= 2.13, or BatchNormalization `synchronized`, are not listed.)
 */
const IGNORED_BY_TFJS: Record<string, (config: Obj) => string | undefined> = {
  ReLU: (c) => {
    const bad = ['negative_slope', 'threshold'].filter((k) => typeof c[k] === 'number' && c[k] !== 0);
    return bad.length ? `sets ${bad.map((k) => `${k}=${String(c[k])}`).join(', ')}, which tfjs's ReLU does not support (max_value only)` : undefined;
  },
  BatchNormalization: (c) => (c.renorm === true ? 'uses renorm, which tfjs does not support' : undefined),
};

/**
 * Keras activation names tfjs spells differently or lacks (see engine/models/activations.ts).
 * `hard_sigmoid` changed meaning in Keras 3 (relu6(x + 3) / 6, was 0.2 x + 0.5 as in tfjs), so
 * the mapping depends on the Keras major version that wrote the file.
 */
function activationFor(name: string, kerasMajor: number): string {
  if (name === 'silu') return 'swish';
  if (name === 'hard_silu' || name === 'hard_swish') return TOPIARY_ACTIVATIONS.hardSwish;
  if (name === 'leaky_relu') return TOPIARY_ACTIVATIONS.leakyRelu;
  if (name === 'hard_sigmoid' && kerasMajor >= 3) return TOPIARY_ACTIVATIONS.hardSigmoid6;
  return name;
}

/** Keras 3 renamed some layer options; tfjs reads the Keras 2 name and would use its default. */
const RENAMED_OPTIONS: Record<string, Record<string, string>> = {
  LeakyReLU: { negative_slope: 'alpha' },
};

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Returns `{class_name, config}` for tfjs `models.modelFromJSON`, translated from a Keras 2 or
 * Keras 3 model config. Throws ModelFormatError naming `file` for malformed configs and for layer
 * classes tfjs cannot build.
 * @example translateKerasConfig(JSON.parse(attrs.model_config), '/m.h5') // {class_name: 'Sequential', config: {...}}
 */
export function translateKerasConfig(raw: unknown, file: string, kerasVersion?: string): { class_name: string; config: Obj } {
  if (!isObj(raw) || typeof raw.class_name !== 'string') {
    throw new ModelFormatError(inFile(file, 'model config is not an object with a class_name'), { file });
  }
  const major = kerasMajorVersion(kerasVersion, raw);
  return translateModel(raw, file, { known: registeredClassNames(), kerasMajor: major });
}

/**
 * The Keras major version that wrote a config: from the file's recorded version ('2.4.0',
 * '2.2.4-tf', '3.5.0'), else 3 when the config has Keras 3's `registered_name` wrappers without
 * `keras_version` telling otherwise, else 2.
 */
export function kerasMajorVersion(recorded: string | undefined, raw: Obj): number {
  const m = /^(\d+)\./.exec(recorded ?? '');
  if (m) return Number(m[1]);
  return JSON.stringify(raw).includes('"registered_name"') && JSON.stringify(raw).includes('"module":"keras.layers"') ? 3 : 2;
}

interface TranslateContext {
  known: Set<string>;
  kerasMajor: number;
}

function registeredClassNames(): Set<string> {
  const map = (tf.serialization.SerializationMap.getMap() as unknown as { classNameMap: Record<string, unknown> }).classNameMap;
  return new Set(Object.keys(map));
}

function translateModel(raw: Obj, file: string, known: TranslateContext): { class_name: string; config: Obj } {
  const className = raw.class_name as string;
  if (className === 'Sequential') {
    // Old Keras 2 wrote the layer list itself as the config.
    const cfg = raw.config;
    const layersRaw = Array.isArray(cfg) ? cfg : isObj(cfg) ? cfg.layers : undefined;
    if (!Array.isArray(layersRaw)) throw new ModelFormatError(inFile(file, 'Sequential config has no layers list'), { file });
    const name = isObj(cfg) && typeof cfg.name === 'string' ? cfg.name : 'sequential';
    const layers = dropInferenceIdentity(layersRaw).map((l, i) => translateLayer(l, `layer ${i}`, file, known, false));
    foldInputLayer(layers);
    return { class_name: 'Sequential', config: { name, layers } };
  }
  if (className === 'Functional' || className === 'Model') {
    const cfg = raw.config;
    if (!isObj(cfg) || !Array.isArray(cfg.layers)) {
      throw new ModelFormatError(inFile(file, `${className} config has no layers list`), { file });
    }
    const identity = cfg.layers.filter((l) => isObj(l) && INFERENCE_IDENTITY_CLASSES.has(String(l.class_name)));
    const layers = cfg.layers.filter((l) => !identity.includes(l)).map((l, i) => translateLayer(l, `layer ${i}`, file, known, true));
    const bypass = identityBypass(identity, file);
    const shift = nestedNodeShift(layers);
    for (const l of layers) {
      for (const node of (l.inbound_nodes ?? []) as Json[]) {
        if (!Array.isArray(node)) continue;
        node.forEach((ref, i) => (node[i] = bypass(ref)));
        node.forEach((ref) => shiftRef(ref, shift));
      }
    }
    const outputLayers = tensorRefs(cfg.output_layers, 'output_layers', file).map((r) => bypass(Array.isArray(r) ? [...r] : r));
    outputLayers.forEach((ref) => shiftRef(ref, shift));
    return {
      class_name: 'Functional',
      config: {
        name: typeof cfg.name === 'string' ? cfg.name : 'model',
        layers,
        input_layers: tensorRefs(cfg.input_layers, 'input_layers', file),
        output_layers: outputLayers,
      },
    };
  }
  throw new ModelFormatError(inFile(file, `unsupported model class "${className}" (expected Sequential or Functional)`), { file });
}

/** A Sequential without its inference-identity layers; a dropped first layer hands its input shape on. */
function dropInferenceIdentity(layers: Json[]): Json[] {
  const out: Json[] = [];
  let shape: Json | undefined;
  for (const l of layers) {
    if (isObj(l) && INFERENCE_IDENTITY_CLASSES.has(String(l.class_name))) {
      const c = isObj(l.config) ? l.config : {};
      if (out.length === 0) shape ??= c.batch_input_shape ?? c.batch_shape;
      continue;
    }
    if (shape !== undefined && isObj(l) && isObj(l.config) && l.config.batch_input_shape === undefined && l.config.batch_shape === undefined) {
      l.config = { ...l.config, batch_input_shape: shape };
    }
    shape = undefined;
    out.push(l);
  }
  return out;
}

/**
 * Rewires references to dropped inference-identity layers of a functional graph to the tensor the
 * layer was called on (through chains of them). Each must be called exactly once on one tensor.
 */
function identityBypass(dropped: Json[], file: string): (ref: Json) => Json {
  const source = new Map<string, Json>();
  for (const l of dropped) {
    const o = l as Obj;
    const name = isObj(o.config) && typeof o.config.name === 'string' ? o.config.name : String(o.name);
    const nodes = ((o.inbound_nodes ?? []) as Json[]).map((n) => translateNode(n, name, file));
    const refs = nodes.length === 1 && Array.isArray(nodes[0]) ? nodes[0] : [];
    if (refs.length !== 1) throw new ModelFormatError(inFile(file, `layer "${name}" (${String(o.class_name)}) is called ${nodes.length} times or on several inputs; only single calls can be dropped`), { file });
    source.set(typeof o.name === 'string' ? o.name : name, refs[0]);
  }
  const bypass = (ref: Json): Json => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string' || !source.has(ref[0])) return ref;
    const up = source.get(ref[0]) as Json[];
    return bypass([up[0], up[1], up[2], ...(ref.length > 3 ? [ref[3]] : [])] as Json);
  };
  return bypass;
}

/**
 * Keras writes a Sequential's input as a leading InputLayer; tfjs expects the shape on the first
 * real layer (that is how its own Sequential serializes), and a nested Sequential that starts with
 * an InputLayer cannot be wired into an outer graph by tfjs. Fold it in place.
 */
function foldInputLayer(layers: Obj[]): void {
  const first = layers[0];
  if (layers.length < 2 || first.class_name !== 'InputLayer' || !isObj(first.config)) return;
  const next = layers[1].config;
  if (!isObj(next) || next.batch_input_shape !== undefined || CONTAINER_CLASSES.has(String(layers[1].class_name))) return;
  next.batch_input_shape = first.config.batch_input_shape ?? null;
  if (typeof first.config.dtype === 'string') next.dtype = first.config.dtype;
  layers.shift();
}

/**
 * Keras renumbers nodes when it saves a functional model, keeping only the nodes of this graph:
 * a nested model's own first node (created when it was built on its own input) is dropped, so its
 * call appears as node 0 (Keras skips that node again when loading, `_should_skip_first_node`).
 * tfjs does not renumber: a nested Functional, or a nested Sequential with an input shape, gets
 * that internal node 0 back when built, so references to it must point at node index + 1.
 */
function nestedNodeShift(layers: Obj[]): Map<string, number> {
  const shift = new Map<string, number>();
  for (const l of layers) {
    const cfg = l.config;
    if (typeof l.name !== 'string' || !isObj(cfg)) continue;
    if (l.class_name === 'Functional' || l.class_name === 'Model') shift.set(l.name, 1);
    if (l.class_name === 'Sequential' && Array.isArray(cfg.layers)) {
      const first = cfg.layers[0];
      if (isObj(first) && isObj(first.config) && first.config.batch_input_shape != null) shift.set(l.name, 1);
    }
  }
  return shift;
}

function shiftRef(ref: Json, shift: Map<string, number>): void {
  if (Array.isArray(ref) && typeof ref[0] === 'string' && typeof ref[1] === 'number') ref[1] += shift.get(ref[0]) ?? 0;
}

/** Keras 3 writes a single input/output as a flat `[name, node, tensor]`; Keras 2 always nests. */
function tensorRefs(v: Json | undefined, what: string, file: string): Json[] {
  if (!Array.isArray(v) || v.length === 0) throw new ModelFormatError(inFile(file, `functional config has no ${what}`), { file });
  return typeof v[0] === 'string' ? [v] : v;
}

function translateLayer(l: Json, where: string, file: string, known: TranslateContext, functional: boolean): Obj {
  if (!isObj(l) || typeof l.class_name !== 'string' || !isObj(l.config)) {
    throw new ModelFormatError(inFile(file, `${where} is not a {class_name, config} object`), { file });
  }
  const className = l.class_name;
  const name = typeof l.config.name === 'string' ? l.config.name : typeof l.name === 'string' ? l.name : where;
  if (CONTAINER_CLASSES.has(className)) {
    const nested = translateModel(l, file, known);
    const out: Obj = { class_name: nested.class_name, config: nested.config };
    if (functional) copyNodeInfo(l, out, name, file);
    return out;
  }
  if (!known.known.has(className)) {
    throw new ModelFormatError(inFile(file, `layer "${name}" has class ${className}, which tfjs cannot build`), { file });
  }
  const ignored = IGNORED_BY_TFJS[className]?.(l.config);
  if (ignored) throw new ModelFormatError(inFile(file, `layer "${name}" (${className}) ${ignored}`), { file });
  const config = cleanValue(l.config) as Obj;
  if ('batch_shape' in config) {
    config.batch_input_shape = config.batch_shape;
    delete config.batch_shape;
  }
  if (className === 'InputLayer') delete config.optional;
  for (const key of ['activation', 'recurrent_activation']) {
    if (typeof config[key] === 'string') config[key] = activationFor(config[key], known.kerasMajor);
  }
  for (const [from, to] of Object.entries(RENAMED_OPTIONS[className] ?? {})) {
    if (from in config) {
      config[to] = config[from];
      delete config[from];
    }
  }
  for (const key of ['layer', 'cell', 'forward_layer', 'backward_layer']) {
    // Wrappers (TimeDistributed, Bidirectional, RNN) hold one layer config each.
    const inner = l.config[key];
    if (isObj(inner) && typeof inner.class_name === 'string') config[key] = translateLayer(inner, `${where}.${key}`, file, known, false);
  }
  const out: Obj = { class_name: className, config };
  if (functional) copyNodeInfo(l, out, name, file);
  return out;
}

function copyNodeInfo(l: Obj, out: Obj, name: string, file: string): void {
  out.name = name;
  const nodes = l.inbound_nodes ?? [];
  if (!Array.isArray(nodes)) throw new ModelFormatError(inFile(file, `layer "${name}" inbound_nodes is not a list`), { file });
  out.inbound_nodes = nodes.map((n) => translateNode(n, name, file));
}

/** Keras 3 node `{args, kwargs}` -> Keras 2 `[[layer, node, tensor, {}], ...]`; Keras 2 nodes pass through. */
function translateNode(n: Json, layer: string, file: string): Json {
  if (Array.isArray(n)) return JSON.parse(JSON.stringify(n)) as Json; // copied: node indices get shifted later
  if (!isObj(n) || !Array.isArray(n.args)) throw new ModelFormatError(inFile(file, `layer "${layer}" has an unreadable inbound node`), { file });
  const refs: Json[] = [];
  const visit = (v: Json) => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (isObj(v) && v.class_name === '__keras_tensor__' && isObj(v.config) && Array.isArray(v.config.keras_history)) {
      const [src, node, tensor] = v.config.keras_history;
      refs.push([src, node, tensor, {}]);
    }
  };
  visit(n.args);
  if (refs.length === 0) throw new ModelFormatError(inFile(file, `layer "${layer}" has an inbound node without input tensors`), { file });
  return refs;
}

/** Strips Keras 3 wrapper keys, flattens dtype policies and maps regularizers tfjs names differently. */
function cleanValue(v: Json): Json {
  if (Array.isArray(v)) return v.map(cleanValue);
  if (!isObj(v)) return v;
  // DTypePolicy, FloatDTypePolicy, QuantizedDTypePolicy (Keras 3 versions differ), Policy (Keras 2 mixed precision).
  if (typeof v.class_name === 'string' && (v.class_name.endsWith('DTypePolicy') || v.class_name === 'Policy')) {
    const n = isObj(v.config) && typeof v.config.name === 'string' ? v.config.name : 'float32';
    // tfjs computes in float32; mixed-precision policies still hold float32 variables.
    return n.startsWith('int') || n === 'bool' ? n : 'float32';
  }
  if (v.class_name === 'function' && typeof v.config === 'string') return v.config; // Keras 3 builtin activation
  if ((v.class_name === 'L2' || v.class_name === 'L1') && isObj(v.config)) {
    const l1 = typeof v.config.l1 === 'number' ? v.config.l1 : 0;
    const l2 = typeof v.config.l2 === 'number' ? v.config.l2 : 0;
    return { class_name: 'L1L2', config: { l1, l2 } };
  }
  const out: Obj = {};
  for (const [k, val] of Object.entries(v)) {
    if (DROP_KEYS.has(k)) continue;
    out[k] = cleanValue(val);
  }
  return out;
}

/**
 * Where a Keras 3 `.keras` file keeps each layer's variables inside `model.weights.h5`.
 *
 * Keras 3 (and tf.keras >= 2.13 in its `.keras` format) does not address a layer by `layer.name`,
 * which is session-dependent (`conv2d_12` after eleven other Conv2D in a notebook). It walks the
 * model from the root (path ""): a Sequential or Functional yields its `layers` list first, and
 * each list element gets the snake-cased Python class name plus a per-list counter in list order
 * (`Conv2D` -> `conv2d`, `conv2d_1`, ...; `DepthwiseConv2D` -> `depthwise_conv2d`; `ReLU` ->
 * `re_lu`). A layer's own variables go to `<path>/vars/<i>` in creation order (trainable first,
 * then non-trainable: BatchNormalization stores gamma, beta, moving_mean, moving_variance), and
 * layers it owns as attributes nest under the attribute name (`lstm/cell/vars`,
 * `bidirectional/forward_layer/cell/vars`). Nested models nest the same way
 * (`layers/functional/layers/sequential/layers/conv2d/vars/0`).
 *
 * The list order is the model's layer order, which is also the order of `layers` in config.json
 * (both come from the same operations list), so the layout follows from the config alone.
 * Newer Keras also writes the layer's name as a `name` attribute on each `vars` group; the importer
 * uses it as a cross-check when present.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** One layer's storage group, and for a nested model its own layers by name. */
export interface KerasSlot {
  /** Group path inside model.weights.h5, e.g. `layers/functional/layers/conv2d`. */
  path: string;
  className: string;
  /** A nested model's layers, by name. */
  children?: Map<string, KerasSlot>;
  /** A wrapper's sub-layers (see KERAS3_SUBLAYERS), whose variables follow the layer's own. */
  parts?: KerasSlot[];
}

const CONTAINERS = new Set(['Sequential', 'Functional', 'Model']);

/**
 * Sub-layers a wrapper owns as attributes, in the order tfjs lists their weights (storage order is
 * alphabetical by attribute, so Bidirectional stores backward_layer first but tfjs wants forward
 * first), each with the config keys that describe it (first present wins; an RNN's cell has none,
 * and a cell is never a wrapper). A class not listed keeps all its variables in its own `vars`.
 */
export const KERAS3_SUBLAYERS: Readonly<Record<string, readonly { attr: string; configKeys: readonly string[] }[]>> = {
  Bidirectional: [
    { attr: 'forward_layer', configKeys: ['layer'] },
    { attr: 'backward_layer', configKeys: ['backward_layer', 'layer'] },
  ],
  TimeDistributed: [{ attr: 'layer', configKeys: ['layer'] }],
  RNN: [{ attr: 'cell', configKeys: [] }],
  SimpleRNN: [{ attr: 'cell', configKeys: [] }],
  LSTM: [{ attr: 'cell', configKeys: [] }],
  GRU: [{ attr: 'cell', configKeys: [] }],
  ConvLSTM2D: [{ attr: 'cell', configKeys: [] }],
};

/** Keras's `naming.to_snake_case`: drop non-word characters, split before capitalised words and at lower-upper boundaries. */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Maps every layer of a Keras model config (Keras 2 or 3 form) to its storage group, by layer name
 * at each nesting level. `layersKey` is `layers` (Keras 3) or `_layer_checkpoint_dependencies`
 * (the name tf.keras 2.13-2.15 `.keras` files use for the same lists).
 * @example keras3Layout(config).get('conv2d_12')?.path // 'layers/conv2d'
 */
export function keras3Layout(rawConfig: unknown, layersKey = 'layers'): Map<string, KerasSlot> {
  return containerSlots(rawConfig, '', layersKey);
}

function containerSlots(model: unknown, prefix: string, layersKey: string): Map<string, KerasSlot> {
  const out = new Map<string, KerasSlot>();
  if (!isObj(model)) return out;
  const cfg = model.config;
  const list = Array.isArray(cfg) ? cfg : isObj(cfg) && Array.isArray(cfg.layers) ? cfg.layers : [];
  const used = new Map<string, number>();
  for (const [i, l] of list.entries()) {
    if (!isObj(l) || typeof l.class_name !== 'string') continue;
    // Sequential.layers omits its leading InputLayer; in a Functional an InputLayer counts only
    // against `input_layer`, which holds nothing. Either way it never shifts another class's counter.
    if (l.class_name === 'InputLayer') continue;
    const pyClass = l.class_name === 'Model' ? 'Functional' : l.class_name; // keras.Model(inputs, outputs) is a Functional
    const base = kerasSnakeCase(pyClass);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    const group = n === undefined ? base : `${base}_${n + 1}`;
    const path = `${prefix}${layersKey}/${group}`;
    const name = isObj(l.config) && typeof l.config.name === 'string' ? l.config.name : typeof l.name === 'string' ? l.name : `layer ${i}`;
    const slot = CONTAINERS.has(l.class_name) ? { path, className: l.class_name, children: containerSlots(l, `${path}/`, layersKey) } : leafSlot(path, l);
    out.set(name, slot);
  }
  return out;
}

function leafSlot(path: string, layer: Obj): KerasSlot {
  const className = typeof layer.class_name === 'string' ? layer.class_name : '';
  const slot: KerasSlot = { path, className };
  const subs = KERAS3_SUBLAYERS[className];
  if (subs) {
    const cfg = isObj(layer.config) ? layer.config : {};
    slot.parts = subs.map(({ attr, configKeys }) => {
      const key = configKeys.find((k) => isObj(cfg[k]));
      return leafSlot(`${path}/${attr}`, key ? (cfg[key] as Obj) : {});
    });
  }
  return slot;
}

/**
 * Writes Keras-layout model files for the import tests: Keras 2 `.h5` (model_config attribute +
 * model_weights/<layer>/<weight_name>) and Keras 3 `.keras` zips (config.json + metadata.json +
 * model.weights.h5 with layers/<group>/vars/<i>), with configs shaped like Keras itself writes them.
 * Files written by Keras 3 itself live in test/fixtures/keras3 (see generate.py there).
 */
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { strToU8, zipSync } from 'fflate';
import { promises as fs } from 'node:fs';
import path from 'node:path';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const INIT_K2 = { glorot: { class_name: 'GlorotUniform', config: { seed: null } }, zeros: { class_name: 'Zeros', config: {} }, ones: { class_name: 'Ones', config: {} } };

function k3Init(i: { class_name: string; config: Obj }): Obj {
  return { module: 'keras.initializers', class_name: i.class_name, config: i.config, registered_name: null };
}
const K3_DTYPE: Obj = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };

/** Layer hyperparameters the fixtures use, in Keras (snake_case) form. */
export type LayerSpec =
  | { cls: 'Conv2D'; name: string; filters: number; kernel: number; activation: string }
  | { cls: 'BatchNormalization'; name: string; axis?: number }
  | { cls: 'MaxPooling2D'; name: string; pool: number }
  | { cls: 'Flatten'; name: string }
  | { cls: 'Dense'; name: string; units: number; activation: string }
  | { cls: 'Add' | 'Concatenate'; name: string }
  | { cls: string; name: string }; // anything else, to provoke "unsupported layer"

export function kerasLayerConfig(s: LayerSpec, style: 'k2' | 'k3'): Obj {
  const init = style === 'k2' ? (i: keyof typeof INIT_K2) => INIT_K2[i] as Obj : (i: keyof typeof INIT_K2) => k3Init(INIT_K2[i]);
  const base: Obj = { name: s.name, trainable: true, dtype: style === 'k2' ? 'float32' : K3_DTYPE };
  switch (s.cls) {
    case 'Conv2D': {
      const c = s as Extract<LayerSpec, { cls: 'Conv2D' }>;
      return { ...base, filters: c.filters, kernel_size: [c.kernel, c.kernel], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: c.activation, use_bias: true, kernel_initializer: init('glorot'), bias_initializer: init('zeros'), kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
    }
    case 'BatchNormalization':
      return { ...base, axis: style === 'k2' ? [(s as { axis?: number }).axis ?? 3] : -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, beta_initializer: init('zeros'), gamma_initializer: init('ones'), moving_mean_initializer: init('zeros'), moving_variance_initializer: init('ones'), beta_regularizer: null, gamma_regularizer: null, beta_constraint: null, gamma_constraint: null, ...(style === 'k3' ? { synchronized: false } : {}) };
    case 'MaxPooling2D': {
      const p = (s as Extract<LayerSpec, { cls: 'MaxPooling2D' }>).pool;
      return { ...base, pool_size: [p, p], padding: 'valid', strides: [p, p], data_format: 'channels_last' };
    }
    case 'Flatten':
      return { ...base, data_format: 'channels_last' };
    case 'Dense': {
      const d = s as Extract<LayerSpec, { cls: 'Dense' }>;
      return { ...base, units: d.units, activation: d.activation, use_bias: true, kernel_initializer: init('glorot'), bias_initializer: init('zeros'), kernel_regularizer: style === 'k3' ? { module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.0001 }, registered_name: null } : null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null };
    }
    case 'Concatenate':
      return { ...base, axis: -1 };
    default:
      return base;
  }
}

function wrap(cls: string, config: Obj, style: 'k2' | 'k3'): Obj {
  return style === 'k2' ? { class_name: cls, config } : { module: 'keras.layers', class_name: cls, config, registered_name: null };
}

/** A Sequential config in one of the three shapes found in the wild. */
export function sequentialConfig(inputShape: number[], layers: LayerSpec[], shape: 'k2-list' | 'k2-dict' | 'k3'): Obj {
  if (shape === 'k2-list') {
    // Old Keras 2: the config IS the layer list; the first layer carries batch_input_shape.
    const list = layers.map((l, i) => wrap(l.cls, i === 0 ? { ...kerasLayerConfig(l, 'k2'), batch_input_shape: [null, ...inputShape] } : kerasLayerConfig(l, 'k2'), 'k2'));
    return { class_name: 'Sequential', config: list };
  }
  const style = shape === 'k2-dict' ? 'k2' : 'k3';
  const input = style === 'k2'
    ? wrap('InputLayer', { batch_input_shape: [null, ...inputShape], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, 'k2')
    : wrap('InputLayer', { batch_shape: [null, ...inputShape], dtype: 'float32', sparse: false, name: 'input_layer' }, 'k3');
  const list = [input, ...layers.map((l) => wrap(l.cls, kerasLayerConfig(l, style), style))];
  if (style === 'k2') return { class_name: 'Sequential', config: { name: 'sequential', layers: list } };
  return { module: 'keras', class_name: 'Sequential', config: { name: 'sequential', trainable: true, dtype: K3_DTYPE, layers: list }, registered_name: null, build_config: { input_shape: [null, ...inputShape] }, compile_config: null };
}

/** Functional node wiring: each layer names its inputs; `input` is the model input. */
export interface FunctionalSpec {
  inputShape: number[];
  layers: { spec: LayerSpec; inputs: string[] }[];
  output: string;
}

export function functionalConfig(f: FunctionalSpec, style: 'k2' | 'k3'): Obj {
  const inputName = style === 'k2' ? 'input_1' : 'input_layer';
  const rename = (n: string) => (n === 'input' ? inputName : n);
  const shapes = new Map<string, Json>([[inputName, [null, ...f.inputShape]]]);
  const inputLayer: Obj = style === 'k2'
    ? { class_name: 'InputLayer', config: { batch_input_shape: [null, ...f.inputShape], dtype: 'float32', sparse: false, ragged: false, name: inputName }, name: inputName, inbound_nodes: [] }
    : { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, ...f.inputShape], dtype: 'float32', sparse: false, name: inputName }, registered_name: null, name: inputName, inbound_nodes: [] };
  const layers: Obj[] = [inputLayer];
  for (const { spec, inputs } of f.layers) {
    const config = kerasLayerConfig(spec, style);
    if (style === 'k2') {
      layers.push({ class_name: spec.cls, config, name: spec.name, inbound_nodes: [inputs.map((i) => [rename(i), 0, 0, {}])] });
    } else {
      const tensors = inputs.map((i) => ({ class_name: '__keras_tensor__', config: { shape: shapes.get(rename(i)) ?? null, dtype: 'float32', keras_history: [rename(i), 0, 0] } }));
      layers.push({ module: 'keras.layers', class_name: spec.cls, config, registered_name: null, build_config: { input_shape: null }, name: spec.name, inbound_nodes: [{ args: tensors.length === 1 ? tensors : [tensors], kwargs: {} }] });
    }
  }
  if (style === 'k2') {
    return { class_name: 'Functional', config: { name: 'model', layers, input_layers: [[inputName, 0, 0]], output_layers: [[f.output, 0, 0]] } };
  }
  // Keras 3 writes a single input/output as a flat triple.
  return { module: 'keras.src.models.functional', class_name: 'Functional', config: { name: 'functional', trainable: true, layers, input_layers: [inputName, 0, 0], output_layers: [f.output, 0, 0] }, registered_name: 'Functional', build_config: { input_shape: [null, ...f.inputShape] }, compile_config: null };
}

/** Per-layer weights (name, values, shape) in the layer's weight order, taken from a tfjs model. */
export function layerWeights(model: tf.LayersModel): Map<string, { name: string; values: Float32Array; shape: number[] }[]> {
  const out = new Map<string, { name: string; values: Float32Array; shape: number[] }[]>();
  for (const layer of model.layers) {
    out.set(layer.name, layer.weights.map((w) => ({ name: w.originalName, values: w.read().dataSync() as Float32Array, shape: [...w.shape] as number[] })));
  }
  return out;
}

/** h5py stores numpy byte-string arrays as fixed-length `S<n>` strings; Keras 2 name lists are written that way. */
function fixedStrings(g: { create_attribute: InstanceType<typeof h5wasm.Group>['create_attribute'] }, name: string, values: string[]): void {
  g.create_attribute(name, values, [values.length], `S${Math.max(1, ...values.map((v) => v.length))}`);
}

/**
 * Writes a Keras 2 full-model .h5 file. `fixedConfig` stores model_config as a fixed-length byte
 * string (old Keras encoded the JSON to bytes) instead of a variable-length UTF-8 string;
 * `chunkNames` splits each weight_names list the way Keras 2 does for very long lists.
 */
export async function writeKeras2H5(file: string, config: Obj | null, weights: ReturnType<typeof layerWeights>, opts: { fixedConfig?: boolean; chunkNames?: boolean } = {}): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, 'w');
  try {
    if (config) {
      const json = JSON.stringify(config);
      if (opts.fixedConfig) f.create_attribute('model_config', json, null, `S${json.length}`);
      else f.create_attribute('model_config', json);
    }
    f.create_attribute('keras_version', '2.15.0');
    f.create_attribute('backend', 'tensorflow');
    const mw = f.create_group('model_weights');
    fixedStrings(mw, 'layer_names', [...weights.keys()]);
    for (const [layer, ws] of weights) {
      const g = mw.create_group(layer);
      const names = ws.map((w) => `${w.name}:0`);
      if (names.length === 0) {
        g.create_attribute('weight_names', new Float64Array(0), [0]); // np.asarray([]) is float64, as Keras 2 writes it
      } else if (opts.chunkNames && names.length > 1) {
        // Keras 2 splits long name lists into weight_names0, weight_names1, ... (64 KiB header limit)
        fixedStrings(g, 'weight_names0', names.slice(0, 1));
        fixedStrings(g, 'weight_names1', names.slice(1));
      } else {
        fixedStrings(g, 'weight_names', names);
      }
      for (const w of ws) {
        const [prefix, leaf] = [path.posix.dirname(`${w.name}:0`), path.posix.basename(`${w.name}:0`)];
        const sub = g.get(prefix) ?? g.create_group(prefix);
        (sub as InstanceType<typeof h5wasm.Group>).create_dataset({ name: leaf, data: w.values, shape: w.shape });
      }
    }
  } finally {
    f.close();
  }
}

/**
 * Writes a Keras 3 .keras zip; `weights` keyed by storage group under `layers/` (Keras 3 groups by
 * snake-cased class and position: `conv2d`, `dense_1`, or `sequential/layers/dense` inside a nested
 * model). `names` optionally records a layer name on a group's `vars`, as newer Keras does.
 */
export async function writeKeras3(file: string, config: Obj, weights: ReturnType<typeof layerWeights>, tmpDir: string, names: Record<string, string> = {}): Promise<void> {
  await h5wasm.ready;
  const h5Path = path.join(tmpDir, `weights-${Date.now()}-${Math.random().toString(36).slice(2)}.h5`);
  const f = new h5wasm.File(h5Path, 'w');
  try {
    const layers = f.create_group('layers');
    for (const [layer, ws] of weights) {
      // A key like `block/layers/inner` addresses a layer inside a nested model.
      let g = layers;
      for (const part of layer.split('/')) g = (g.get(part) as InstanceType<typeof h5wasm.Group> | null) ?? g.create_group(part);
      const vars = g.create_group('vars');
      if (names[layer]) vars.create_attribute('name', names[layer]);
      ws.forEach((w, i) => vars.create_dataset({ name: String(i), data: w.values, shape: w.shape }));
    }
    f.create_group('optimizer').create_group('vars');
  } finally {
    f.close();
  }
  const h5 = new Uint8Array(await fs.readFile(h5Path));
  await fs.rm(h5Path);
  const meta = { keras_version: '3.6.0', date_saved: '2026-11-27@10:00:00' };
  await fs.writeFile(file, zipSync({ 'metadata.json': strToU8(JSON.stringify(meta)), 'config.json': strToU8(JSON.stringify(config)), 'model.weights.h5': h5 }));
}

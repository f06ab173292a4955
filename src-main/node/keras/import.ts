/**
 * Keras model import: Keras 2 `.h5` (HDF5: root attribute `model_config`, weights under
 * `model_weights/<layer>/` in `weight_names` order) and Keras 3 `.keras` (zip: `config.json`,
 * `metadata.json`, `model.weights.h5` with `layers/<class group>/vars/<i>`, see ./layout). The config is translated for
 * tfjs (see ./config), the model is built by tfjs, and weights are assigned layer by layer in
 * order, with a shape check for each.
 */
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import type { Dataset as H5Dataset, Group as H5Group } from 'h5wasm/node';
import { strFromU8 } from 'fflate';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModelFormatError, TopiaryError, inFile } from '../../common/errors';
import { safeUnzip } from '../safe-unzip';
import { translateKerasConfig } from './config';
import { keras3Layout, type KerasSlot } from './layout';
import { parseJsonWithPosition } from '../models/json-error';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Loads a Keras `.h5` (Keras 2 full-model HDF5) or `.keras` (Keras 3 zip) file as a tfjs LayersModel.
 * The format is recognised by content (HDF5 signature or zip magic), so a misnamed file still loads.
 * Every problem (not HDF5, corrupt zip, missing model_config, a layer class tfjs lacks, a weight of the
 * wrong shape) is a ModelFormatError naming the file.
 * @example const model = await loadKerasModel('/models/lenet.h5'); model.predict(x)
 */
export async function loadKerasModel(file: string): Promise<tf.LayersModel> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await fs.readFile(file));
  } catch (err) {
    throw new ModelFormatError(inFile(file, `cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`), { file, cause: err });
  }
  if (isZip(bytes)) return loadKeras3(file, bytes);
  if (hdf5Offset(bytes) >= 0) return loadKeras2(file);
  const ext = path.extname(file).toLowerCase();
  const what = ext === '.keras' ? 'not a zip archive (a .keras file is a zip)' : 'not an HDF5 file (no HDF5 signature)';
  throw new ModelFormatError(inFile(file, what), { file });
}

function isZip(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 0x03 || b[2] === 0x05) && (b[3] === 0x04 || b[3] === 0x06);
}

/** HDF5 superblocks sit at 0, 512, 1024, 2048, ... (after an optional user block). */
function hdf5Offset(b: Uint8Array): number {
  for (let off = 0; off + 8 <= b.length; off = off === 0 ? 512 : off * 2) {
    if (HDF5_SIGNATURE.every((v, i) => b[off + i] === v)) return off;
  }
  return -1;
}

type WeightSource = (layer: tf.layers.Layer) => tf.Tensor[] | undefined;

async function loadKeras2(file: string): Promise<tf.LayersModel> {
  await h5wasm.ready;
  const h5 = openH5(file, file);
  try {
    const rawConfig = h5.attrs['model_config'] ? h5.get_attribute('model_config', false) : undefined;
    if (rawConfig === undefined) {
      const hint = h5.get('layer_names') !== null || h5.attrs['layer_names'] ? ' (a weights-only file? save the whole model)' : '';
      throw new ModelFormatError(inFile(file, `missing root attribute model_config${hint}`), { file });
    }
    const config = parseJsonAttr(rawConfig, 'model_config', file);
    const version = h5.attrs['keras_version'] ? h5.get_attribute('keras_version', false) : undefined;
    const weightsRoot = h5.get('model_weights');
    const root = isGroup(weightsRoot) ? weightsRoot : h5; // Keras 1/2 save_weights layout keeps layers at the root
    const source: WeightSource = (layer) => {
      const g = root.get(layer.name);
      if (!isGroup(g)) return undefined;
      const names = stringListAttr(g, 'weight_names');
      return names.map((n) => {
        const ds = g.get(n);
        if (!isDataset(ds)) throw new ModelFormatError(inFile(file, `layer "${layer.name}" lists weight ${n} but it is missing`), { file });
        return datasetTensor(ds, `${layer.name}/${n}`, file);
      });
    };
    return await buildModel(config, source, file, typeof version === 'string' ? version : undefined);
  } finally {
    h5.close();
  }
}

async function loadKeras3(file: string, bytes: Uint8Array): Promise<tf.LayersModel> {
  // CRC-checked, and declared sizes capped against the file's size before anything is inflated.
  const entries = safeUnzip(bytes, file, { errorClass: ModelFormatError });
  if (!entries['config.json']) throw new ModelFormatError(inFile(file, 'zip has no config.json (not a Keras 3 .keras file)'), { file });
  const config = parseJsonAttr(strFromU8(entries['config.json']), 'config.json', file);
  // tf.keras 2.13-2.15 also wrote .keras zips; metadata.json says which Keras did.
  const metadata = entries['metadata.json'] ? (parseJsonAttr(strFromU8(entries['metadata.json']), 'metadata.json', file) as { keras_version?: unknown }) : {};
  const version = typeof metadata.keras_version === 'string' ? metadata.keras_version : '3';
  const weights = entries['model.weights.h5'];
  if (!weights) throw new ModelFormatError(inFile(file, 'zip has no model.weights.h5'), { file });
  if (hdf5Offset(weights) < 0) throw new ModelFormatError(inFile(file, 'model.weights.h5 inside the zip is not an HDF5 file'), { file });

  // h5wasm opens files by path: park the inner HDF5 in a private temp file for the duration.
  const tmp = path.join(os.tmpdir(), `topiary-keras-${randomUUID()}.h5`);
  await fs.writeFile(tmp, weights);
  await h5wasm.ready;
  try {
    const h5 = openH5(tmp, `${file}:model.weights.h5`);
    try {
      // tf.keras 2.13-2.15 wrote the same layout under `_layer_checkpoint_dependencies`.
      const layersKey = h5.get('layers') === null && h5.get('_layer_checkpoint_dependencies') !== null ? '_layer_checkpoint_dependencies' : 'layers';
      const layout = keras3Layout(config, layersKey);
      const source: WeightSource = (layer) => {
        const slot = layout.get(layer.name);
        const values = slot ? keras3LayerVars(h5, slot, layer, file) : undefined;
        if (!values) throw new ModelFormatError(inFile(file, `no weights stored for layer "${layer.name}"${slot ? ` (looked in ${slot.path}/vars)` : ''}`), { file });
        return values;
      };
      return await buildModel(config, source, file, version);
    } finally {
      h5.close();
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * A layer's stored values in tfjs weight order (see ./layout for where Keras 3 puts them): a leaf
 * layer's own `vars/0..n-1` followed by its wrapped sub-layers'; a nested model's weights are its
 * sublayers' values, matched by weight. Returns undefined when the layer's group is absent.
 */
function keras3LayerVars(h5: H5Group, slot: KerasSlot, layer: tf.layers.Layer, file: string): tf.Tensor[] | undefined {
  if (layer instanceof tf.LayersModel) {
    const byName = new Map<string, tf.Tensor>();
    const created: tf.Tensor[] = [];
    try {
      for (const inner of layer.layers) {
        if (inner.weights.length === 0) continue;
        const innerSlot = slot.children?.get(inner.name);
        const vals = innerSlot ? keras3LayerVars(h5, innerSlot, inner, file) : undefined;
        if (!vals) throw new ModelFormatError(inFile(file, `no weights stored for layer "${inner.name}" inside "${layer.name}"${innerSlot ? ` (looked in ${innerSlot.path}/vars)` : ''}`), { file });
        created.push(...vals);
        checkCount(inner, vals, file);
        inner.weights.forEach((w, i) => byName.set(w.name, vals[i]));
      }
      return layer.weights.map((w) => {
        const t = byName.get(w.name);
        if (!t) throw new ModelFormatError(inFile(file, `no stored value for weight ${w.originalName} of layer "${layer.name}"`), { file });
        return t.clone();
      });
    } finally {
      tf.dispose(created);
    }
  }
  const g = h5.get(slot.path);
  if (!isGroup(g)) return undefined;
  const vars = g.get('vars');
  if (isGroup(vars)) {
    // Newer Keras records whose variables these are; a different name means the layout rule and
    // this file disagree, and loading would silently put weights into the wrong layer.
    const stored = vars.attrs['name'] ? vars.get_attribute('name', false) : undefined;
    const storedName = stored instanceof Uint8Array ? new TextDecoder().decode(stored) : stored;
    if (typeof storedName === 'string' && storedName !== layer.name) {
      throw new ModelFormatError(inFile(file, `${slot.path}/vars holds the weights of layer "${storedName}", expected "${layer.name}"`), { file });
    }
  }
  const out: tf.Tensor[] = [];
  try {
    readSlotVars(h5, slot, file, out);
  } catch (err) {
    tf.dispose(out);
    throw err;
  }
  return out;
}

/** Appends a group's own `vars/0..n-1`, then its sub-layers' (wrappers), to `out`. */
function readSlotVars(h5: H5Group, slot: KerasSlot, file: string, out: tf.Tensor[]): void {
  const g = h5.get(slot.path);
  const vars = isGroup(g) ? g.get('vars') : null;
  if (isGroup(vars)) {
    const keys = vars.keys().filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    for (const k of keys) {
      const ds = vars.get(k);
      if (!isDataset(ds)) throw new ModelFormatError(inFile(file, `${slot.path}/vars/${k} is not a dataset`), { file });
      out.push(datasetTensor(ds, `${slot.path}/vars/${k}`, file));
    }
  }
  for (const p of slot.parts ?? []) readSlotVars(h5, p, file, out);
}

async function buildModel(rawConfig: unknown, source: WeightSource, file: string, kerasVersion: string | undefined): Promise<tf.LayersModel> {
  const topology = translateKerasConfig(rawConfig, file, kerasVersion);
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.serialization.ConfigDict });
  } catch (err) {
    if (err instanceof TopiaryError) throw err;
    throw new ModelFormatError(inFile(file, `tfjs cannot build the model config: ${(err as Error).message}`), { file, cause: err });
  }
  const created: tf.Tensor[] = [];
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const values = source(layer);
      if (values === undefined) throw new ModelFormatError(inFile(file, `no weights stored for layer "${layer.name}"`), { file });
      created.push(...values);
      checkCount(layer, values, file);
      layer.weights.forEach((w, i) => {
        const got = values[i].shape;
        if (got.length !== w.shape.length || got.some((d, j) => d !== w.shape[j])) {
          throw new ModelFormatError(
            inFile(file, `weight ${w.originalName} of layer "${layer.name}" has shape [${got.join(', ')}], expected [${w.shape.join(', ')}]`),
            { file },
          );
        }
      });
      layer.setWeights(values);
    }
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(created);
  }
  return model;
}

function checkCount(layer: tf.layers.Layer, values: tf.Tensor[], file: string): void {
  if (values.length !== layer.weights.length) {
    throw new ModelFormatError(
      inFile(file, `layer "${layer.name}" (${layer.getClassName()}) has ${values.length} stored weights, expected ${layer.weights.length}`),
      { file },
    );
  }
}

function openH5(diskPath: string, label: string): InstanceType<typeof h5wasm.File> {
  try {
    return new h5wasm.File(diskPath, 'r');
  } catch (err) {
    throw new ModelFormatError(inFile(label, `cannot open as HDF5 (${(err as Error).message})`), { file: label, cause: err });
  }
}

function isGroup(e: unknown): e is H5Group {
  return e instanceof h5wasm.Group;
}

function isDataset(e: unknown): e is H5Dataset {
  return e instanceof h5wasm.Dataset;
}

function datasetTensor(ds: H5Dataset, what: string, file: string): tf.Tensor {
  const shape = ds.shape ?? [];
  let v: unknown;
  try {
    v = ds.value;
  } catch (err) {
    // h5wasm cannot decode some types (e.g. float16 weights from mixed-precision training).
    throw new ModelFormatError(inFile(file, `weight ${what} cannot be read (${(err as Error).message}); save the model with float32 weights`), { file, cause: err });
  }
  let data: Float32Array;
  if (v instanceof Float32Array) data = v;
  else if (v instanceof Float64Array || v instanceof Int32Array || v instanceof Uint8Array || v instanceof Int8Array || v instanceof Int16Array || v instanceof Uint16Array) {
    data = Float32Array.from(v);
  } else if (typeof v === 'number') {
    data = Float32Array.of(v);
  } else {
    throw new ModelFormatError(inFile(file, `weight ${what} has unsupported dtype ${JSON.stringify(ds.dtype)}`), { file });
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new ModelFormatError(inFile(file, `weight ${what} holds ${data.length} values for shape [${shape.join(', ')}]`), { file });
  return tf.tensor(data, shape, 'float32');
}

/**
 * Keras 2 name lists: fixed-length byte strings from h5py, an empty float64 array for weightless
 * layers, and split into `name0`, `name1`, ... when they would overflow the 64 KiB object header.
 */
function stringListAttr(g: H5Group, name: string): string[] {
  const attrs = g.attrs;
  if (attrs[name]) return toStringList(g.get_attribute(name, false));
  const out: string[] = [];
  for (let i = 0; attrs[`${name}${i}`]; i++) out.push(...toStringList(g.get_attribute(`${name}${i}`, false)));
  return out;
}

function toStringList(v: unknown): string[] {
  const dec = new TextDecoder();
  const one = (x: unknown): string => (typeof x === 'string' ? x : x instanceof Uint8Array ? dec.decode(x).replace(/\0+$/, '') : String(x));
  if (Array.isArray(v)) return v.map(one);
  if (ArrayBuffer.isView(v) && !(v instanceof Uint8Array)) return []; // numeric (empty) array: no names
  return [one(v)];
}

function parseJsonAttr(v: unknown, what: string, file: string): unknown {
  const text = v instanceof Uint8Array ? new TextDecoder().decode(v) : v;
  if (typeof text !== 'string') throw new ModelFormatError(inFile(file, `${what} is not a JSON string`), { file });
  const parsed = parseJsonWithPosition(text);
  if (!parsed.ok) throw new ModelFormatError(inFile(file, `${what} is not valid JSON: ${parsed.message}`), { file });
  return parsed.value;
}

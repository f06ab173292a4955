/**
 * A tf.io.IOHandler for a tfjs LayersModel folder (`model.json` + binary weight shards) on the local
 * file system, so that Topiary needs no native tfjs-node to read or write models. Every problem is a
 * ModelFormatError that names the file and what was expected.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, ModelFormatError, inFile } from '../../common/errors';
import { isWithin } from '../safe-paths';
import { parseJsonWithPosition } from './json-error';

/** Default shard size: the same 4 MiB that tfjs and its converter use. */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/** A model.json and its shards as read from disk, checked for consistency but not yet a model. */
export interface TfjsModelFiles {
  /** Absolute path of model.json. */
  modelJsonPath: string;
  /** The layers-model topology ({class_name, config}); a `model_config` wrapper is already removed. */
  topology: { class_name: string; config: unknown; [key: string]: unknown };
  /** The `format` key ('layers-model'), or undefined for Teachable-Machine-style files without it. */
  format?: string;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** All shards concatenated in manifest order. */
  weightData: ArrayBuffer;
  trainingConfig?: tf.io.TrainingConfig;
  userDefinedMetadata?: tf.io.ModelArtifacts['userDefinedMetadata'];
  /** model.json followed by the shards, absolute paths. */
  files: string[];
  /** sha256 (hex) over the model.json bytes followed by every shard's bytes in manifest order. */
  sha256: string;
}

const DTYPE_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Bytes a manifest entry occupies in its shard, or undefined for variable-length (string) weights. */
export function entryBytes(entry: tf.io.WeightsManifestEntry): number | undefined {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const dtype = entry.quantization?.dtype ?? entry.dtype;
  const size = DTYPE_BYTES[dtype];
  return size === undefined ? undefined : count * size;
}

/** Resolves a user's path to the model.json it means: a folder means `<folder>/model.json`. */
export async function resolveModelJson(p: string): Promise<string> {
  const abs = path.resolve(p);
  const stat = await fs.stat(abs).catch(() => undefined);
  if (!stat) throw new ModelFormatError(inFile(abs, 'not found'), { file: abs });
  if (stat.isDirectory()) {
    const json = path.join(abs, 'model.json');
    if (!(await fs.stat(json).catch(() => undefined))?.isFile()) {
      throw new ModelFormatError(inFile(abs, 'folder has no model.json (expected a tfjs layers model folder)'), { file: abs });
    }
    return json;
  }
  return abs;
}

/**
 * Visits every layer config in a topology, including layers nested in Sequential/Functional
 * sub-models and in wrappers (TimeDistributed, Bidirectional), calling `visit` with the class name
 * and a readable location such as `layers[3].layer`.
 */
export function forEachLayerClass(topology: unknown, visit: (className: string, where: string, name?: string) => void): void {
  const walk = (node: unknown, where: string) => {
    if (!isObject(node)) return;
    const className = node.class_name ?? node.className;
    if (typeof className !== 'string') return;
    const config = node.config;
    const name = isObject(config) && typeof config.name === 'string' ? config.name : typeof node.name === 'string' ? node.name : undefined;
    visit(className, where, name);
    const layers = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : undefined;
    layers?.forEach((l, i) => walk(l, `${where ? `${where}.` : ''}layers[${i}]`));
    if (isObject(config) && isObject(config.layer)) walk(config.layer, `${where ? `${where}.` : ''}layer`);
  };
  walk(topology, '');
}

/** Throws a ModelFormatError naming the first layer class tfjs cannot build. */
export function checkLayerClasses(topology: unknown, file: string): void {
  const known = tf.serialization.SerializationMap.getMap().classNameMap;
  forEachLayerClass(topology, (className, where, name) => {
    if (!(className in known)) {
      const at = [name ? `layer "${name}"` : undefined, where ? `at ${where}` : undefined].filter(Boolean).join(' ');
      throw new ModelFormatError(
        inFile(file, `unknown layer class "${className}"${at ? ` (${at})` : ''}; tfjs cannot build it (custom or Python-only layers such as Lambda are not supported)`),
        { file },
      );
    }
  });
}

/**
 * Reads and checks a tfjs layers model.json and its shards: JSON syntax (with position), that it is a
 * layers model (not a graph model), known layer classes, shards present and of the expected length.
 */
export async function readTfjsModelFiles(modelJsonPath: string): Promise<TfjsModelFiles> {
  const file = path.resolve(modelJsonPath);
  const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new ModelFormatError(inFile(file, err.code === 'ENOENT' ? 'not found' : `cannot read: ${err.message}`), { file });
  });
  const text = new TextDecoder('utf-8').decode(bytes);
  const parsed = parseJsonWithPosition(text);
  if (!parsed.ok) throw new ModelFormatError(inFile(file, parsed.message), { file });
  const json = parsed.value;
  if (!isObject(json)) throw new ModelFormatError(inFile(file, 'is not a tfjs model.json (expected a JSON object)'), { file });

  let topology = json.modelTopology;
  const format = typeof json.format === 'string' ? json.format : undefined;
  const isGraph =
    format === 'graph-model' || (isObject(topology) && (Array.isArray(topology.node) || isObject(topology.versions)));
  if (isGraph) {
    throw new ModelFormatError(
      inFile(
        file,
        'is a tfjs graph model (converted from a TensorFlow SavedModel or frozen graph), not a layers model; Topiary needs a layers model (from Keras, or tensorflowjs_converter --output_format tfjs_layers_model)',
      ),
      { file },
    );
  }
  if (topology === undefined) throw new ModelFormatError(inFile(file, 'has no "modelTopology": not a tfjs layers model.json'), { file });
  if (isObject(topology) && isObject(topology.model_config)) topology = topology.model_config;
  if (!isObject(topology) || typeof topology.class_name !== 'string' || topology.config === undefined) {
    throw new ModelFormatError(inFile(file, '"modelTopology" is not a Keras model config (expected {class_name, config})'), { file });
  }
  checkLayerClasses(topology, file);

  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw new ModelFormatError(inFile(file, 'has no "weightsManifest" array: the model has no weights to load'), { file });
  }
  const dir = path.dirname(file);
  const realDir = await fs.realpath(dir);
  const hash = createHash('sha256').update(bytes);
  const files = [file];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (let g = 0; g < manifest.length; g++) {
    const group = manifest[g] as unknown;
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw new ModelFormatError(inFile(file, `weightsManifest[${g}] must have "paths" and "weights" arrays`), { file });
    }
    const weights = group.weights as unknown[];
    let expected: number | undefined = 0;
    weights.forEach((w, k) => {
      if (!isObject(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
        throw new ModelFormatError(inFile(file, `weightsManifest[${g}].weights[${k}] must have name, shape and dtype`), { file });
      }
      const n = entryBytes(w as unknown as tf.io.WeightsManifestEntry);
      expected = expected === undefined || n === undefined ? undefined : expected + n;
      weightSpecs.push(w as unknown as tf.io.WeightsManifestEntry);
    });
    const shardNames = group.paths as unknown[];
    // Locate and stat every shard of the group before reading any: a shard is data from the file,
    // so only regular files inside the model folder qualify, and sizes are checked from stat.
    const located: LocatedShard[] = [];
    for (const name of shardNames) {
      if (typeof name !== 'string') throw new ModelFormatError(inFile(file, `weightsManifest[${g}].paths must be strings`), { file });
      located.push(await locateShard(file, dir, realDir, name));
    }
    const declared = located.reduce((a, s) => a + s.size, 0);
    if (expected !== undefined && declared !== expected) throw sizeMismatch(file, dir, g, weights.length, expected, located.map((s) => ({ name: s.name, size: s.size })));
    const shards: { name: string; data: Uint8Array }[] = [];
    for (const s of located) {
      const data = await fs.readFile(s.real).catch((err: NodeJS.ErrnoException) => {
        throw new ModelFormatError(inFile(file, `cannot read shard ${s.name}: ${err.code ?? err.message}`), { file: s.path });
      });
      hash.update(data);
      files.push(s.path);
      shards.push({ name: s.name, data });
    }
    // The file may have changed between stat and read.
    const actual = shards.reduce((a, s) => a + s.data.length, 0);
    if (expected !== undefined && actual !== expected) throw sizeMismatch(file, dir, g, weights.length, expected, shards.map((s) => ({ name: s.name, size: s.data.length })));
    buffers.push(...shards.map((s) => s.data));
  }
  const total = buffers.reduce((a, b) => a + b.length, 0);
  const weightData = new ArrayBuffer(total);
  const view = new Uint8Array(weightData);
  let offset = 0;
  for (const b of buffers) {
    view.set(b, offset);
    offset += b.length;
  }
  return {
    modelJsonPath: file,
    topology: topology as TfjsModelFiles['topology'],
    format,
    weightSpecs,
    weightData,
    trainingConfig: isObject(json.trainingConfig) ? (json.trainingConfig as unknown as tf.io.TrainingConfig) : undefined,
    userDefinedMetadata: isObject(json.userDefinedMetadata) ? (json.userDefinedMetadata as tf.io.ModelArtifacts['userDefinedMetadata']) : undefined,
    files,
    sha256: hash.digest('hex'),
  };
}

interface LocatedShard {
  /** As written in model.json. */
  name: string;
  /** Resolved inside the model folder. */
  path: string;
  /** After symlinks; also inside the (real) model folder. */
  real: string;
  size: number;
}

/**
 * Resolves one `weightsManifest[].paths` entry. tfjs writes plain file names (URL-encoded), so the
 * entry is decoded first and must then name a regular file inside the model folder, before and
 * after symlinks are followed: `../x`, `%2e%2e/x`, absolute paths, links to elsewhere and devices
 * such as /dev/zero are refused. The refusal names the entry, never anything about the file it
 * points at (its size or type would leak what lies outside).
 */
async function locateShard(file: string, dir: string, realDir: string, name: string): Promise<LocatedShard> {
  const outside = () =>
    new ModelFormatError(inFile(file, `shard ${JSON.stringify(name)} is outside the model folder ${dir}; weights are read only from files inside it`), { file });
  let decoded: string;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    throw new ModelFormatError(inFile(file, `shard path ${JSON.stringify(name)} is not valid URL encoding`), { file });
  }
  if (decoded.includes('\0') || path.isAbsolute(decoded) || path.win32.isAbsolute(decoded)) throw outside();
  const shardPath = path.resolve(dir, decoded);
  if (!isWithin(dir, shardPath)) throw outside();
  const real = await fs.realpath(shardPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new ModelFormatError(inFile(file, `shard ${name} is missing (expected at ${shardPath})`), { file: shardPath });
    throw new ModelFormatError(inFile(file, `cannot read shard ${name}: ${err.code ?? err.message}`), { file: shardPath });
  });
  if (!isWithin(realDir, real)) throw outside();
  const stat = await fs.stat(real);
  if (!stat.isFile()) throw new ModelFormatError(inFile(file, `shard ${JSON.stringify(name)} is not a regular file`), { file: shardPath });
  return { name, path: shardPath, real, size: stat.size };
}

function sizeMismatch(file: string, dir: string, g: number, count: number, expected: number, shards: { name: string; size: number }[]): ModelFormatError {
  const actual = shards.reduce((a, s) => a + s.size, 0);
  const what =
    shards.length === 1
      ? `shard ${shards[0].name} is ${actual} bytes, expected ${expected}`
      : `shards of weightsManifest[${g}] (${shards.map((s) => `${s.name}: ${s.size}`).join(', ')}) total ${actual} bytes, expected ${expected}`;
  return new ModelFormatError(inFile(file, `${what} for ${count} weights`), { file: shards.length === 1 ? path.resolve(dir, shards[0].name) : file });
}

export interface FileHandlerOptions {
  /** Maximum bytes per weight shard when saving. Default 4 MiB. */
  shardBytes?: number;
}

/** An IOHandler that also reports what its last save wrote. */
export interface FileHandler extends tf.io.IOHandler {
  load(): Promise<tf.io.ModelArtifacts>;
  save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult>;
  /** Files written by the last save (model.json first, then shards) and their total size in bytes. */
  lastSaved?: { files: string[]; bytes: number };
}

function shardName(i: number, n: number): string {
  return `group1-shard${i + 1}of${n}.bin`;
}

/**
 * IOHandler for a tfjs layers model on disk. `p` is a folder (model.json inside it) or a path to a
 * `.json` file. Loading checks the files (see readTfjsModelFiles); saving writes model.json and
 * `group1-shardIofN.bin` shards of at most `shardBytes` bytes.
 * @example const model = await tf.loadLayersModel(fileHandler('/models/lenet'));
 *          await model.save(fileHandler('/tmp/copy', { shardBytes: 1 << 20 }));
 */
export function fileHandler(p: string, opts: FileHandlerOptions = {}): FileHandler {
  const shardBytes = opts.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isInteger(shardBytes) || shardBytes < 4) {
    throw new ConfigError(`shardBytes must be an integer >= 4, got ${shardBytes}`);
  }
  const handler: FileHandler = {
    async load() {
      const m = await readTfjsModelFiles(await resolveModelJson(p));
      return {
        modelTopology: m.topology,
        format: m.format,
        weightSpecs: m.weightSpecs,
        weightData: m.weightData,
        trainingConfig: m.trainingConfig,
        userDefinedMetadata: m.userDefinedMetadata,
      };
    },
    async save(artifacts) {
      const abs = path.resolve(p);
      const jsonPath = abs.toLowerCase().endsWith('.json') ? abs : path.join(abs, 'model.json');
      const dir = path.dirname(jsonPath);
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new ConfigError('fileHandler saves layers models only (got a binary graph topology)');
      }
      await fs.mkdir(dir, { recursive: true });
      const data = new Uint8Array(
        artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData),
      );
      // Align shard size to 4 bytes so no float32 value straddles two shards (tfjs readers do not
      // need it, but it keeps shards individually inspectable).
      const per = shardBytes - (shardBytes % 4);
      const n = Math.ceil(data.length / per);
      const names: string[] = [];
      const files: string[] = [];
      let bytes = 0;
      for (let i = 0; i < n; i++) {
        const name = shardName(i, n);
        const chunk = data.subarray(i * per, Math.min(data.length, (i + 1) * per));
        await fs.writeFile(path.join(dir, name), chunk);
        names.push(name);
        files.push(path.join(dir, name));
        bytes += chunk.length;
      }
      const modelJson: Record<string, unknown> = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: artifacts.convertedBy ?? 'Topiary',
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: names, weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      const text = JSON.stringify(modelJson);
      // model.json last: a reader never sees a model.json whose shards are not written yet.
      await fs.writeFile(jsonPath, text);
      bytes += Buffer.byteLength(text);
      handler.lastSaved = { files: [jsonPath, ...files], bytes };
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: Buffer.byteLength(JSON.stringify(artifacts.modelTopology)),
          weightSpecsBytes: Buffer.byteLength(JSON.stringify(artifacts.weightSpecs ?? [])),
          weightDataBytes: data.length,
        },
      };
    },
  };
  return handler;
}

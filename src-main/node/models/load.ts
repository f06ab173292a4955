/** Opening a model from what a user typed: `demo`, a tfjs folder or model.json, or a Keras file. */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelFormatError, TopiaryError, inFile } from '../../common/errors';
import { describeNonFinite, findNonFinite } from '../../engine/finite';
import { disposeModelWeights, flattenModel } from '../../engine/models/flatten';
import type { ModelFileFormat } from '../../common/contract';
import { readTfjsModelFiles, resolveModelJson, type TfjsModelFiles } from './file-handler';

export interface LoadedModel {
  model: tf.LayersModel;
  /** Absolute path of what was opened (model.json or the Keras file), or 'demo'. */
  source: string;
  format: ModelFileFormat;
  /** Absolute paths of every file read: model.json then shards, or the single Keras file. */
  files: string[];
  /** sha256 (hex) of the model.json bytes followed by the shards in manifest order (of the file for Keras). */
  sha256: string;
  /**
   * Present when the file held nested models (a Sequential/Functional used as a layer): `model` is
   * then their flat equivalent, and this maps each flat layer name to its path in the file's
   * nesting, e.g. `Conv1` -> `sequential_1/model/Conv1` (layers at the top level are left out).
   */
  nesting?: Record<string, string>;
  /**
   * The class of the model the file holds (`Sequential`, or `Model` for a Functional one), kept
   * when flattening turned it into a flat functional model, so reports name what the user brought.
   */
  className: string;
  /** What loading changed that the user should know, e.g. which of several outputs is used. */
  warnings?: string[];
}

/** resources/demo/model/model.json (src-main/node/models -> three levels up); `TOPIARY_RESOURCES` moves resources/. */
export function demoModelPath(): string {
  if (process.env.TOPIARY_RESOURCES) return path.join(process.env.TOPIARY_RESOURCES, 'demo', 'model', 'model.json');
  return fileURLToPath(new URL('../../../resources/demo/model/model.json', import.meta.url));
}

/**
 * Loads a model from a spec: `demo`, a folder containing model.json, a model.json path, or a Keras
 * `.h5` / `.keras` file (read by node/keras/import). Problems throw ModelFormatError naming the file.
 * @example const { model, sha256 } = await loadModel('/models/lenet'); model.predict(x)
 */
export async function loadModel(spec: string): Promise<LoadedModel> {
  if (spec === 'demo') {
    const file = demoModelPath();
    if (!(await fs.stat(file).catch(() => undefined))) {
      throw new ModelFormatError(inFile(file, 'the demo model is not installed (run `npm run train-demo` to create it)'), { file });
    }
    const loaded = await loadTfjsModel(file);
    return { ...loaded, source: 'demo' };
  }
  const lower = spec.toLowerCase();
  if (lower.endsWith('.h5') || lower.endsWith('.hdf5') || lower.endsWith('.keras')) {
    const file = path.resolve(spec);
    const bytes = await fs.readFile(file).catch((err: NodeJS.ErrnoException) => {
      throw new ModelFormatError(inFile(file, err.code === 'ENOENT' ? 'not found' : `cannot read: ${err.message}`), { file });
    });
    const { loadKerasModel } = await import('../keras/import');
    return checkFiniteWeights({
      ...flatten(await loadKerasModel(file), file),
      source: file,
      format: lower.endsWith('.keras') ? 'keras-v3' : 'keras-h5',
      files: [file],
      sha256: createHash('sha256').update(bytes).digest('hex'),
    }, file);
  }
  return loadTfjsModel(await resolveModelJson(spec));
}

async function loadTfjsModel(modelJsonPath: string): Promise<LoadedModel> {
  const m = await readTfjsModelFiles(modelJsonPath);
  const loaded: LoadedModel = { ...flatten(await buildLayersModel(m), m.modelJsonPath), source: m.modelJsonPath, format: 'tfjs', files: m.files, sha256: m.sha256 };
  return checkFiniteWeights(loaded, m.modelJsonPath);
}

/**
 * Refuses (and frees) a model with a NaN or infinite weight: every prediction it makes is garbage,
 * and fine-tuning cannot repair it. One pass over each float tensor; names the file, the weight
 * and its layer.
 */
function checkFiniteWeights(loaded: LoadedModel, file: string): LoadedModel {
  for (const layer of loaded.model.layers) {
    for (const w of layer.weights) {
      if (w.dtype !== 'float32') continue;
      const values = w.read().dataSync();
      const bad = findNonFinite(values);
      if (!bad) continue;
      loaded.model.dispose();
      throw new ModelFormatError(
        inFile(file, `weight ${w.originalName} (layer ${layer.name}) holds ${bad.count} non-finite value(s) of ${values.length}, ` +
          `the first ${describeNonFinite(bad.value)} at index ${bad.index}; a model's weights must be finite numbers (was it saved after training diverged?)`),
        { file },
      );
    }
  }
  return loaded;
}

/**
 * Every consumer (analyze, dependency graph, pruning, TF Lite and tfjs export, fit, fine-tuning)
 * works on leaf layers, so nested models are flattened here, once, for every format.
 */
function flatten(model: tf.LayersModel, file: string): Pick<LoadedModel, 'model' | 'nesting' | 'warnings' | 'className'> {
  const className = model.getClassName();
  const flat = flattenOnly(model, file);
  return { ...flat, ...singleOutput(flat.model), className };
}

/**
 * Pruning, fine-tuning, evaluation and export all work on one prediction. Models exported for
 * visualisation or debugging (old tfjs converter output, Keras models built with every layer as an
 * output) have several outputs; the last one is the model's prediction in every such file seen, so
 * the model is narrowed to it (a view over the same layers and weights) and the user is told.
 */
function singleOutput(model: tf.LayersModel): Pick<LoadedModel, 'model' | 'warnings'> {
  if (model.outputs.length <= 1) return { model };
  const chosen = model.outputs[model.outputs.length - 1];
  const names = model.outputs.map((o) => o.sourceLayer.name);
  const view = tf.model({ inputs: model.inputs, outputs: chosen, name: model.name });
  return {
    model: view,
    warnings: [`the model has ${names.length} outputs (${names.join(', ')}); using the last, "${chosen.sourceLayer.name}", as its prediction`],
  };
}

function flattenOnly(model: tf.LayersModel, file: string): Pick<LoadedModel, 'model' | 'nesting'> {
  let result: ReturnType<typeof flattenModel>;
  try {
    result = flattenModel(model);
  } catch (err) {
    disposeModelWeights(model);
    if (err instanceof TopiaryError) throw new ModelFormatError(inFile(file, err.message), { file, cause: err });
    throw new ModelFormatError(inFile(file, `cannot flatten its nested models: ${(err as Error).message}`), { file, cause: err });
  }
  if (!result.flattened) return { model };
  // The flat model's variables share the original's data (reference-counted), so this frees nothing it needs.
  disposeModelWeights(model);
  return { model: result.model, nesting: Object.fromEntries(result.sources) };
}

/**
 * tfjs matches weights by `originalName`; TF >= 2.2 writes RNN cell weights as layer/cell/name, which
 * tfjs shortens to layer/name. Mirror that so our own check agrees with tfjs.
 */
function matchName(name: string, known: Map<string, number[]>): string | undefined {
  if (known.has(name)) return name;
  const t = name.split('/');
  const short = [...t.slice(0, -2), t[t.length - 1]].join('/');
  return known.has(short) ? short : undefined;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;
const list = (names: string[]) => (names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', '));

/** Builds the model from its topology and sets its weights, after checking names and shapes. */
export async function buildLayersModel(m: TfjsModelFiles): Promise<tf.LayersModel> {
  const file = m.modelJsonPath;
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({ modelTopology: m.topology } as unknown as tf.io.ModelJSON);
  } catch (err) {
    if (err instanceof TopiaryError) throw err;
    throw new ModelFormatError(inFile(file, `cannot build the model from its topology: ${(err as Error).message}`), { file, cause: err });
  }
  try {
    const expected = new Map<string, number[]>();
    for (const w of model.weights) expected.set(w.originalName, w.shape as number[]);
    const specs = m.weightSpecs.filter((s) => s.group !== 'optimizer');
    const seen = new Set<string>();
    const extra: string[] = [];
    for (const s of specs) {
      const target = matchName(s.name, expected);
      if (target === undefined) {
        extra.push(s.name);
        continue;
      }
      seen.add(target);
      const want = expected.get(target)!;
      if (want.length !== s.shape.length || want.some((d, i) => d !== s.shape[i])) {
        throw new ModelFormatError(inFile(file, `weight ${s.name} has shape ${fmt(s.shape)} but the topology needs ${fmt(want)}`), { file });
      }
    }
    const missing = [...expected.keys()].filter((n) => !seen.has(n));
    if (missing.length > 0 || extra.length > 0) {
      const parts = [];
      if (missing.length > 0) parts.push(`missing weights ${list(missing)}`);
      if (extra.length > 0) parts.push(`weights not in the topology ${list(extra)}`);
      throw new ModelFormatError(inFile(file, `weights do not match the topology: ${parts.join('; ')}`), { file });
    }
    const tensors = tf.io.decodeWeights(m.weightData, m.weightSpecs);
    try {
      const modelWeights: tf.NamedTensorMap = {};
      for (const s of specs) modelWeights[s.name] = tensors[s.name];
      model.loadWeights(modelWeights, true);
    } finally {
      tf.dispose(Object.values(tensors));
    }
    if (m.trainingConfig) {
      try {
        model.loadTrainingConfig(m.trainingConfig as unknown as Parameters<tf.LayersModel['loadTrainingConfig']>[0]);
      } catch {
        // A training config (loss/optimizer) we cannot restore does not stop inference or pruning;
        // callers compile the model themselves before fine-tuning.
      }
    }
    return model;
  } catch (err) {
    model.dispose();
    if (err instanceof TopiaryError) throw err;
    throw new ModelFormatError(inFile(file, `cannot load weights: ${(err as Error).message}`), { file, cause: err });
  }
}

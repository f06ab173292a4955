/**
 * Loading a dataset *for a model*: the model's input shape is the resize target of image folders,
 * and its look decides the input scaling when the user left it on `auto`. Every service that feeds
 * data to a model (runs, evaluate, export calibration, fit) goes through loadDatasetForModel, so
 * they all prepare data the same way and can record what they did.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import { INPUT_SCALES, RESIZE_MODES, describeInputScale, type InputScale, type InputScaleChoice, type ResizeMode } from '../common/input-prep';
import { loadDataset, type LoadDatasetOptions, type LoadedDataset } from '../node/datasets';
import { checkInputCompatible } from './model-service';

export interface ResolvedInputScale {
  inputScale: InputScale;
  /** Why: "asked for", or which layer the auto rule saw. */
  reason: string;
}

type AnyLayer = tf.layers.Layer & { layers?: AnyLayer[] };

/** Every layer, nested models (a model used as a layer) opened up, in order. */
function allLayers(layers: readonly AnyLayer[]): AnyLayer[] {
  return layers.flatMap((l) => [l, ...(Array.isArray(l.layers) ? allLayers(l.layers) : [])]);
}

/** The first layer that computes something, looking through input layers and into nested models. */
function firstComputing(layers: readonly AnyLayer[]): AnyLayer | undefined {
  for (const l of layers) {
    if (l.getClassName() === 'InputLayer') continue;
    if (Array.isArray(l.layers)) return firstComputing(l.layers);
    return l;
  }
  return undefined;
}

/** A layer name, allowing the prefix a flattened nested model adds ("model1/Conv1"). */
const named = (l: AnyLayer, want: string) => l.name === want || l.name.endsWith(`/${want}`);

/**
 * The `auto` rule, first match wins:
 * 1. The model starts with a Rescaling layer: it scales its own input, so it gets 0..255
 *    (Keras `Rescaling(1/255)` heads, MobileNetV3 and EfficientNet with built-in preprocessing).
 * 2. It has a MobileNet stem — `Conv1` + `bn_Conv1` (Keras MobileNetV2, which Teachable Machine's
 *    image models are built on) or `conv1` + `conv1_bn` (MobileNetV1): these were trained on
 *    x/127.5 - 1 (keras.applications.mobilenet*.preprocess_input, mode "tf"), so [-1, 1].
 * 3. Otherwise [0, 1], what small CNNs trained on x/255 (and the demo model) expect.
 * A name-based guess can be wrong for a model nobody has seen; it is logged with its reason,
 * recorded with the run, and `--input-scale` overrides it.
 */
export function autoInputScale(model: tf.LayersModel): ResolvedInputScale {
  const layers = model.layers as AnyLayer[];
  const first = firstComputing(layers);
  if (first && first.getClassName() === 'Rescaling') {
    return { inputScale: '0-255', reason: `the model starts with a Rescaling layer (${first.name}) that scales its own input` };
  }
  const all = allLayers(layers);
  const has = (name: string) => all.some((l) => named(l, name));
  if (has('Conv1') && has('bn_Conv1')) return { inputScale: '-1-1', reason: 'MobileNetV2 stem (Conv1, bn_Conv1), as in Teachable Machine image models' };
  if (has('conv1') && has('conv1_bn')) return { inputScale: '-1-1', reason: 'MobileNetV1 stem (conv1, conv1_bn)' };
  return { inputScale: '0-1', reason: 'default for models without a recognised preprocessing convention' };
}

/** The choice made concrete: an explicit scale as given, `auto` (or nothing) by autoInputScale. */
export function resolveInputScale(model: tf.LayersModel, choice: InputScaleChoice | undefined): ResolvedInputScale {
  if (choice === undefined || choice === 'auto') return autoInputScale(model);
  if (!(INPUT_SCALES as readonly string[]).includes(choice)) {
    throw new ConfigError(`input scale must be one of ${INPUT_SCALES.join(', ')}, got "${String(choice)}"`);
  }
  return { inputScale: choice, reason: 'asked for' };
}

export function checkResize(resize: string | undefined): ResizeMode {
  const r = resize ?? 'crop';
  if (!(RESIZE_MODES as readonly string[]).includes(r)) throw new ConfigError(`resize must be one of ${RESIZE_MODES.join(', ')}, got "${r}"`);
  return r as ResizeMode;
}

export interface ModelDataOptions extends Omit<LoadDatasetOptions, 'modelInputShape' | 'inputScale' | 'resize'> {
  inputScale?: InputScaleChoice;
  resize?: ResizeMode;
}

/** What was done to the data, for the run record and logs. */
export interface DataPreparation {
  inputScale: InputScale;
  resize: ResizeMode;
  /** One line: "input scale [-1, 1] (x/127.5 - 1): MobileNetV2 stem ...; images fitted by crop". */
  summary: string;
}

/**
 * Loads `spec` prepared for `model` and checks the shapes agree.
 * @example const { dataset, prep } = await loadDatasetForModel(model, 'images:photos', { inputScale: 'auto' })
 */
export async function loadDatasetForModel(
  model: tf.LayersModel,
  spec: string,
  options: ModelDataOptions = {},
): Promise<{ dataset: LoadedDataset; prep: DataPreparation }> {
  const scale = resolveInputScale(model, options.inputScale);
  const resize = checkResize(options.resize);
  const dataset = await loadDataset(spec, {
    ...options,
    inputScale: scale.inputScale,
    resize,
    modelInputShape: model.inputs[0].shape.slice(1),
  });
  checkInputCompatible(model, dataset.sampleShape, dataset.source);
  return {
    dataset,
    prep: {
      inputScale: scale.inputScale,
      resize,
      summary: `input scale ${describeInputScale(scale.inputScale)} for 8-bit data: ${scale.reason}; images fitted by ${resize}`,
    },
  };
}

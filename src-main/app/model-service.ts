/** Loading and describing models for every front door. */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import { analyzeModel, type ModelAnalysis } from '../engine/analyze';
import { inferTask, type Task } from '../engine/task';
import { loadModel, type LoadedModel } from '../node/models';
import { initBackend } from '../node/backend';

export interface ModelDescription {
  source: string;
  format: LoadedModel['format'];
  sha256: string;
  files: string[];
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  /** Flat layer name -> path in the file's nesting, when the file held nested models (see LoadedModel.nesting). */
  nesting?: Record<string, string>;
  /** What loading changed that the user should know (e.g. which of several outputs is used). */
  warnings?: string[];
  analysis: ModelAnalysis;
  /** What the output layer says the model predicts (engine/task.ts inferTask); null when it cannot tell, with why. */
  task: Task | null;
  taskNote?: string;
}

export async function openModel(spec: string): Promise<LoadedModel> {
  await initBackend();
  return loadModel(spec);
}

export function describeLoadedModel(loaded: LoadedModel): ModelDescription {
  return {
    source: loaded.source,
    format: loaded.format,
    sha256: loaded.sha256,
    files: loaded.files,
    inputShape: loaded.model.inputs[0].shape,
    outputShape: loaded.model.outputs[0].shape,
    ...(loaded.nesting ? { nesting: loaded.nesting } : {}),
    ...(loaded.warnings?.length ? { warnings: loaded.warnings } : {}),
    // A flattened model is a functional `Model`; the analysis names the class the file held.
    analysis: { ...analyzeModel(loaded.model, { sources: loaded.nesting }), className: loaded.className },
    ...taskOf(loaded.model),
  };
}

function taskOf(model: tf.LayersModel): { task: Task | null; taskNote?: string } {
  const t = inferTask(model);
  return t === 'classification' || t === 'regression' ? { task: t } : { task: null, taskNote: `cannot tell classification from regression: ${t}` };
}

export async function describeModel(spec: string): Promise<ModelDescription> {
  const loaded = await openModel(spec);
  try {
    return describeLoadedModel(loaded);
  } finally {
    loaded.model.dispose();
  }
}

/**
 * The per-sample input shape the model expects, checked against a dataset's sample shape. Shapes that
 * hold the same number of values are compatible (28x28x1 images feed a 784-input Dense model).
 */
export function checkInputCompatible(model: tf.LayersModel, sampleShape: number[], dataSource: string): number[] {
  const want = model.inputs[0].shape.slice(1);
  if (want.some((d) => d === null)) {
    throw new ConfigError(`model input shape [${want.join(', ')}] has unknown dimensions; export a model with a static input shape`);
  }
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  if (size(want as number[]) !== size(sampleShape)) {
    throw new ConfigError(
      `dataset ${dataSource} has samples of shape [${sampleShape.join(', ')}] but the model expects [${want.join(', ')}]`,
    );
  }
  return want as number[];
}

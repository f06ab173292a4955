/** Loading and describing models for every front door. */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import { analyzeModel } from '../engine/analyze';
/** The per-layer table of a description's analysis, for the CLI (front doors reach the engine through app/). */
export { formatAnalysisTable } from '../engine/analyze';
import { inferTask, type Task } from '../engine/task';
import { loadModel, type LoadedModel } from '../node/models';
import { initBackend } from '../node/backend';
import type { ModelDescription } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { ModelDescription };

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

/** The task to use when none was asked for: what the output layer says, classification when it cannot tell. */
export function defaultTask(model: tf.LayersModel): Task {
  return inferTask(model) === 'regression' ? 'regression' : 'classification';
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

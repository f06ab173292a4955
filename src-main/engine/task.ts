/**
 * What a model predicts: class labels (classification) or real numbers (regression). The task picks
 * the loss fine-tuning minimizes, the metrics a run reports (accuracy vs MAE / RMSE / R²), how an
 * export is verified, and which direction is "better" when runs are compared.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../common/errors';
import { allLayers } from './prune/weights';
import type { Task } from '../common/contract/results';
import { TASKS as COMMON_TASKS } from '../common/prune-config';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { Task };

export const TASKS: readonly Task[] = COMMON_TASKS;

export { REGRESSION_LOSSES, type RegressionLoss } from '../common/prune-config';

/** Activations that end a regressor (no squashing of the output). */
const LINEAR = new Set(['linear', 'relu', 'elu', 'selu', 'softplus', 'leakyRelu', 'relu6', 'swish', 'gelu', 'mish', 'exponential']);

function outputActivation(model: tf.LayersModel): { cls: string; activation: string | undefined } | undefined {
  const layers = allLayers(model).filter((l) => l.getClassName() !== 'InputLayer');
  // Reshape/Flatten/Dropout after the last Dense do not change what the output means.
  for (let i = layers.length - 1; i >= 0; i--) {
    const cls = layers[i].getClassName();
    if (cls === 'Reshape' || cls === 'Flatten' || cls === 'Dropout') continue;
    if (cls === 'Softmax') return { cls, activation: 'softmax' };
    if (cls === 'Activation' || cls === 'ReLU' || cls === 'LeakyReLU') {
      const a = (layers[i].getConfig() as { activation?: unknown }).activation;
      return { cls, activation: typeof a === 'string' ? a : cls === 'Activation' ? undefined : 'relu' };
    }
    const a = (layers[i].getConfig() as { activation?: unknown }).activation;
    return { cls, activation: typeof a === 'string' ? a : undefined };
  }
  return undefined;
}

/**
 * The task a model was built for, read from its output layer, or why it cannot be told.
 *
 * Rule (the output is `[batch, units]`; the last layer that is not a Reshape/Flatten/Dropout decides):
 * - softmax (a Dense activation or a Softmax layer) -> classification;
 * - sigmoid, any number of units -> classification (1 unit: binary p(class 1));
 * - linear / no activation (or an unbounded one: relu, elu, softplus...) with 1 unit -> regression;
 * - the same with k > 1 units -> classification: a logits head, which is how most classifiers
 *   without a softmax are built (and how Topiary read them before it knew regression);
 *   k-output regression is asked for with `--task regression`;
 * - an unsquashed output of exactly the input's shape (k > 1) -> regression: a reconstruction
 *   model (autoencoder, denoiser, anomaly detector such as MLPerf Tiny's), whose targets are inputs;
 * - anything else (tanh, a custom layer, several outputs, a non-2D output) -> undecidable: a string
 *   saying why, and the caller asks the user for `--task`.
 * @example inferTask(model) // 'regression' for tfjs-examples' abalone MLP (Dense(1), linear)
 */
export function inferTask(model: tf.LayersModel): Task | string {
  if (model.outputs.length !== 1) return `it has ${model.outputs.length} outputs`;
  const shape = model.outputs[0].shape;
  if (shape.length !== 2) return `its output has shape [${shape.join(', ')}], not [batch, units]`;
  const out = outputActivation(model);
  if (!out) return 'it has no layers';
  const act = out.activation ?? 'linear';
  if (act === 'softmax' || act === 'sigmoid') return 'classification';
  if (LINEAR.has(act)) return shape[1] === 1 || sameAsInput(model) ? 'regression' : 'classification';
  return `its output layer ${out.cls} ends in ${act}`;
}

/** Whether the model's single output has its single input's shape (a reconstruction). */
function sameAsInput(model: tf.LayersModel): boolean {
  if (model.inputs.length !== 1) return false;
  const a = model.inputs[0].shape.slice(1);
  const b = model.outputs[0].shape.slice(1);
  return a.length === b.length && a.every((d, i) => d !== null && d === b[i]);
}

/**
 * The run's task: what the user asked for, else what the model says; a ConfigError asking for
 * `--task` when neither decides.
 * @example resolveTask(model, undefined, 'abalone.h5') // 'regression'
 */
export function resolveTask(model: tf.LayersModel, requested: Task | undefined, name = 'the model'): Task {
  if (requested !== undefined) {
    if (!TASKS.includes(requested)) throw new ConfigError(`task must be classification or regression, got ${JSON.stringify(requested)}`);
    return requested;
  }
  const t = inferTask(model);
  if (t === 'classification' || t === 'regression') return t;
  throw new ConfigError(`cannot tell whether model ${name} is a classifier or a regressor (${t}): pass --task classification|regression`);
}

/** Outputs per sample of a one-output [batch, k] model (1 when unknown). */
export function outputUnits(model: tf.LayersModel): number {
  const d = model.outputs[0].shape[1];
  return typeof d === 'number' ? d : 1;
}

/** Whether a larger value of a reported metric is better (accuracy, r2) or worse (mae, rmse, loss). */
export function higherIsBetter(metric: string): boolean {
  return metric === 'accuracy' || metric === 'r2' || metric === 'top1Agreement';
}

/** The metric that ranks runs of a task: accuracy (higher better) or MAE (lower better). */
export function primaryMetric(task: Task): 'accuracy' | 'mae' {
  return task === 'regression' ? 'mae' : 'accuracy';
}

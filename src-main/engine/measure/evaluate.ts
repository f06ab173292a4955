/**
 * Accuracy, cross-entropy loss and confusion matrix of a classifier, or MAE / RMSE / R² of a
 * regressor, on a DataSplit, in batches.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, ConfigError } from '../../common/errors';
import { targetsOf, type DataSplit } from '../data';
import { fastBatch } from '../finetune/evaluate';
import { fastForward, type FastForward } from '../finetune/fused-step';
import type { Task } from '../task';

export interface EvaluateOptions {
  /** Samples per forward pass. Default 256. */
  batchSize?: number;
  /** Evaluate only the first `limit` samples of the split. */
  limit?: number;
  /** Called after each batch with samples done and total. */
  onProgress?: (done: number, total: number) => void;
  /** Aborting it stops at the next batch boundary with CancelledError. */
  signal?: AbortSignal;
  /**
   * How to read the model's output. 'auto' (default): probabilities when the last layer ends in
   * softmax (or sigmoid for a single unit), logits otherwise.
   */
  outputs?: 'auto' | 'probabilities' | 'logits';
  /** Also return the confusion matrix. Default true. */
  confusion?: boolean;
  /** What the model predicts. Default classification. */
  task?: Task;
  /**
   * A classifier the installed fused trainer covers runs on its native forward pass (fastForward:
   * model.predict's values, one call per batch); false: always model.predict. Default true.
   */
  fast?: boolean;
}

export interface EvaluateResult {
  task: Task;
  /**
   * Fraction of samples whose argmax prediction equals the label. For a regressor: R² (below), so
   * code that ranks by "higher is better" ranks regressors by error too.
   */
  accuracy: number;
  /** Mean cross-entropy, -log(max(p[label], 1e-7)) (Keras clips probabilities the same way); MSE for a regressor. */
  loss: number;
  samples: number;
  /** confusion[label][predicted] counts; classes = the model's output units. */
  confusion?: number[][];
  /** Regression: mean |p - y| over every target of every sample. */
  mae?: number;
  /** Regression: sqrt(mean (p - y)^2). */
  rmse?: number;
  /** Regression: 1 - SSE / SST, SST around each target's mean; 1 is perfect, 0 is "predict the mean". */
  r2?: number;
  /** What ran the forward passes: "tfjs" (model.predict) or the fused trainer's label (e.g. "native graph step"). */
  path: string;
}

/** Probabilities are clipped to [EPSILON, 1 - EPSILON] before the log, as Keras does. */
export const EPSILON = 1e-7;

function lastActivation(model: tf.LayersModel): string | undefined {
  const last = model.outputLayers?.[0] ?? model.layers[model.layers.length - 1];
  if (!last) return undefined;
  if (last.getClassName() === 'Softmax') return 'softmax';
  const activation = (last.getConfig() as { activation?: unknown }).activation;
  return typeof activation === 'string' ? activation : undefined;
}

/** Yield to the event loop so progress, IPC and abort signals get through between batches. */
const breathe = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/**
 * Evaluates a classifier: accuracy = mean(argmax(p) == y), loss = mean(-log p[y]) with p clipped to
 * [1e-7, 1 - 1e-7]. A single-unit output is a binary classifier: p1 = output, loss = binary
 * cross-entropy, prediction = p1 >= 0.5. Inputs are reshaped to the model's input shape (28x28x1
 * samples feed a 784-input model). One batch of tensors lives at a time.
 * @example const { accuracy, loss } = await evaluate(model, dataset.test, { batchSize: 128, limit: 1000 })
 */
export async function evaluate(model: tf.LayersModel, split: DataSplit, opts: EvaluateOptions = {}): Promise<EvaluateResult> {
  const batchSize = opts.batchSize ?? 256;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) {
    throw new ConfigError(`limit must be a non-negative integer, got ${opts.limit}`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ConfigError(`evaluate needs a model with one input and one output, got ${model.inputs.length} and ${model.outputs.length}`);
  }
  const total = Math.min(split.size, opts.limit ?? split.size);
  const inShape = model.inputs[0].shape.slice(1);
  if (inShape.some((d) => d === null)) {
    throw new ConfigError(`model input shape [${inShape.join(', ')}] has unknown dimensions; evaluate needs a static input shape`);
  }
  const sampleSize = (inShape as number[]).reduce((a, b) => a * b, 1);
  const outShape = model.outputs[0].shape;
  if (outShape.length !== 2 || outShape[1] === null) {
    throw new ConfigError(`evaluate needs a classifier with output [batch, classes], got [${outShape.join(', ')}]`);
  }
  const units = outShape[1];
  if (opts.task === 'regression') return evaluateRegression(model, split, total, batchSize, inShape as number[], sampleSize, units, opts);
  const binary = units === 1;
  const classes = binary ? 2 : units;
  const act = lastActivation(model);
  const mode = opts.outputs ?? 'auto';
  const probabilities = mode === 'auto' ? (binary ? act === 'sigmoid' : act === 'softmax') : mode === 'probabilities';
  const confusion = opts.confusion === false ? undefined : Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const fast = opts.fast !== false ? fastForward(model) : 'off';
  try {
    return await evaluateClasses(model, split, opts, { total, batchSize, inShape: inShape as number[], sampleSize, units, binary, classes, probabilities, confusion }, fast);
  } finally {
    if (typeof fast !== 'string') fast.dispose();
  }
}

/** evaluate's classification loop, on `fast` where there is one, else model.predict. */
async function evaluateClasses(
  model: tf.LayersModel,
  split: DataSplit,
  opts: EvaluateOptions,
  c: { total: number; batchSize: number; inShape: number[]; sampleSize: number; units: number; binary: boolean; classes: number; probabilities: boolean; confusion?: number[][] },
  fast: FastForward | string,
): Promise<EvaluateResult> {
  const { total, inShape, sampleSize, units, binary, classes, probabilities, confusion } = c;
  const batchSize = typeof fast === 'string' ? c.batchSize : fastBatch(fast, c.batchSize);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < total; start += batchSize) {
    if (opts.signal?.aborted) throw new CancelledError('evaluation cancelled');
    const n = Math.min(batchSize, total - start);
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x, y: labels } = split.take(idx);
    if (!(labels instanceof Int32Array)) {
      throw new ConfigError('the dataset holds regression targets but the model is evaluated as a classifier: pass --task regression');
    }
    const y = labels;
    if (x.length !== n * sampleSize) {
      throw new ConfigError(
        `dataset samples have ${x.length / n} values but the model input [${inShape.join(', ')}] needs ${sampleSize}`,
      );
    }
    const out = tf.tidy(() => {
      const raw = typeof fast === 'string' ? (model.predict(tf.tensor(x, [n, ...inShape])) as tf.Tensor) : tf.tensor2d(fast.predict(x as Float32Array, n), [n, units]);
      if (probabilities) return raw;
      return binary ? tf.sigmoid(raw) : tf.softmax(raw);
    });
    let p: Float32Array;
    try {
      p = (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
    for (let i = 0; i < n; i++) {
      const label = y[i];
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new ConfigError(`label ${label} of sample ${start + i} is outside the model's ${classes} classes`);
      }
      let pred: number;
      let pLabel: number;
      if (binary) {
        const p1 = p[i];
        pred = p1 >= 0.5 ? 1 : 0;
        pLabel = label === 1 ? p1 : 1 - p1;
      } else {
        pred = 0;
        for (let c = 1; c < units; c++) if (p[i * units + c] > p[i * units + pred]) pred = c;
        pLabel = p[i * units + label];
      }
      const clipped = Math.min(1 - EPSILON, Math.max(EPSILON, pLabel));
      lossSum -= Math.log(clipped);
      if (pred === label) correct++;
      if (confusion) confusion[label][pred]++;
    }
    opts.onProgress?.(start + n, total);
    await breathe();
  }
  if (opts.signal?.aborted) throw new CancelledError('evaluation cancelled');
  return {
    task: 'classification',
    accuracy: total === 0 ? 0 : correct / total,
    loss: total === 0 ? 0 : lossSum / total,
    samples: total,
    ...(confusion ? { confusion } : {}),
    path: typeof fast === 'string' ? 'tfjs' : fast.label,
  };
}

/**
 * MAE = mean |p - y|, RMSE = sqrt(mean (p - y)^2), R² = 1 - SSE / SST over every target; loss = MSE.
 * Targets are k floats a sample (integer labels count as one target each).
 */
async function evaluateRegression(
  model: tf.LayersModel,
  split: DataSplit,
  total: number,
  batchSize: number,
  inShape: number[],
  sampleSize: number,
  units: number,
  opts: EvaluateOptions,
): Promise<EvaluateResult> {
  let absSum = 0;
  let sqSum = 0;
  const sumY = new Float64Array(units);
  const sumY2 = new Float64Array(units);
  for (let start = 0; start < total; start += batchSize) {
    if (opts.signal?.aborted) throw new CancelledError('evaluation cancelled');
    const n = Math.min(batchSize, total - start);
    const idx = new Int32Array(n);
    for (let i = 0; i < n; i++) idx[i] = start + i;
    const { x, y } = split.take(idx);
    if (x.length !== n * sampleSize) {
      throw new ConfigError(`dataset samples have ${x.length / n} values but the model input [${inShape.join(', ')}] needs ${sampleSize}`);
    }
    const targets = targetsOf(y);
    if (targets.length !== n * units) {
      throw new ConfigError(`the dataset has ${targets.length / n} target value(s) a sample but the model predicts ${units}`);
    }
    const out = tf.tidy(() => (model.predict(tf.tensor(x, [n, ...inShape])) as tf.Tensor).reshape([n, units]));
    let p: Float32Array;
    try {
      p = (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
    for (let i = 0; i < n * units; i++) {
      const t = targets[i];
      if (!Number.isFinite(t)) throw new ConfigError(`target ${t} of sample ${start + Math.floor(i / units)} is not a finite number`);
      const d = p[i] - t;
      absSum += Math.abs(d);
      sqSum += d * d;
      sumY[i % units] += t;
      sumY2[i % units] += t * t;
    }
    opts.onProgress?.(start + n, total);
    await breathe();
  }
  if (opts.signal?.aborted) throw new CancelledError('evaluation cancelled');
  const count = total * units;
  let sst = 0;
  for (let j = 0; j < units; j++) sst += sumY2[j] - (sumY[j] * sumY[j]) / Math.max(1, total);
  const mse = count ? sqSum / count : 0;
  const r2 = count ? 1 - sqSum / Math.max(sst, 1e-12) : 0;
  return { task: 'regression', accuracy: r2, loss: mse, samples: total, mae: count ? absSum / count : 0, rmse: Math.sqrt(mse), r2, path: 'tfjs' };
}

/**
 * Losses for fine-tuning and gradient criteria. Models usually end in softmax; distillation needs
 * logits. log(softmax(z)) = z - logsumexp(z) differs from z by a per-row constant, and softmax is
 * shift-invariant, so log-probabilities serve as logits for both cross-entropy and temperature softmax.
 */
import * as tf from '@tensorflow/tfjs';
import type { DistillConfig } from '../prune/types';
import type { RegressionLoss, Task } from '../task';
import { allLayers } from '../prune/weights';

const PROB_FLOOR = 1e-7;

/** True when the model's output is already a softmax distribution. */
export function outputIsProbabilities(model: tf.LayersModel): boolean {
  const layers = allLayers(model);
  const last = layers[layers.length - 1];
  if (!last) return false;
  if (last.getClassName() === 'Softmax') return true;
  const activation = (last.getConfig() as { activation?: unknown }).activation;
  return activation === 'softmax';
}

/** Logits (or log-probabilities, equivalent for softmax) of `model` on `x`. */
export function logitsOf(model: tf.LayersModel, x: tf.Tensor, training: boolean, probs = outputIsProbabilities(model)): tf.Tensor2D {
  return tf.tidy(() => {
    const y = model.apply(x, { training }) as tf.Tensor;
    const out = probs ? tf.log(tf.maximum(y, PROB_FLOOR)) : y;
    return out.reshape([out.shape[0], -1]) as tf.Tensor2D;
  });
}

/** Mean softmax cross-entropy of integer labels against logits. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const onehot = tf.oneHot(labels.toInt(), logits.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
  });
}

/**
 * Knowledge distillation loss (Hinton et al. 2015):
 * alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y).
 * The T^2 keeps the soft term's gradient scale independent of T. With alpha = 0 it is exactly CE.
 * @example distillationLoss(studentLogits, teacherLogits, labels, { temperature: 4, alpha: 0.5 })
 */
export function distillationLoss(
  student: tf.Tensor2D,
  teacher: tf.Tensor2D,
  labels: tf.Tensor1D,
  { temperature: T, alpha }: DistillConfig,
): tf.Scalar {
  return tf.tidy(() => {
    const ce = crossEntropy(student, labels);
    if (alpha === 0) return ce;
    const logPt = tf.logSoftmax(tf.div(teacher, T));
    const logPs = tf.logSoftmax(tf.div(student, T));
    const kl = tf.mean(tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)), 1));
    return tf.add(tf.mul(alpha * T * T, kl), tf.mul(1 - alpha, ce)) as tf.Scalar;
  });
}

/** Fraction of rows whose arg-max equals the label. */
export function accuracyOf(logits: tf.Tensor2D, labels: tf.Tensor1D): number {
  return tf.tidy(() => tf.mean(tf.equal(tf.argMax(logits, 1), labels.toInt()).toFloat()).dataSync()[0]);
}

/**
 * What a training step minimizes and reports, per task. Classification: softmax cross-entropy on
 * logits (or log-probabilities), quality = accuracy. Regression: MSE = mean((p - y)^2) (default) or
 * MAE = mean(|p - y|) on the raw outputs, quality = R² = 1 - SSE / SST over the batch (SST around the
 * batch's per-target means), so "higher is better" holds for the quality number of either task.
 * @example const obj = objectiveFor(model, 'regression', 'mae'); obj.loss(obj.forward(model, x, true), y)
 */
export interface Objective {
  task: Task;
  /** The model's output as the loss reads it: [n, units]. */
  forward(model: tf.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor2D;
  /** Mean loss of `out` against `y` (int32 labels [n], or float targets [n, k]). */
  loss(out: tf.Tensor2D, y: tf.Tensor): tf.Scalar;
  /** Accuracy (classification) or R² (regression) of the batch. */
  quality(out: tf.Tensor2D, y: tf.Tensor): tf.Scalar;
}

/** Mean squared error or mean absolute error of predictions [n, k] against targets [n, k]. */
export function regressionLoss(pred: tf.Tensor2D, targets: tf.Tensor, kind: RegressionLoss = 'mse'): tf.Scalar {
  return tf.tidy(() => {
    const diff = tf.sub(pred, targets.reshape(pred.shape).toFloat());
    return (kind === 'mae' ? tf.mean(tf.abs(diff)) : tf.mean(tf.square(diff))) as tf.Scalar;
  });
}

/** R² = 1 - sum (y - p)^2 / sum (y - mean(y))^2 (per-target means); 0 when the targets are constant and matched badly. */
export function rSquared(pred: tf.Tensor2D, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const y = targets.reshape(pred.shape).toFloat();
    const sse = tf.sum(tf.square(tf.sub(y, pred)));
    const sst = tf.sum(tf.square(tf.sub(y, tf.mean(y, 0, true))));
    return tf.sub(1, tf.div(sse, tf.maximum(sst, 1e-12))) as tf.Scalar;
  });
}

/** The Objective of a task; the model decides whether its outputs are probabilities. */
export function objectiveFor(model: tf.LayersModel, task: Task = 'classification', kind: RegressionLoss = 'mse'): Objective {
  if (task === 'regression') {
    return {
      task,
      forward: (m, x, training) => tf.tidy(() => {
        const y = m.apply(x, { training }) as tf.Tensor;
        return y.reshape([y.shape[0], -1]) as tf.Tensor2D;
      }),
      loss: (out, y) => regressionLoss(out, y, kind),
      quality: (out, y) => rSquared(out, y),
    };
  }
  const probs = outputIsProbabilities(model);
  return {
    task,
    forward: (m, x, training) => logitsOf(m, x, training, m === model ? probs : outputIsProbabilities(m)),
    loss: (out, y) => crossEntropy(out, y as tf.Tensor1D),
    quality: (out, y) => tf.tidy(() => tf.mean(tf.equal(tf.argMax(out, 1), y.toInt()).toFloat()) as tf.Scalar),
  };
}

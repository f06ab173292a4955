/**
 * Losses for fine-tuning and gradient criteria. Models usually end in softmax; distillation needs
 * logits. log(softmax(z)) = z - logsumexp(z) differs from z by a per-row constant, and softmax is
 * shift-invariant, so log-probabilities serve as logits for both cross-entropy and temperature softmax.
 */
import * as tf from '@tensorflow/tfjs';
import type { DistillConfig } from '../prune/types';
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

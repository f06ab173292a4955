/** Compile helpers, so every trainer (demo, fine-tune, tests) uses the same loss and metric names. */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';

export interface CompileOptions {
  /** 'adam' (default) or 'sgd' (with momentum when `momentum` > 0). */
  optimizer?: 'adam' | 'sgd';
  /** Default 1e-3 for adam, 1e-2 for sgd. */
  learningRate?: number;
  /** SGD momentum; 0 (default) is plain SGD. */
  momentum?: number;
}

/**
 * Compiles a softmax classifier for integer labels: loss = sparse categorical cross-entropy,
 * -log p[y], metric = accuracy. Labels are class ids as a float32 tensor of shape [n]: tfjs's
 * sparse cross-entropy floors them itself and rejects int32 (use `labelTensor(split.take(i).y)`).
 * @example compileClassifier(lenet5(), { optimizer: 'adam', learningRate: 1e-3 })
 */
export function compileClassifier(model: tf.LayersModel, opts: CompileOptions = {}): tf.LayersModel {
  const kind = opts.optimizer ?? 'adam';
  const lr = opts.learningRate ?? (kind === 'adam' ? 1e-3 : 1e-2);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new ConfigError(`learningRate must be > 0, got ${lr}`);
  const momentum = opts.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new ConfigError(`momentum must be in [0, 1), got ${momentum}`);
  let optimizer: tf.Optimizer;
  if (kind === 'adam') optimizer = tf.train.adam(lr);
  else if (kind === 'sgd') optimizer = momentum > 0 ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
  else throw new ConfigError(`optimizer must be 'adam' or 'sgd', got '${String(kind)}'`);
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** Labels for `fit` with `compileClassifier`: tfjs's sparse cross-entropy needs float32 class ids. */
export function labelTensor(y: ArrayLike<number>): tf.Tensor1D {
  return tf.tensor1d(Float32Array.from(y));
}

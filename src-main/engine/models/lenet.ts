/**
 * The two classic LeCun et al. (1998) networks that pruning papers use as their first benchmark
 * (Han et al. 2015, "Learning both Weights and Connections"; Frankle & Carbin 2019). Built with
 * seeded initializers so that a test, a bench and the demo trainer get the same starting weights.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';

export interface BuilderOptions {
  /** Seed for the kernel initializers; the same seed gives the same weights. Default 1. */
  seed?: number;
  /** Shape of one sample. Default [28, 28, 1] (MNIST / Fashion-MNIST). */
  inputShape?: number[];
  /** Number of output classes. Default 10. */
  numClasses?: number;
  /** Model name (tfjs otherwise numbers models globally, which makes names depend on call order). */
  name?: string;
}

interface Resolved {
  seed: number;
  inputShape: number[];
  numClasses: number;
}

export function resolveBuilderOptions(opts: BuilderOptions, defaultShape: number[]): Resolved {
  const seed = opts.seed ?? 1;
  const inputShape = opts.inputShape ?? defaultShape;
  const numClasses = opts.numClasses ?? 10;
  if (!Number.isInteger(seed)) throw new ConfigError(`seed must be an integer, got ${seed}`);
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ConfigError(`inputShape must be positive integers, got [${inputShape.join(', ')}]`);
  }
  if (!Number.isInteger(numClasses) || numClasses < 2) {
    throw new ConfigError(`numClasses must be an integer >= 2, got ${numClasses}`);
  }
  return { seed, inputShape, numClasses };
}

/**
 * Seeded Glorot-uniform kernel initializer. Each layer gets its own seed (base + layer index) so
 * layers of equal shape do not start identical.
 */
export function seededKernel(seed: number, layerIndex: number): ReturnType<typeof tf.initializers.glorotUniform> {
  return tf.initializers.glorotUniform({ seed: seed * 1000 + layerIndex });
}

/**
 * LeNet-300-100: Flatten -> Dense 300 relu -> Dense 100 relu -> Dense `numClasses` softmax (no
 * Flatten for a 1-D inputShape such as [784]).
 * For 28x28x1 input: 266,610 parameters (235,500 + 30,100 + 1,010) and 266,200 MACs per sample.
 * @example const model = lenet300100({ seed: 7 }); model.predict(tf.zeros([1, 28, 28, 1]))
 */
export function lenet300100(opts: BuilderOptions = {}): tf.Sequential {
  const { seed, inputShape, numClasses } = resolveBuilderOptions(opts, [28, 28, 1]);
  const model = tf.sequential({ name: opts.name ?? 'lenet300100' });
  // Image input is flattened; a flat input ([784]) goes straight into fc1 (Flatten rejects 1-D input).
  const flat = inputShape.length === 1;
  if (!flat) model.add(tf.layers.flatten({ inputShape, name: 'flatten' }));
  model.add(
    tf.layers.dense({
      ...(flat ? { inputShape } : {}),
      units: 300,
      activation: 'relu',
      kernelInitializer: seededKernel(seed, 1),
      name: 'fc1',
    }),
  );
  model.add(tf.layers.dense({ units: 100, activation: 'relu', kernelInitializer: seededKernel(seed, 2), name: 'fc2' }));
  model.add(
    tf.layers.dense({ units: numClasses, activation: 'softmax', kernelInitializer: seededKernel(seed, 3), name: 'fc3' }),
  );
  return model;
}

/**
 * LeNet-5 adapted to 28x28 input, the way it is usually run on MNIST: the first convolution pads
 * ('same') so that 28x28 behaves like the original 32x32 input, and ReLU + max pooling replace
 * the original tanh + trainable subsampling.
 *
 *   conv1 6@5x5 same relu   -> 28x28x6   (156 params)
 *   pool1 max 2x2           -> 14x14x6
 *   conv2 16@5x5 valid relu -> 10x10x16  (2,416 params)
 *   pool2 max 2x2           -> 5x5x16
 *   flatten                 -> 400
 *   fc1 120 relu            (48,120 params)
 *   fc2 84 relu             (10,164 params)
 *   fc3 10 softmax          (850 params)      total 61,706 params, 416,520 MACs per sample
 * @example const model = lenet5({ seed: 1 }); model.summary()
 */
export function lenet5(opts: BuilderOptions = {}): tf.Sequential {
  const { seed, inputShape, numClasses } = resolveBuilderOptions(opts, [28, 28, 1]);
  if (inputShape.length !== 3) {
    throw new ConfigError(`lenet5 needs an image input shape [height, width, channels], got [${inputShape.join(', ')}]`);
  }
  const model = tf.sequential({ name: opts.name ?? 'lenet5' });
  model.add(
    tf.layers.conv2d({
      inputShape,
      filters: 6,
      kernelSize: 5,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: seededKernel(seed, 1),
      name: 'conv1',
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  model.add(
    tf.layers.conv2d({
      filters: 16,
      kernelSize: 5,
      padding: 'valid',
      activation: 'relu',
      kernelInitializer: seededKernel(seed, 2),
      name: 'conv2',
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool2' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: 120, activation: 'relu', kernelInitializer: seededKernel(seed, 3), name: 'fc1' }));
  model.add(tf.layers.dense({ units: 84, activation: 'relu', kernelInitializer: seededKernel(seed, 4), name: 'fc2' }));
  model.add(
    tf.layers.dense({ units: numClasses, activation: 'softmax', kernelInitializer: seededKernel(seed, 5), name: 'fc3' }),
  );
  return model;
}

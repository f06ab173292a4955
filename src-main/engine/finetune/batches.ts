/** Turning DataSplit samples into input tensors shaped for a model, one batch at a time. */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { permutation, type Batch, type DataSplit } from '../data';

/** Shape of one sample as the model expects it (its first input without the batch axis). */
export function sampleShapeOf(model: tf.LayersModel): number[] {
  const shape = model.inputs[0].shape.slice(1);
  if (shape.some((d) => d === null)) throw new ConfigError(`model input shape ${JSON.stringify(model.inputs[0].shape)} must be fully known`);
  return shape as number[];
}

/** The samples at `indices` as arrays, checked against the model's sample shape. */
export function batchArrays(split: DataSplit, indices: ArrayLike<number>, sampleShape: number[]): Batch {
  const { x, y } = split.take(indices);
  const per = sampleShape.reduce((a, b) => a * b, 1);
  if (x.length !== indices.length * per) {
    throw new ConfigError(`dataset samples have ${x.length / Math.max(1, indices.length)} values, the model expects ${per} (${sampleShape.join('x')})`);
  }
  return { x, y };
}

/**
 * x and y tensors for the given sample indices; the caller disposes them. `y` is int32 [n] for class
 * labels, float32 [n, k] for regression targets.
 */
export function batchTensors(split: DataSplit, indices: ArrayLike<number>, sampleShape: number[]): { x: tf.Tensor; y: tf.Tensor } {
  const { x, y } = batchArrays(split, indices, sampleShape);
  return { x: tf.tensor(x, [indices.length, ...sampleShape]), y: targetTensor(y, indices.length) };
}

/** Labels as int32 [n]; regression targets as float32 [n, k]. */
export function targetTensor(y: Int32Array | Float32Array, n: number): tf.Tensor {
  if (y instanceof Int32Array) return tf.tensor1d(y, 'int32');
  if (n > 0 && y.length % n !== 0) throw new ConfigError(`a batch of ${n} samples has ${y.length} targets, not a whole number per sample`);
  return tf.tensor2d(y, [n, n > 0 ? y.length / n : 1]);
}

/** Index batches of a seeded shuffle: `batchIndices(1000, 64, seed)` -> 16 Int32Arrays. */
export function batchIndices(n: number, batchSize: number, seed: number, limit = n): Int32Array[] {
  const perm = permutation(n, seed).subarray(0, Math.min(n, limit));
  const out: Int32Array[] = [];
  for (let i = 0; i < perm.length; i += batchSize) out.push(perm.subarray(i, Math.min(perm.length, i + batchSize)));
  return out;
}

/** Batched loss and accuracy of a classifier on a split. */
import * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../data';
import { batchTensors, sampleShapeOf } from './batches';
import { crossEntropy, logitsOf, outputIsProbabilities } from './loss';
import { fitInferenceBatch } from './memory';

/**
 * Mean cross-entropy and accuracy over the first `limit` samples of `split` (all by default).
 * Batches are capped to what fits under the backend's memory ceiling (./memory.ts; the results do
 * not depend on the batch size); `memoryCeiling` overrides the installed one.
 * @example const { accuracy } = evaluateModel(model, dataset.test, { batchSize: 256 })
 */
export function evaluateModel(
  model: tf.LayersModel,
  split: DataSplit,
  opts: { batchSize?: number; limit?: number; indices?: Int32Array; memoryCeiling?: number } = {},
): { loss: number; accuracy: number; samples: number } {
  const n = opts.indices ? opts.indices.length : Math.min(split.size, opts.limit ?? split.size);
  const bs = fitInferenceBatch(model, opts.batchSize ?? 256, opts.memoryCeiling);
  const shape = sampleShapeOf(model);
  const probs = outputIsProbabilities(model);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += bs) {
    const end = Math.min(n, start + bs);
    const idx = opts.indices ? opts.indices.subarray(start, end) : Int32Array.from({ length: end - start }, (_, i) => start + i);
    const { x, y } = batchTensors(split, idx, shape);
    const [l, c] = tf.tidy(() => {
      const logits = logitsOf(model, x, false, probs);
      const loss = crossEntropy(logits, y).mul(end - start);
      const hits = tf.sum(tf.equal(tf.argMax(logits, 1), y).toFloat());
      return [loss.dataSync()[0], hits.dataSync()[0]];
    });
    x.dispose();
    y.dispose();
    lossSum += l;
    correct += c;
  }
  return { loss: n > 0 ? lossSum / n : 0, accuracy: n > 0 ? correct / n : 0, samples: n };
}

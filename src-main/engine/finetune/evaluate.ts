/** Batched loss and quality (accuracy, or R² for a regressor) of a model on a split. */
import * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../data';
import type { RegressionLoss, Task } from '../task';
import { batchArrays, batchTensors, sampleShapeOf } from './batches';
import { fastForward, type FastForward } from './fused-step';
import { objectiveFor, outputIsProbabilities } from './loss';
import { fitInferenceBatch } from './memory';

/**
 * Mean loss and accuracy over the first `limit` samples of `split` (all by default). For
 * `task: 'regression'` the loss is the regression loss (MSE by default, as fine-tuning minimizes it)
 * and `accuracy` holds R² = 1 - SSE / SST over all the samples, so "higher is better" still holds for
 * early stopping, sensitivity drops and candidate ranking. Batches are capped to what fits under the
 * backend's memory ceiling (./memory.ts; the results do not depend on the batch size);
 * `memoryCeiling` overrides the installed one.
 * @example const { accuracy } = evaluateModel(model, dataset.test, { batchSize: 256 })
 */
export function evaluateModel(
  model: tf.LayersModel,
  split: DataSplit,
  opts: { batchSize?: number; limit?: number; indices?: Int32Array; task?: Task; loss?: RegressionLoss; memoryCeiling?: number; fast?: boolean } = {},
): { loss: number; accuracy: number; samples: number; path: string } {
  const n = opts.indices ? opts.indices.length : Math.min(split.size, opts.limit ?? split.size);
  const bs = fitInferenceBatch(model, opts.batchSize ?? 256, opts.memoryCeiling);
  const shape = sampleShapeOf(model);
  const objective = objectiveFor(model, opts.task, opts.loss);
  const regression = objective.task === 'regression';
  let lossSum = 0;
  let correct = 0;
  // Regression: SSE and the per-target sums behind SST = sum y^2 - n * mean^2.
  let sse = 0;
  let sumY: Float64Array | undefined;
  let sumY2: Float64Array | undefined;
  // Classification on a graph the fused step covers: its native forward pass (one call per batch).
  const fast = !regression && opts.fast !== false ? fastForward(model) : 'off';
  if (typeof fast !== 'string') {
    try {
      const batch = fastBatch(fast, FAST_BATCH);
      return { ...evaluateFast(model, split, n, opts.indices, shape, batch, fast.predict), path: fast.label };
    } finally {
      fast.dispose();
    }
  }
  for (let start = 0; start < n; start += bs) {
    const end = Math.min(n, start + bs);
    const idx = opts.indices ? opts.indices.subarray(start, end) : Int32Array.from({ length: end - start }, (_, i) => start + i);
    const { x, y } = batchTensors(split, idx, shape);
    try {
      if (regression) {
        const [l, out, ys] = tf.tidy(() => {
          const pred = objective.forward(model, x, false);
          return [objective.loss(pred, y).dataSync()[0], pred.dataSync(), y.reshape(pred.shape).dataSync()];
        });
        lossSum += l * (end - start);
        const k = out.length / Math.max(1, end - start);
        sumY ??= new Float64Array(k);
        sumY2 ??= new Float64Array(k);
        for (let i = 0; i < out.length; i++) {
          sse += (ys[i] - out[i]) ** 2;
          sumY[i % k] += ys[i];
          sumY2[i % k] += ys[i] * ys[i];
        }
      } else {
        const [l, c] = tf.tidy(() => {
          const logits = objective.forward(model, x, false);
          const loss = objective.loss(logits, y).mul(end - start);
          const hits = tf.sum(tf.equal(tf.argMax(logits, 1), y).toFloat());
          return [loss.dataSync()[0], hits.dataSync()[0]];
        });
        lossSum += l;
        correct += c;
      }
    } finally {
      x.dispose();
      y.dispose();
    }
  }
  let accuracy = n > 0 ? correct / n : 0;
  if (regression) {
    let sst = 0;
    for (let j = 0; j < (sumY?.length ?? 0); j++) sst += (sumY2 as Float64Array)[j] - ((sumY as Float64Array)[j] ** 2) / Math.max(1, n);
    accuracy = n > 0 ? 1 - sse / Math.max(sst, 1e-12) : 0;
  }
  return { loss: n > 0 ? lossSum / n : 0, accuracy, samples: n, path: 'tfjs' };
}

/** Samples, and bytes of activations, the native forward pass runs at once (outside the wasm heap). */
const FAST_BATCH = 256;
const FAST_BYTES = 512 * 2 ** 20;

/** Samples per call of `fast` for at most `want`: what keeps its activations under FAST_BYTES. */
export function fastBatch(fast: FastForward, want: number): number {
  return Math.max(1, Math.min(want, Math.floor(FAST_BYTES / fast.sampleBytes)));
}

/** evaluateModel's classification loop on `predict` (model.predict's values) instead of tfjs. */
function evaluateFast(
  model: tf.LayersModel,
  split: DataSplit,
  n: number,
  indices: Int32Array | undefined,
  shape: number[],
  batch: number,
  predict: (x: Float32Array, n: number) => Float32Array,
): { loss: number; accuracy: number; samples: number } {
  const objective = objectiveFor(model, 'classification');
  const probs = outputIsProbabilities(model);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const idx = indices ? indices.subarray(start, end) : Int32Array.from({ length: end - start }, (_, i) => start + i);
    const { x, y } = batchArrays(split, idx, shape);
    const out = predict(x, end - start);
    const [l, c] = tf.tidy(() => {
      const pred = tf.tensor2d(out, [end - start, out.length / (end - start)]);
      // What logitsOf makes of model.predict's output (log-probabilities when it ends in softmax).
      const logits = probs ? tf.log(tf.maximum(pred, 1e-7)) : pred;
      const labels = tf.tensor1d(y as Int32Array, 'int32');
      const loss = objective.loss(logits as tf.Tensor2D, labels).mul(end - start);
      const hits = tf.sum(tf.equal(tf.argMax(logits, 1), labels).toFloat());
      return [loss.dataSync()[0], hits.dataSync()[0]];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: n > 0 ? lossSum / n : 0, accuracy: n > 0 ? correct / n : 0, samples: n };
}

/**
 * Fine-tuning that keeps masks. A custom loop (variableGrads + applyGradients) instead of model.fit,
 * because masks must hold after *every* optimizer step: gradients of pruned weights are zeroed before
 * the update (so Adam's moments for them stay zero and cannot resurrect them) and the weights are
 * re-multiplied by their masks after it (so they are exactly zero, whatever the optimizer did).
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../common/errors';
import { permutation, subset, type DataSplit } from '../data';
import type { FinetuneConfig, PruneProgress } from '../prune/types';
import { batchIndices, batchTensors, sampleShapeOf } from './batches';
import { evaluateModel } from './evaluate';
import { crossEntropy, distillationLoss, logitsOf, outputIsProbabilities } from './loss';

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  sparsity: number;
}

export interface FinetuneOptions {
  /** Keep-masks by the model's weight name; read before every step, so a hook may replace them. */
  masks: Map<string, tf.Tensor>;
  /** Distillation teacher (its outputs are computed in inference mode). */
  teacher?: tf.LayersModel;
  onProgress?: (p: PruneProgress) => void;
  signal?: AbortSignal;
  /** Called before optimizer step `step` (0-based, across epochs): where a schedule re-prunes. */
  beforeStep?: (step: number) => Promise<void>;
  /** Movement scores to accumulate (S -= lr * g * w), by weight name, kernel-shaped; updated in place. */
  movement?: Map<string, tf.Tensor>;
  /** Current sparsity for progress events. */
  sparsity?: () => number;
  seed?: number;
  /** Held-out data for early stopping; when absent and earlyStopping is set, it is split off `train`. */
  validation?: DataSplit;
}

export interface FinetuneResult {
  history: EpochRecord[];
  stoppedEarly: boolean;
  steps: number;
}

/** Splits `validationFraction` of a split off (seeded): `{ train, validation }`. */
export function splitValidation(split: DataSplit, fraction: number, seed: number): { train: DataSplit; validation: DataSplit } {
  const perm = permutation(split.size, seed);
  const nVal = Math.max(1, Math.round(split.size * fraction));
  return { validation: subset(split, perm.slice(0, nVal)), train: subset(split, perm.slice(nVal)) };
}

function checkCancelled(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError('fine-tuning cancelled');
}

/** Optimizer steps per epoch for a split under a config. */
export function batchesPerEpoch(size: number, cfg: FinetuneConfig): number {
  return Math.ceil(Math.min(size, cfg.maxSamplesPerEpoch ?? size) / cfg.batchSize);
}

/**
 * Trains `model` in place on `train` for `cfg.epochs` epochs (seeded shuffle per epoch), keeping the
 * masks in `opts.masks`; optional distillation (Hinton: alpha * T^2 * KL + (1 - alpha) * CE), early
 * stopping on validation loss, per-batch and per-epoch progress, cancellation via AbortSignal.
 * @example await finetuneMasked(model, ds.train, cfg.finetune, { masks, onProgress: console.log })
 */
export async function finetuneMasked(
  model: tf.LayersModel,
  trainSplit: DataSplit,
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
): Promise<FinetuneResult> {
  const seed = opts.seed ?? 0;
  let train = trainSplit;
  let validation = opts.validation;
  if (cfg.earlyStopping && !validation) {
    ({ train, validation } = splitValidation(trainSplit, cfg.earlyStopping.validationFraction, seed));
  }
  const shape = sampleShapeOf(model);
  const probs = outputIsProbabilities(model);
  const teacherProbs = opts.teacher ? outputIsProbabilities(opts.teacher) : false;
  const optimizer = cfg.optimizer === 'adam' ? tf.train.adam(cfg.learningRate) : tf.train.sgd(cfg.learningRate);
  const byName = new Map(model.trainableWeights.map((w) => [w.name, w]));
  const history: EpochRecord[] = [];
  const sparsity = opts.sparsity ?? (() => 0);
  let step = 0;
  let best = Infinity;
  let sinceBest = 0;
  let stoppedEarly = false;
  try {
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const batches = batchIndices(train.size, cfg.batchSize, seed + 1000 * (epoch + 1), cfg.maxSamplesPerEpoch);
      let lossSum = 0;
      let accSum = 0;
      let seen = 0;
      for (let b = 0; b < batches.length; b++) {
        checkCancelled(opts.signal);
        if (opts.beforeStep) await opts.beforeStep(step);
        // Let the event loop deliver an abort (from a worker message or UI) between batches.
        await new Promise<void>((r) => setTimeout(r, 0));
        checkCancelled(opts.signal);
        const { x, y } = batchTensors(train, batches[b], shape);
        const [loss, acc] = trainStep(model, optimizer, x, y, cfg, opts, byName, probs, teacherProbs);
        x.dispose();
        y.dispose();
        step++;
        lossSum += loss * batches[b].length;
        accSum += acc * batches[b].length;
        seen += batches[b].length;
        opts.onProgress?.({ phase: 'batch', epoch, batch: b, batches: batches.length, loss, accuracy: acc, sparsity: sparsity() });
      }
      const record: EpochRecord = { epoch, loss: lossSum / Math.max(1, seen), accuracy: accSum / Math.max(1, seen), sparsity: sparsity() };
      if (validation) {
        const v = evaluateModel(model, validation, { batchSize: Math.max(cfg.batchSize, 128) });
        record.valLoss = v.loss;
        record.valAccuracy = v.accuracy;
      }
      history.push(record);
      opts.onProgress?.({ phase: 'epoch', batch: batches.length - 1, batches: batches.length, ...record });
      if (cfg.earlyStopping && record.valLoss !== undefined) {
        if (record.valLoss < best - 1e-6) {
          best = record.valLoss;
          sinceBest = 0;
        } else if (++sinceBest >= cfg.earlyStopping.patience) {
          stoppedEarly = true;
          break;
        }
      }
    }
  } finally {
    optimizer.dispose();
  }
  return { history, stoppedEarly, steps: step };
}

function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor,
  y: tf.Tensor1D,
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
  byName: Map<string, tf.LayerVariable>,
  probs: boolean,
  teacherProbs: boolean,
): [number, number] {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const teacherLogits = opts.teacher && cfg.distill ? logitsOf(opts.teacher, x, false, teacherProbs) : undefined;
    let logits: tf.Tensor2D | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const l = logitsOf(model, x, true, probs);
      logits = tf.keep(l);
      return teacherLogits && cfg.distill ? distillationLoss(l, teacherLogits, y, cfg.distill) : crossEntropy(l, y);
    }, vars);
    const masked: tf.NamedTensorMap = {};
    for (const [name, mask] of opts.masks) {
      const lv = byName.get(name);
      if (!lv) continue;
      const vn = (lv.read() as tf.Variable).name;
      if (grads[vn]) masked[vn] = tf.mul(grads[vn], mask);
    }
    if (opts.movement) {
      for (const [name, s] of opts.movement) {
        const lv = byName.get(name);
        const g = lv && grads[(lv.read() as tf.Variable).name];
        if (!lv || !g) continue;
        const next = tf.keep(tf.sub(s, tf.mul(cfg.learningRate, tf.mul(g, lv.read()))));
        // Update in place so the caller's map (and its disposal) sees the new tensor.
        opts.movement.set(name, next);
        s.dispose();
      }
    }
    optimizer.applyGradients({ ...grads, ...masked });
    for (const [name, mask] of opts.masks) {
      const lv = byName.get(name);
      if (lv) lv.write(tf.mul(lv.read(), mask));
    }
    const acc = tf.mean(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), y).toFloat());
    const out: [number, number] = [value.dataSync()[0], acc.dataSync()[0]];
    (logits as tf.Tensor2D).dispose();
    return out;
  });
}

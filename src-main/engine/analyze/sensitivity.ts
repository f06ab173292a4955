/**
 * Layer sensitivity scan (Han et al. 2015, Fig. 5; Li et al. 2017): prune one layer at a time,
 * one-shot, to each sparsity with every other layer untouched, and measure accuracy. Layers whose
 * accuracy falls fast deserve lower sparsity (a perLayer map); flat ones can take more.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, ConfigError } from '../../common/errors';
import type { DataSplit } from '../data';
import { evaluateModel } from '../finetune/evaluate';
import { importanceFor } from '../importance';
import { pruneLowest } from '../prune/select';
import type { PruneMethod } from '../prune/types';
import type { Task } from '../task';
import { prunableWeights } from '../prune/weights';

export interface SensitivityRow {
  layer: string;
  layerClass: string;
  /** Weights in the layer's kernel. */
  params: number;
  sparsity: number;
  accuracy: number;
  loss: number;
  /** Baseline accuracy minus this accuracy (positive = worse). */
  drop: number;
}

export interface SensitivityReport {
  method: PruneMethod;
  samples: number;
  baseline: { accuracy: number; loss: number };
  sparsities: number[];
  rows: SensitivityRow[];
}

export interface SensitivityOptions {
  sparsities?: number[];
  /** Element criterion; default magnitude. Data-driven criteria use `train`. */
  method?: PruneMethod;
  /** Evaluate on the first `limit` samples of the split (all by default). */
  limit?: number;
  batchSize?: number;
  /** Training data for taylor / movement scores. */
  train?: DataSplit;
  /** Only these layers (default: every prunable layer). */
  layers?: string[];
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /**
   * What the model predicts. For a regressor, `accuracy` in the report is R² and `loss` the MSE
   * (see finetune/evaluate.ts), so `drop` is still "how much worse", on the R² scale.
   */
  task?: Task;
}

/**
 * For each prunable layer and each sparsity, the accuracy with only that layer pruned (one-shot).
 * The model's weights are restored afterwards, bit for bit.
 * @example const { rows } = await sensitivityScan(model, dataset.test, { sparsities: [0.3, 0.5, 0.7, 0.9], limit: 2000 })
 */
export async function sensitivityScan(model: tf.LayersModel, split: DataSplit, opts: SensitivityOptions = {}): Promise<SensitivityReport> {
  const sparsities = opts.sparsities ?? [0.3, 0.5, 0.7, 0.9];
  for (const s of sparsities) {
    if (!(s >= 0 && s < 1)) throw new ConfigError(`sensitivity sparsities must be in [0, 1), got ${s}`);
  }
  const method = opts.method ?? 'magnitude';
  if (method === 'bn-scale') throw new ConfigError('sensitivity scans element sparsity; bn-scale scores channels only');
  let weights = prunableWeights(model);
  if (opts.layers) {
    const known = new Set(weights.map((w) => w.layer));
    for (const l of opts.layers) if (!known.has(l)) throw new ConfigError(`sensitivity: layer "${l}" has no prunable kernel`);
    weights = weights.filter((w) => opts.layers?.includes(w.layer));
  }
  const evalOpts = { batchSize: opts.batchSize ?? 256, limit: opts.limit, task: opts.task };
  const base = evaluateModel(model, split, evalOpts);
  const scores = await importanceFor(method).scores(weights, {
    model,
    data: opts.train,
    batchSize: 32,
    batches: 8,
    seed: 0,
    task: opts.task,
  });
  const rows: SensitivityRow[] = [];
  const total = weights.length * sparsities.length;
  // The real total before the first evaluation: on a 224x224 model one takes seconds, and "0/1" with
  // no ETA for that long reads as a hang.
  opts.onProgress?.(0, total);
  for (const w of weights) {
    const original = tf.clone(w.variable.read());
    try {
      for (const s of sparsities) {
        if (opts.signal?.aborted) throw new CancelledError('sensitivity scan cancelled');
        const keep = pruneLowest(scores.get(w.weightName) as Float32Array, Math.round(s * original.size));
        tf.tidy(() => {
          w.variable.write(tf.mul(original, tf.tensor(Float32Array.from(keep), original.shape)));
        });
        const r = evaluateModel(model, split, evalOpts);
        rows.push({ layer: w.layer, layerClass: w.layerClass, params: original.size, sparsity: s, accuracy: r.accuracy, loss: r.loss, drop: base.accuracy - r.accuracy });
        opts.onProgress?.(rows.length, total);
        await new Promise<void>((res) => setTimeout(res, 0));
      }
    } finally {
      w.variable.write(original);
      original.dispose();
    }
  }
  return { method, samples: base.samples, baseline: { accuracy: base.accuracy, loss: base.loss }, sparsities, rows };
}

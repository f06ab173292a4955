/**
 * Unstructured and N:M pruning: score every prunable kernel with the configured criterion, decide
 * keep-masks (exact counts, deterministic ties), record them in a plan, and apply them by multiplying.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import type { DataSplit } from '../data';
import { importanceFor } from '../importance';
import { encodeMask } from './bitset';
import { nmMask, pruneLowest, pruneLowestGlobal } from './select';
import type { MaskStep, PrunableWeight, PruneConfig, PruningPlan, ScoresSummary } from './types';
import { prunableWeights } from './weights';

export interface PruneContext {
  /** Training data for taylor / movement. */
  data?: DataSplit;
  /** Movement scores accumulated by fine-tuning, by weight name. */
  movement?: Map<string, Float32Array>;
  /** Masks from earlier rounds, by weight name: what was pruned stays pruned. */
  masks?: Map<string, tf.Tensor>;
  /** Target sparsity for this step when a schedule ramps it (defaults to config.sparsity). */
  sparsity?: number;
}

export interface PruneResult {
  plan: PruningPlan;
  /** Keep-masks (1 kept, 0 pruned) by weight name, kernel-shaped; the caller disposes them. */
  masks: Map<string, tf.Tensor>;
}

/** The kernels a config prunes: prunable, not ignored; N:M skips depthwise kernels (no input dimension to group). */
export function targetWeights(model: tf.LayersModel, config: PruneConfig): PrunableWeight[] {
  const ignored = new Set(config.ignore ?? []);
  return prunableWeights(model).filter(
    (w) => !ignored.has(w.layer) && !(config.granularity === 'nm' && w.layerClass === 'DepthwiseConv2D'),
  );
}

function summarize(scores: Float32Array, keep: Uint8Array): ScoresSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  let threshold = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!Number.isFinite(s)) continue;
    if (s < min) min = s;
    if (s > max) max = s;
    sum += s;
    count++;
    if (!keep[i] && s > threshold) threshold = s;
  }
  return count === 0 ? { min: 0, max: 0, mean: 0, threshold } : { min, max, mean: sum / count, threshold };
}

function countPruned(keep: Uint8Array): number {
  let p = 0;
  for (let i = 0; i < keep.length; i++) if (!keep[i]) p++;
  return p;
}

/** Multiplies a weight by its keep-mask in place (pruned entries become exactly zero). */
export function applyMask(w: PrunableWeight | tf.LayerVariable, mask: tf.Tensor): void {
  const v = 'variable' in w ? w.variable : w;
  tf.tidy(() => {
    v.write(tf.mul(v.read(), mask));
  });
}

/**
 * Prunes `model` in place with the config's criterion and granularity ('unstructured' or 'nm').
 * - layer scope: each kernel loses round(s * size) weights, s = perLayer[layer] ?? sparsity;
 * - global scope: one threshold over all kernels not in perLayer; round(s * total) weights overall;
 * - nm: in every run of M consecutive weights along the input axis the N highest scores are kept.
 * Returns the plan (replayable with applyPlan) and the keep-masks for fine-tuning to enforce.
 * @example const { plan, masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.9 }, model))
 */
export async function pruneUnstructured(model: tf.LayersModel, config: PruneConfig, ctx: PruneContext = {}): Promise<PruneResult> {
  if (config.granularity === 'structured') {
    throw new ConfigError('pruneUnstructured handles granularity unstructured and nm; structured goes to pruneStructured');
  }
  const weights = targetWeights(model, config);
  if (weights.length === 0) throw new ConfigError('nothing to prune: every prunable layer is ignored');
  const target = ctx.sparsity ?? config.sparsity;
  const scores = await importanceFor(config.method).scores(weights, {
    model,
    data: ctx.data,
    batches: config.taylorBatches,
    batchSize: config.finetune.batchSize,
    seed: config.seed,
    movement: ctx.movement,
    norm: config.norm,
    task: config.task,
    loss: config.finetune.loss,
  });
  // Already-pruned weights rank below everything so later rounds only grow the pruned set.
  const ranked = weights.map((w) => {
    const s = Float32Array.from(scores.get(w.weightName) as Float32Array);
    const prev = ctx.masks?.get(w.weightName);
    if (prev) {
      const m = prev.dataSync();
      for (let i = 0; i < s.length; i++) if (m[i] === 0) s[i] = -Infinity;
    }
    return s;
  });

  const keeps: Uint8Array[] = new Array(weights.length);
  if (config.granularity === 'nm') {
    const { n, m } = config.nm ?? { n: 2, m: 4 };
    weights.forEach((w, i) => {
      if (w.shape[w.inAxis] % m !== 0) {
        throw new ConfigError(`nm: M=${m} does not divide the input size ${w.shape[w.inAxis]} of layer "${w.layer}"`);
      }
      keeps[i] = nmMask(ranked[i], w.shape, w.inAxis, n, m);
    });
  } else {
    // Schedules ramp per-layer overrides in proportion to the global target.
    const scale = config.sparsity > 0 ? target / config.sparsity : 1;
    const pooled: number[] = [];
    weights.forEach((w, i) => {
      const own = config.perLayer?.[w.layer];
      if (own !== undefined) keeps[i] = pruneLowest(ranked[i], Math.round(Math.min(own * scale, own) * ranked[i].length));
      else if (config.scope === 'layer') keeps[i] = pruneLowest(ranked[i], Math.round(target * ranked[i].length));
      else pooled.push(i);
    });
    if (pooled.length > 0) {
      const total = pooled.reduce((a, i) => a + ranked[i].length, 0);
      const kept = pruneLowestGlobal(pooled.map((i) => ranked[i]), Math.round(target * total));
      pooled.forEach((i, j) => (keeps[i] = kept[j]));
    }
    weights.forEach((w, i) => {
      if (countPruned(keeps[i]) === keeps[i].length) {
        throw new ConfigError(
          `sparsity ${target} would prune every weight of layer "${w.layer}"; use method lamp, scope layer, or ignore it`,
        );
      }
    });
  }

  const masks = new Map<string, tf.Tensor>();
  const steps: MaskStep[] = [];
  let zeros = 0;
  let total = 0;
  weights.forEach((w, i) => {
    const keep = keeps[i];
    const mask = tf.tensor(Float32Array.from(keep), w.shape, 'float32');
    applyMask(w, mask);
    masks.set(w.weightName, mask);
    const pruned = countPruned(keep);
    zeros += pruned;
    total += keep.length;
    steps.push({
      kind: 'mask',
      layer: w.layer,
      weight: w.weightName,
      shape: [...w.shape],
      granularity: config.granularity === 'nm' ? 'nm' : 'unstructured',
      ...(config.granularity === 'nm' ? { nm: { ...(config.nm ?? { n: 2, m: 4 }) } } : {}),
      sparsity: pruned / keep.length,
      pruned,
      total: keep.length,
      mask: encodeMask(keep),
      scores: summarize(ranked[i], keep),
    });
  });
  const nm = config.nm ?? { n: 2, m: 4 };
  return {
    plan: {
      version: 1,
      method: config.method,
      granularity: config.granularity,
      scope: config.scope,
      targetSparsity: config.granularity === 'nm' ? 1 - nm.n / nm.m : target,
      achievedSparsity: total > 0 ? zeros / total : 0,
      steps,
    },
    masks,
  };
}

/**
 * Replaying and combining pruning plans. A plan is data (JSON); replaying its mask steps on the
 * original model multiplies the same kernels by the same masks, so the pruned weights come out
 * bit-identical to the run that produced it (on the same backend).
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { decodeMask } from './bitset';
import type { MaskStep, PlanStep, PruningPlan } from './types';
import { applyMask } from './unstructured';
import { prunableWeights } from './weights';

function isMaskStep(s: PlanStep): s is MaskStep {
  return s.kind === 'mask';
}

/** The keep-mask of one step as a tensor (caller disposes); ConfigError when the encoding is damaged. */
export function maskTensor(step: MaskStep): tf.Tensor {
  const keep = decodeMask(step.mask, step.total);
  if (!keep) throw new ConfigError(`plan step for ${step.weight}: mask is not a base64 bitset of ${step.total} elements`);
  return tf.tensor(Float32Array.from(keep), step.shape, 'float32');
}

/**
 * Replays the plan's mask steps on `model` in place (in order; later rounds include earlier ones).
 * Structured steps are not replayed here: they rebuild the model (see structured pruning).
 * @example applyPlan(originalModel, JSON.parse(storedPlanJson))
 */
export function applyPlan(model: tf.LayersModel, plan: PruningPlan): void {
  if (plan?.version !== 1 || !Array.isArray(plan.steps)) throw new ConfigError('plan must be a version 1 pruning plan with steps');
  // By layer name: variable names get a suffix when a model is loaded twice in one process.
  const byLayer = new Map(prunableWeights(model).map((w) => [w.layer, w.variable]));
  for (const step of plan.steps) {
    if (!isMaskStep(step)) {
      throw new ConfigError(`plan step of kind "${step.kind}" cannot be replayed by applyPlan; structured steps rebuild the model`);
    }
    const v = byLayer.get(step.layer);
    if (!v) throw new ConfigError(`plan names layer "${step.layer}" (weight ${step.weight}), which has no prunable kernel in the model`);
    const shape = v.shape.map((d) => d ?? 0);
    if (shape.join(',') !== step.shape.join(',')) {
      throw new ConfigError(`plan step for ${step.weight}: shape [${step.shape}] does not match the model's [${shape}]`);
    }
    const mask = maskTensor(step);
    applyMask(v, mask);
    mask.dispose();
  }
}

/** Keep-masks in force after the plan, keyed by `model`'s own weight names (caller disposes). */
export function masksFromPlan(model: tf.LayersModel, plan: PruningPlan): Map<string, tf.Tensor> {
  const last = new Map<string, MaskStep>();
  for (const s of plan.steps) if (isMaskStep(s)) last.set(s.layer, s);
  const out = new Map<string, tf.Tensor>();
  for (const w of prunableWeights(model)) {
    const step = last.get(w.layer);
    if (step) out.set(w.weightName, maskTensor(step));
  }
  return out;
}

/** Appends the steps of `next` (a later round) to `plan`. */
export function appendPlan(plan: PruningPlan | undefined, next: PruningPlan): PruningPlan {
  if (!plan) return next;
  return { ...next, steps: [...plan.steps, ...next.steps] };
}

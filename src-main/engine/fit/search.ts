/**
 * Fit to budget: find per-layer structured pruning ratios (or, where the runtime reads sparse
 * float32 weights, an unstructured LAMP sparsity) plus a numeric type that make a model meet every
 * budget of a device profile, losing as little accuracy as possible. Candidates are pruned
 * one-shot (no training), really exported and checked; fine-tuning the winner is the caller's job
 * (the run machinery), and replaying the same per-layer ratios with the same criterion removes the
 * same channels, so the fine-tuned model has exactly the size and arena the search measured.
 */
import type * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../common/errors';
import type { ConstraintName, FitReport, NumericType, Profile } from '../../common/profiles';
import type { DataSplit } from '../data';
import type { Task } from '../task';
import { sensitivityScan } from '../analyze/sensitivity';
import { buildDependencyGraph } from '../graph/depgraph';
import { evaluate } from '../measure';
import { cloneModel } from '../finetune/clone';
import { validatePruneConfig } from '../prune/config';
import { pruneStructured } from '../prune/structured';
import { pruneUnstructured } from '../prune/unstructured';
import { checkFit, formatFor, numericTypesFor, tfjsQuantFor, tfliteQuantFor } from './check';
import type { Allocation, FitCandidate, FitBinding } from '../../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { Allocation, FitCandidate, FitBinding };

export interface FitSearchOptions {
  /** Representative inputs for int8 calibration. */
  calibration?: Float32Array;
  /** Samples that rank candidates by accuracy (the least loss wins). Without it, the least pruning wins. */
  validation?: DataSplit;
  /**
   * What the model predicts. A regressor's candidates are ranked by R² on the validation samples
   * (in `accuracy`): the least error increase wins, as the least accuracy loss does for a classifier.
   */
  task?: Task;
  /** Validation samples used per candidate. Default 512. */
  evalLimit?: number;
  /** Pruning levels tried, ascending. Default 0.1 ... 0.9. */
  levels?: number[];
  /** How channels are shared out among layers at a level. Default uniform + sensitivity (with data) or global. */
  allocations?: Exclude<Allocation, 'none' | 'unstructured'>[];
  /** Bisection steps between the last failing and the first fitting level. Default 2. */
  refine?: number;
  /** Unstructured sparsities tried when the runtime reads sparse float32 weights (DENSIFY). */
  unstructured?: number[];
  /** Numeric types tried; default every type the profile allows (preferred first). */
  numericTypes?: NumericType[];
  signal?: AbortSignal;
  onCandidate?: (c: FitCandidate) => void;
}

export interface FitPlan {
  profileId: string;
  feasible: boolean;
  /** Why nothing can fit, decided before any long work; null when feasible. */
  reason: string | null;
  /** The unpruned model in the profile's preferred numeric type. */
  baseline: FitReport;
  baselineAccuracy: number | null;
  candidates: FitCandidate[];
  best: FitCandidate | null;
  /** Constraints the unpruned model fails (what forced pruning/quantization), or the tightest ones. */
  binding: FitBinding[];
  /** Raw prune config (RunConfig.prune, without finetune) that replays `best`. */
  pruneConfig: Record<string, unknown> | null;
  /** Export request that produces the file the search measured. */
  export: { format: 'tflite' | 'tfjs'; quant: string } | null;
}

const DEFAULT_LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/** Producer layers of prunable channel groups (what perLayer may name). */
function prunableProducers(model: tf.LayersModel): string[][] {
  return buildDependencyGraph(model)
    .groups.filter((g) => !g.fixed && g.producers.length > 0 && g.refusals.length === 0 && g.size > 1)
    .map((g) => [...g.producers]);
}

/**
 * Per-layer multipliers from a sensitivity scan: layers whose accuracy drops less when pruned take
 * more (Han et al. 2015 use the same curves to pick per-layer thresholds). factor = clamp((mean
 * drop + eps) / (drop + eps), 0.5, 1.5).
 */
async function sensitivityFactors(model: tf.LayersModel, split: DataSplit, limit: number, producers: string[][], task?: Task): Promise<Map<string, number>> {
  const layers = producers.flat();
  const report = await sensitivityScan(model, split, { sparsities: [0.5], limit, layers, task });
  const drop = new Map(report.rows.map((r) => [r.layer, Math.max(0, r.drop)]));
  const mean = layers.reduce((a, l) => a + (drop.get(l) ?? 0), 0) / Math.max(1, layers.length);
  const eps = 0.01;
  return new Map(layers.map((l) => [l, Math.min(1.5, Math.max(0.5, (mean + eps) / ((drop.get(l) ?? mean) + eps)))]));
}

/**
 * Searches the smallest pruning per (numeric type, allocation) that fits, and returns the candidate
 * with the highest one-shot validation accuracy (then the least pruning, then the preferred type).
 *
 * Feasibility is decided first, cheaply: a type whose ops the runtime lacks is dropped; if no type
 * is left, or if even the largest level with the smallest type misses the RAM or storage budget,
 * the plan says so (`feasible: false`, `reason`) without trying anything else.
 *
 * @example
 * const plan = await searchFit(model, builtinProfile('mcu-cortex-m4')!, { calibration, validation: data.test });
 * plan.feasible ? plan.pruneConfig : plan.reason
 */
export async function searchFit(model: tf.LayersModel, profile: Profile, opts: FitSearchOptions = {}): Promise<FitPlan> {
  const levels = [...(opts.levels ?? DEFAULT_LEVELS)].sort((a, b) => a - b);
  const types = opts.numericTypes ?? numericTypesFor(profile);
  const evalLimit = opts.evalLimit ?? 512;
  const checkCancel = (): void => {
    if (opts.signal?.aborted) throw new CancelledError('fit search cancelled');
  };
  const candidates: FitCandidate[] = [];
  const accuracyOf = async (m: tf.LayersModel): Promise<number | null> =>
    opts.validation ? (await evaluate(m, opts.validation, { limit: evalLimit, confusion: false, task: opts.task })).accuracy : null;
  const baselineAccuracy = await accuracyOf(model);

  const record = (report: FitReport, allocation: Allocation, level: number, perLayer: Record<string, number>, accuracy: number | null): FitCandidate => {
    const c: FitCandidate = {
      index: candidates.length,
      numericType: report.numericType,
      allocation,
      level,
      perLayer,
      fits: report.fits,
      failed: report.constraints.filter((k) => !k.passed).map((k) => k.constraint),
      sizeBytes: profile.storageMeasure === 'gzip' ? report.gzipBytes : report.sizeBytes,
      margins: Object.fromEntries(report.constraints.map((k) => [k.constraint, k.marginFraction])) as FitCandidate['margins'],
      arenaBytes: report.arena?.totalBytes ?? null,
      params: report.params,
      macs: report.macs,
      latencyEstimateMs: report.latency.estimateMs,
      accuracy,
    };
    candidates.push(c);
    opts.onCandidate?.(c);
    return c;
  };

  // 1. The unpruned model in every type: what fails, and which types the runtime can run at all.
  const baselines = new Map<NumericType, FitReport>();
  for (const t of types) {
    checkCancel();
    const { report } = await checkFit(model, profile, { numericType: t, calibration: opts.calibration });
    baselines.set(t, report);
    record(report, 'none', 0, {}, report.fits ? baselineAccuracy : null);
  }
  const baseline = baselines.get(types[0]) ?? (await checkFit(model, profile, { calibration: opts.calibration })).report;
  const binding: FitBinding[] = baseline.constraints.filter((c) => !c.passed).map((c) => ({ constraint: c.constraint, detail: c.detail }));
  const plan = (p: Partial<FitPlan>): FitPlan => ({
    profileId: profile.id,
    feasible: false,
    reason: null,
    baseline,
    baselineAccuracy,
    candidates,
    best: null,
    binding,
    pruneConfig: null,
    export: null,
    ...p,
  });

  if (types.length === 0) return plan({ reason: `profile ${profile.id} allows no numeric type the ${formatFor(profile)} exporter produces` });
  const runnable = types.filter((t) => baselines.get(t)!.constraints.find((c) => c.constraint === 'ops')!.passed);
  if (runnable.length === 0) {
    const ops = baseline.unsupportedOps.map((u) => `${u.layer} (${u.className}): ${u.ops.join(', ') || u.reason}`).join('; ');
    return plan({ reason: `pruning cannot remove an op: the ${profile.runtime} runtime of ${profile.id} does not support ${ops}` });
  }

  // 2. Early infeasibility: the most pruning we allow, in the smallest runnable type.
  const producers = prunableProducers(model);
  const smallest = [...runnable].sort((a, b) => (baselines.get(a)!.sizeBytes ?? Infinity) - (baselines.get(b)!.sizeBytes ?? Infinity))[0];
  const maxLevel = levels[levels.length - 1] ?? 0;
  const uniform = (level: number): Record<string, number> => Object.fromEntries(producers.flat().map((p) => [p, level]));
  const pruneAt = async (perLayer: Record<string, number>, scope: 'layer' | 'global' = 'layer', level = 0) =>
    pruneStructured(model, scope === 'global' ? { sparsity: level, scope } : { sparsity: 0, perLayer, scope });
  {
    checkCancel();
    const extreme = producers.length > 0 && maxLevel > 0 ? await pruneAt(uniform(maxLevel)) : undefined;
    try {
      const { report } = await checkFit(extreme?.model ?? model, profile, { numericType: smallest, calibration: opts.calibration });
      const hard = report.constraints.filter((c) => !c.passed && (c.constraint === 'ram' || c.constraint === 'storage' || c.constraint === 'latency'));
      if (hard.length > 0) {
        const how = extreme ? `even with ${Math.round(100 * maxLevel)} % of the channels of every prunable layer removed and ${smallest} weights` : `the model has no prunable channels and, in ${smallest},`;
        return plan({ reason: `nothing can fit ${profile.id}: ${how}: ${hard.map((c) => `${c.constraint}: ${c.detail}`).join('; ')}` });
      }
    } finally {
      extreme?.model.dispose();
    }
  }

  // 3. Search: per type and allocation, the smallest level that fits.
  const allocations = opts.allocations ?? (opts.validation ? (['uniform', 'sensitivity'] as const) : (['uniform', 'global'] as const));
  const factors = allocations.includes('sensitivity') && opts.validation ? await sensitivityFactors(model, opts.validation, Math.min(evalLimit, 256), producers, opts.task) : undefined;
  const tried = new Map<string, boolean>();
  /** Prunes at one level, checks, records; true when it fits. */
  const tryLevel = async (t: NumericType, allocation: Exclude<Allocation, 'none' | 'unstructured'>, level: number): Promise<boolean | undefined> => {
    checkCancel();
    const perLayer =
      allocation === 'sensitivity' && factors
        ? Object.fromEntries(producers.flat().map((p) => [p, Math.min(maxLevel, level * (factors.get(p) ?? 1))]))
        : uniform(level);
    const key = `${t} ${JSON.stringify(perLayer)}`;
    // Sensitivity factors of 1 repeat the uniform split: reuse that outcome instead of re-exporting.
    if (allocation !== 'global' && tried.has(key)) return tried.get(key);
    const pruned = await pruneAt(perLayer, allocation === 'global' ? 'global' : 'layer', level);
    try {
      // What was actually removed per group: the run replays these exact ratios.
      const removed: Record<string, number> = {};
      for (const g of pruned.plan.groups) for (const p of g.producers) removed[p] = g.removed.length / g.channels;
      const { report } = await checkFit(pruned.model, profile, { numericType: t, calibration: opts.calibration });
      const accuracy = report.fits ? await accuracyOf(pruned.model) : null;
      const c = record(report, allocation, level, removed, accuracy);
      tried.set(key, c.fits);
      return c.fits;
    } finally {
      pruned.model.dispose();
    }
  };
  for (const t of runnable) {
    if (baselines.get(t)!.fits) continue;
    for (const allocation of allocations) {
      if (allocation === 'sensitivity' && !factors) continue;
      let below = 0;
      for (const level of levels) {
        if (await tryLevel(t, allocation, level)) {
          // Bisect between the last level that failed and the first that fits: less pruning, less loss.
          let hi = level;
          for (let i = 0; i < (opts.refine ?? 2) && hi - below > 0.02; i++) {
            const mid = Math.round(((below + hi) / 2) * 1000) / 1000;
            if (await tryLevel(t, allocation, mid)) hi = mid;
            else below = mid;
          }
          break;
        }
        below = level;
      }
    }
  }

  // Unstructured (LAMP, global) shrinks the file, not the arena: in float32 .tflite files with sparse
  // CSR weights (the runtime needs DENSIFY), or in any file measured gzipped (zeros compress).
  const sparsities = opts.unstructured ?? [0.5, 0.7, 0.8, 0.9, 0.95];
  const sparseType: NumericType | undefined =
    profile.storageMeasure === 'gzip'
      ? runnable[0]
      : runnable.includes('float32') && profile.supportedOps.includes('DENSIFY') && formatFor(profile) === 'tflite'
        ? 'float32'
        : undefined;
  if (sparseType && !baselines.get(sparseType)!.fits) {
    for (const sparsity of sparsities) {
      checkCancel();
      const clone = await cloneModel(model);
      try {
        const res = await pruneUnstructured(clone, validatePruneConfig({ method: 'lamp', granularity: 'unstructured', scope: 'global', sparsity }, clone));
        for (const m of res.masks.values()) m.dispose();
        const { report } = await checkFit(clone, profile, { numericType: sparseType, calibration: opts.calibration });
        const accuracy = report.fits ? await accuracyOf(clone) : null;
        if (record(report, 'unstructured', sparsity, {}, accuracy).fits) break;
      } finally {
        clone.dispose();
      }
    }
  }

  const fitting = candidates.filter((c) => c.fits);
  if (fitting.length === 0) {
    return plan({ reason: `no candidate up to ${Math.round(100 * maxLevel)} % pruning fits ${profile.id}; failed: ${[...new Set(candidates.flatMap((c) => c.failed))].join(', ')}` });
  }
  const prunedFraction = (c: FitCandidate): number => (c.allocation === 'unstructured' ? c.level : 1 - c.params / (baseline.params || 1));
  fitting.sort(
    (a, b) =>
      (b.accuracy ?? 0) - (a.accuracy ?? 0) ||
      prunedFraction(a) - prunedFraction(b) ||
      types.indexOf(a.numericType) - types.indexOf(b.numericType),
  );
  const best = fitting[0];
  if (binding.length === 0) {
    // Nothing failed unpruned: report the tightest budget of the winner instead.
    const tight = (Object.entries(best.margins) as [ConstraintName, number | null][])
      .filter(([k, m]) => m !== null && (k === 'storage' || k === 'ram' || k === 'latency'))
      .sort((a, b) => (a[1] ?? 0) - (b[1] ?? 0))[0];
    if (tight) binding.push({ constraint: tight[0], detail: `the unpruned model already fits; tightest margin ${(100 * (tight[1] ?? 0)).toFixed(1)} %` });
  }
  const format = formatFor(profile);
  return plan({
    feasible: true,
    best,
    pruneConfig:
      best.allocation === 'unstructured'
        ? { method: 'lamp', granularity: 'unstructured', scope: 'global', sparsity: best.level, schedule: { kind: 'oneshot' } }
        : { method: 'magnitude', granularity: 'structured', scope: 'layer', sparsity: 0, perLayer: best.perLayer, schedule: { kind: 'oneshot' } },
    export: { format, quant: format === 'tfjs' ? tfjsQuantFor(best.numericType) : tfliteQuantFor(best.numericType) },
  });
}

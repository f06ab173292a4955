/**
 * One pruning run for unstructured and N:M granularity: the schedule decides when and how much,
 * pruneUnstructured decides which weights, finetuneMasked recovers accuracy while keeping masks.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import type { Dataset } from '../data';
import { cloneModel } from '../finetune/clone';
import { batchesPerEpoch, finetuneMasked, splitValidation, type Divergence, type EpochRecord, type FinetuneResult } from '../finetune/trainer';
import { outputIsProbabilities } from '../finetune/loss';
import { QatForward, qatUnsupportedReason } from '../finetune/qat';
import { makeSchedule } from '../schedule';
import { buildDependencyGraph } from '../graph/depgraph';
import { validatePruneConfig } from './config';
import { checkPrunable, checkStructuredResult, checkUnstructuredResult } from './feasibility';
import { appendPlan } from './plan';
import { pruneStructured, type StructuredReport } from './structured';
import type { PruneConfig, PruneProgress, PruningPlan } from './types';
import { pruneUnstructured, targetWeights } from './unstructured';

export interface RunPruningOptions {
  onProgress?: (p: PruneProgress) => void;
  signal?: AbortSignal;
  /** Distillation teacher; defaults to a copy of the model before pruning when `finetune.distill` is set. */
  teacher?: tf.LayersModel;
}

export interface RunPruningResult {
  /**
   * Unstructured / N:M: the same model object, pruned and fine-tuned in place.
   * Structured: a new, physically smaller model; the input model is left unchanged.
   */
  model: tf.LayersModel;
  plan: PruningPlan;
  history: EpochRecord[];
  stoppedEarly: boolean;
  /** Structured runs: parameters and MACs before and after, over all rounds. */
  structured?: StructuredReport;
  /**
   * What ran the fine-tuning steps, one entry per fine-tuning call (structured runs fine-tune per
   * round): the native step's label or why the tfjs step ran instead, data-parallel shards, and
   * whether batches were split into micro-batches to fit memory. Empty when nothing was trained.
   */
  training: TrainingRecord[];
  /**
   * Fine-tuning diverged (NaN or exploding loss): it stopped there and the model holds the best
   * weights seen. The result is not a usable run; the caller records it as failed, with why.
   */
  diverged?: Divergence;
}

/** How one fine-tuning call ran (from FinetuneResult), recorded with the run so it can be replayed. */
export interface TrainingRecord {
  path: 'native' | 'tfjs';
  note?: string;
  shards: number;
  shardsNote?: string;
  microBatch: number;
  memoryNote?: string;
  /** Set for the quantization-aware fine-tuning (fake int8, masks frozen) that follows pruning. */
  qat?: { epochs: number; learningRate: number; momentum: number; weights: 'per-channel' | 'per-tensor'; activationPoints: number };
}

function trainingRecord(r: FinetuneResult): TrainingRecord {
  return {
    path: r.fused.used ? 'native' : 'tfjs',
    ...(r.fused.note ? { note: r.fused.note } : {}),
    shards: r.parallel.shards,
    ...(r.parallel.note ? { shardsNote: r.parallel.note } : {}),
    microBatch: r.memory.microBatch,
    ...(r.memory.note ? { memoryNote: r.memory.note } : {}),
  };
}

interface QatPhaseOptions {
  masks: Map<string, tf.Tensor>;
  validation?: Dataset['train'];
  signal?: AbortSignal;
  seed: number;
  sparsity: () => number;
  onProgress?: (p: PruneProgress) => void;
  /** Epochs already trained (progress and history count on from there). */
  epochOffset: number;
}

/**
 * The quantization-aware epochs after pruning (config.finetune.qat): the masks as they are now,
 * frozen (no re-pruning), the tfjs step with the fake-quantized forward pass of ../finetune/qat.ts.
 * A model the fake-quantized pass cannot run (branches, functional) is refused before any work.
 */
async function qatPhase(
  model: tf.LayersModel,
  train: Dataset['train'],
  ft: PruneConfig['finetune'],
  o: QatPhaseOptions,
): Promise<{ result: FinetuneResult; record: TrainingRecord; history: EpochRecord[] }> {
  const q = ft.qat as NonNullable<PruneConfig['finetune']['qat']>;
  const forward = new QatForward(model, q, outputIsProbabilities(model));
  try {
    const result = await finetuneMasked(model, train, { ...ft, epochs: q.epochs, learningRate: q.learningRate, earlyStopping: undefined, distill: undefined }, {
      masks: o.masks,
      validation: o.validation,
      signal: o.signal,
      seed: o.seed + 7919,
      sparsity: o.sparsity,
      qat: forward,
      onProgress: o.onProgress && ((p) => o.onProgress?.({ ...p, epoch: p.epoch + o.epochOffset })),
    });
    const record: TrainingRecord = {
      ...trainingRecord(result),
      qat: { epochs: q.epochs, learningRate: q.learningRate, momentum: q.momentum, weights: q.weights, activationPoints: forward.rangesNow().size },
    };
    return { result, record, history: result.history.map((h) => ({ ...h, epoch: h.epoch + o.epochOffset })) };
  } finally {
    forward.dispose();
  }
}

/** Refuses QAT for a model its layer-by-layer forward pass cannot run, before any work. */
function checkQat(model: tf.LayersModel, config: PruneConfig): void {
  if (!config.finetune.qat) return;
  const why = qatUnsupportedReason(model);
  if (why) throw new ConfigError(`finetune.qat: ${why}`);
}

function maskSparsity(masks: Map<string, tf.Tensor>): number {
  let zeros = 0;
  let total = 0;
  for (const m of masks.values()) {
    const d = m.dataSync();
    for (let i = 0; i < d.length; i++) if (d[i] === 0) zeros++;
    total += d.length;
  }
  return total > 0 ? zeros / total : 0;
}

/**
 * Prunes and fine-tunes `model` in place on `dataset.train` following `config.schedule`:
 * oneshot prunes before training; iterative prunes at the start of each of k rounds; poly re-prunes
 * every `frequency` steps along the Zhu & Gupta curve. If training stops early before the schedule
 * reached the final sparsity, a last prune brings it there. Throws CancelledError on abort,
 * NothingToPruneError (before any work) when nothing in the model can be pruned as asked, and
 * PruneShortfallError when the result reaches under half of the target (see feasibility.ts).
 * @example const { plan, history } = await runPruning(model, dataset, validatePruneConfig({ sparsity: 0.9 }, model))
 */
export async function runPruning(
  model: tf.LayersModel,
  dataset: Dataset,
  rawConfig: PruneConfig,
  opts: RunPruningOptions = {},
): Promise<RunPruningResult> {
  const config = validatePruneConfig(rawConfig, model);
  checkPrunable(model, config);
  checkQat(model, config);
  if (config.granularity === 'structured') return runStructured(model, dataset, config, opts);
  const ft = config.finetune;
  const teacher = ft.distill && ft.epochs > 0 ? (opts.teacher ?? (await cloneModel(model))) : undefined;
  const ownsTeacher = teacher !== undefined && teacher !== opts.teacher;
  const { train, validation } = ft.earlyStopping
    ? splitValidation(dataset.train, ft.earlyStopping.validationFraction, config.seed)
    : { train: dataset.train, validation: undefined };
  const perEpoch = batchesPerEpoch(train.size, ft);
  const totalSteps = ft.epochs * perEpoch;
  const nm = config.nm ?? { n: 2, m: 4 };
  const finalSparsity = config.granularity === 'nm' ? 1 - nm.n / nm.m : config.sparsity;
  // N:M is a fixed pattern, not a ratio to ramp: it is applied once, before fine-tuning.
  const schedule = makeSchedule(config.granularity === 'nm' ? { kind: 'oneshot' } : config.schedule, finalSparsity, totalSteps);

  // One map for the whole run: the trainer reads it before every step, re-pruning refills it.
  const masks = new Map<string, tf.Tensor>();
  let plan: PruningPlan | undefined;
  let pruned = -1;
  let sparsity = 0;
  const movement =
    config.method === 'movement'
      ? new Map(targetWeights(model, config).map((w) => [w.weightName, tf.zerosLike(w.variable.read())]))
      : undefined;
  let trained = false;

  const prune = async (target: number, step: number): Promise<void> => {
    const movementArrays = movement && trained ? new Map([...movement].map(([k, t]) => [k, t.dataSync() as Float32Array])) : undefined;
    const res = await pruneUnstructured(model, config, { data: train, movement: movementArrays, masks, sparsity: target });
    for (const m of masks.values()) m.dispose();
    masks.clear();
    for (const [k, v] of res.masks) masks.set(k, v);
    plan = appendPlan(plan, res.plan);
    pruned = target;
    sparsity = maskSparsity(masks);
    const epoch = Math.min(ft.epochs, Math.floor(step / Math.max(1, perEpoch)));
    opts.onProgress?.({ phase: 'prune', epoch, batch: step - epoch * perEpoch, batches: perEpoch, loss: NaN, accuracy: NaN, sparsity });
  };

  let history: EpochRecord[] = [];
  const training: TrainingRecord[] = [];
  let stoppedEarly = false;
  let diverged: Divergence | undefined;
  try {
    if (totalSteps === 0) {
      await prune(finalSparsity, 0);
    } else {
      const result = await finetuneMasked(model, train, ft, {
        masks,
        teacher,
        validation,
        signal: opts.signal,
        seed: config.seed,
        movement,
        sparsity: () => sparsity,
        onProgress: opts.onProgress,
        beforeStep: async (step) => {
          // From step 1 on, movement scores have seen training; before it, the criterion warms up itself.
          trained = step > 0;
          const s = schedule(step);
          if (s.prune && s.sparsity > pruned) await prune(s.sparsity, step);
        },
        // Only pruning steps read and change weights and masks.
        prunesAt: (step) => {
          const s = schedule(step);
          return s.prune && s.sparsity > pruned;
        },
      });
      history = result.history;
      stoppedEarly = result.stoppedEarly;
      diverged = result.diverged;
      training.push(trainingRecord(result));
      if (pruned < finalSparsity) await prune(finalSparsity, result.steps);
    }
    checkUnstructuredResult((plan as PruningPlan).achievedSparsity, finalSparsity);
    if (ft.qat && !diverged) {
      const q = await qatPhase(model, train, ft, { masks, validation, signal: opts.signal, seed: config.seed, sparsity: () => sparsity, onProgress: opts.onProgress, epochOffset: history.length });
      history = [...history, ...q.history];
      training.push(q.record);
      diverged = q.result.diverged;
    }
  } finally {
    for (const m of masks.values()) m.dispose();
    for (const t of movement?.values() ?? []) t.dispose();
    if (ownsTeacher) teacher?.dispose();
  }
  return { model, plan: plan as PruningPlan, history, stoppedEarly, training, ...(diverged ? { diverged } : {}) };
}

/**
 * Structured runs: each round removes units/filters physically (pruneStructured) and fine-tunes the
 * smaller model. Iterative rounds remove 1 - (1 - s)^(1/k) of the remaining channels each, so k
 * rounds compound to s (up to each group's rounding).
 */
async function runStructured(
  original: tf.LayersModel,
  dataset: Dataset,
  config: PruneConfig,
  opts: RunPruningOptions,
): Promise<RunPruningResult> {
  if (config.schedule.kind === 'poly') {
    throw new ConfigError('schedule poly re-prunes every few steps; structured pruning rebuilds the model, use oneshot or iterative');
  }
  const ft = config.finetune;
  const rounds = config.schedule.kind === 'iterative' ? config.schedule.rounds : 1;
  const perRound = 1 - Math.pow(1 - config.sparsity, 1 / rounds);
  const { train, validation } = ft.earlyStopping
    ? splitValidation(dataset.train, ft.earlyStopping.validationFraction, config.seed)
    : { train: dataset.train, validation: undefined };
  // The original is never modified, so it is the teacher as it is.
  const teacher = ft.distill ? (opts.teacher ?? original) : undefined;
  const epochsPerRound = Math.floor(ft.epochs / rounds);
  let model = original;
  const steps: PruningPlan['steps'] = [];
  const history: EpochRecord[] = [];
  const training: TrainingRecord[] = [];
  let stoppedEarly = false;
  let report: StructuredReport | undefined;
  let keptUnits = 1;
  let epochOffset = 0;
  let diverged: Divergence | undefined;
  const graph = buildDependencyGraph(original);
  try {
    for (let r = 0; r < rounds; r++) {
      const res = await pruneStructured(model, {
        sparsity: perRound,
        perLayer: config.perLayer
          ? Object.fromEntries(Object.entries(config.perLayer).map(([k, v]) => [k, 1 - Math.pow(1 - v, 1 / rounds)]))
          : undefined,
        ignore: config.ignore,
        scope: config.scope,
        criterion: config.method,
        norm: config.norm,
        roundTo: config.roundTo,
        importance: { data: train, batches: config.taylorBatches, batchSize: ft.batchSize, seed: config.seed, task: config.task, loss: ft.loss },
        seed: config.seed,
      });
      if (model !== original) model.dispose();
      model = res.model;
      steps.push(res.plan);
      report = report ? { ...res.report, paramsBefore: report.paramsBefore, macsBefore: report.macsBefore } : res.report;
      keptUnits *= 1 - res.report.unitsRemovedFraction;
      const units = 1 - keptUnits;
      // Checked before this round's fine-tuning: a round that removed (almost) nothing is not worth training.
      checkStructuredResult(report, 1 - Math.pow(1 - perRound, r + 1), graph, config);
      opts.onProgress?.({ phase: 'prune', epoch: epochOffset, batch: 0, batches: 0, loss: NaN, accuracy: NaN, sparsity: units });
      const epochs = r === rounds - 1 ? ft.epochs - epochsPerRound * (rounds - 1) : epochsPerRound;
      if (epochs === 0) continue;
      const result = await finetuneMasked(model, train, { ...ft, epochs }, {
        masks: new Map(),
        teacher,
        validation,
        signal: opts.signal,
        seed: config.seed + r,
        sparsity: () => units,
        // Epochs count across rounds, as they do for unstructured runs.
        onProgress: opts.onProgress && ((p) => opts.onProgress?.({ ...p, epoch: p.epoch + epochOffset })),
      });
      epochOffset += epochs;
      history.push(...result.history.map((h) => ({ ...h, epoch: epochOffset - epochs + h.epoch })));
      stoppedEarly ||= result.stoppedEarly;
      training.push(trainingRecord(result));
      if (result.diverged) {
        diverged = { ...result.diverged, epoch: result.diverged.epoch + epochOffset - epochs };
        break;
      }
    }
    if (ft.qat && !diverged) {
      const units = 1 - keptUnits;
      const q = await qatPhase(model, train, ft, { masks: new Map(), validation, signal: opts.signal, seed: config.seed, sparsity: () => units, onProgress: opts.onProgress, epochOffset });
      history.push(...q.history);
      training.push(q.record);
      if (q.result.diverged) diverged = { ...q.result.diverged, epoch: q.result.diverged.epoch + epochOffset };
    }
  } catch (err) {
    if (model !== original) model.dispose();
    throw err;
  }
  const plan: PruningPlan = {
    version: 1,
    method: config.method,
    granularity: 'structured',
    scope: config.scope,
    targetSparsity: config.sparsity,
    // For structured runs, as for the target: the fraction of units/filters removed.
    achievedSparsity: 1 - keptUnits,
    steps,
  };
  return { model, plan, history, stoppedEarly, structured: report, training, ...(diverged ? { diverged } : {}) };
}

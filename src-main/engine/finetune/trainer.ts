/**
 * Fine-tuning that keeps masks. A custom loop (variableGrads + applyGradients) instead of model.fit,
 * because masks must hold after *every* optimizer step: gradients of pruned weights are zeroed before
 * the update (so Adam's moments for them stay zero and cannot resurrect them) and the weights are
 * re-multiplied by their masks after it (so they are exactly zero, whatever the optimizer did).
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError, TopiaryError } from '../../common/errors';
import { bytes } from '../../common/format';
import { labelsOf, permutation, subset, type DataSplit } from '../data';
import type { FinetuneConfig, PruneProgress } from '../prune/types';
import { FusedAdam, type StepOptimizer } from './adam';
import { batchArrays, batchIndices, batchTensors, sampleShapeOf } from './batches';
import { DEFAULT_DIVERGENCE, DivergenceGuard, WeightSnapshot, type DivergenceConfig } from './divergence';
import { evaluateModel } from './evaluate';
import { fusedSpecOf, installedFusedTrainer, installFusedTrainer, type FusedTrainer, type FusedTrainerFactory } from './fused-step';
import type { QatForward } from './qat';
import { shardRanges, type GradientShards, type GradientShardsFactory } from './gradient-shards';
import { crossEntropy, distillationLoss, logitsOf, objectiveFor, outputIsProbabilities, type Objective } from './loss';
import { freeTapeOnError, GradientAccumulator, isOutOfMemory, memoryCeiling, microRanges, planTrainingBatches, splitNote, type BatchPlan } from './memory';

export interface EpochRecord {
  epoch: number;
  loss: number;
  /** Accuracy; for a regression model (cfg.task), R² of the batch (see Objective.quality). */
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
  /**
   * Data-parallel helpers (e.g. worker threads): each batch is split across them and this thread.
   * Default: the factory installed with setDefaultGradientShards, if any. Ignored (the trainer runs
   * alone, saying why in `FinetuneResult.parallel`) with distillation or non-trainable weights
   * (BatchNorm statistics would be updated in the helpers, not here).
   */
  gradientShards?: GradientShardsFactory;
  /**
   * Whole-step trainer outside tfjs (./fused-step.ts); default: the one installed with
   * setDefaultFusedTrainer, if any; false: always the tfjs step. Skipped, with the reason in
   * `FinetuneResult.fused.note`, for models it cannot describe, SGD, distillation, movement
   * scores and data-parallel helpers.
   */
  fusedTrainer?: FusedTrainerFactory | false;
  /**
   * Whether beforeStep(step) will read or change weights or masks. With a fused trainer the loop
   * copies weights out before such a step and back in after it; without this, around every step.
   */
  prunesAt?: (step: number) => boolean;
  /**
   * Bytes the backend can hold (default: the ceiling installed with memory.ts setMemoryCeiling,
   * e.g. the wasm heap's maximum). tfjs steps whose estimate does not fit run as accumulated
   * micro-batches; see ./memory.ts.
   */
  memoryCeiling?: number;
  /**
   * When training counts as diverged (./divergence.ts): a NaN/infinite loss at once, or a loss
   * above `factor` x its starting value for `patience` steps in a row. false: never stop for it.
   */
  divergence?: Partial<DivergenceConfig> | false;
  /**
   * Quantization-aware training (./qat.ts): the tfjs step runs this fake-quantized forward pass
   * instead of the model's own, and commits its moving activation ranges after every step. The
   * native fused step and data-parallel helpers have no fake quantization, so they are skipped
   * (the reason is in FinetuneResult.fused.note / parallel.note).
   */
  qat?: QatForward;
}

/** Why and where fine-tuning stopped because it diverged, and which weights the model was given back. */
export interface Divergence {
  /** 0-based epoch and batch of the step whose loss showed it. */
  epoch: number;
  batch: number;
  /** Optimizer steps completed, that one included. */
  step: number;
  reason: string;
  /** The weights the model holds now: "the end of epoch 2" or "before fine-tuning". */
  kept: string;
}

export interface FinetuneResult {
  history: EpochRecord[];
  stoppedEarly: boolean;
  steps: number;
  /** Shards each batch was split into (1: this thread alone) and, when 1 despite a factory, why. */
  parallel: { shards: number; note?: string };
  /** Whether the fused trainer ran the steps: what ran them (its label) or, when not despite a factory, why. */
  fused: { used: boolean; note?: string };
  /**
   * Samples per forward/backward pass of the tfjs step (= batchSize unless the batch was split to
   * fit the backend's memory) and, when split, what was done and why (also sent as a progress note).
   */
  memory: { microBatch: number; note?: string };
  /**
   * Set when training diverged: it stopped there, and the model holds the best weights seen (the
   * epoch with the lowest mean loss, or those from before fine-tuning), masks applied.
   */
  diverged?: Divergence;
}

let defaultShards: GradientShardsFactory | undefined;

/**
 * Installs the fused trainer used when FinetuneOptions.fusedTrainer is absent (the Node side
 * installs the native addon's; see src-main/node/native-trainer.ts). undefined removes it.
 */
export function setDefaultFusedTrainer(factory: FusedTrainerFactory | undefined): void {
  installFusedTrainer(factory);
}

/**
 * Installs the data-parallel helper factory used when FinetuneOptions.gradientShards is absent
 * (the Node side does this for TOPIARY_TRAIN_WORKERS; see src-main/node/train-workers.ts).
 * Pass undefined to go back to single-threaded training.
 * @example setDefaultGradientShards(workerGradientShards(2))
 */
export function setDefaultGradientShards(factory: GradientShardsFactory | undefined): void {
  defaultShards = factory;
}

/** Longest time between yields to the event loop, so an abort or a UI message gets through. */
const YIELD_MS = 25;

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
  const plain = objectiveFor(model, cfg.task, cfg.loss);
  const qat = opts.qat;
  const objective: Objective = qat
    ? { ...plain, forward: (m, x, training) => (m === model && training ? qat.forward(x, true) : plain.forward(m, x, training)) }
    : plain;
  const teacherProbs = opts.teacher ? outputIsProbabilities(opts.teacher) : false;
  const byName = new Map(model.trainableWeights.map((w) => [w.name, w]));
  const stepContext: StepContext = { model, cfg, opts, byName, objective, teacherProbs };
  const history: EpochRecord[] = [];
  const sparsity = opts.sparsity ?? (() => 0);
  let step = 0;
  let best = Infinity;
  let sinceBest = 0;
  let stoppedEarly = false;
  // Helpers start before the optimizer exists, so a helper that fails to start leaks nothing.
  const { shards, note } = await startShards(model, cfg, opts, probs);
  let optimizer: StepOptimizer | undefined;
  let fused: FusedTrainer | undefined;
  let fusedNote: string | undefined;
  // The fused trainer's weights are newer than the model's until pushed back.
  let dirty = false;
  const syncModel = (): void => {
    if (fused && dirty) fused.push();
    dirty = false;
  };
  let lastYield = -Infinity;
  let memory: MemoryState | undefined;
  const classes = Number(model.outputs[0].shape[1] ?? 1);
  const floor = objective.task === 'classification' && classes > 1 ? 0.1 * Math.log(classes) : 0;
  const guard = opts.divergence === false ? undefined : new DivergenceGuard({ ...DEFAULT_DIVERGENCE, floor, ...opts.divergence });
  let bestWeights: WeightSnapshot | undefined;
  let diverged: Omit<Divergence, 'kept'> | undefined;
  /** Keeps the weights of an epoch that ended calmly with the lowest mean loss so far. */
  const keepIfBest = (loss: number, label: string): void => {
    if (!guard || !guard.calm || !(loss < (bestWeights?.loss ?? Infinity))) return;
    syncModel();
    bestWeights?.dispose();
    bestWeights = WeightSnapshot.take(model, loss, label);
  };
  try {
    // FusedAdam: tf.train.adam's update in one kernel per variable instead of ~15 (see ./adam.ts).
    optimizer = cfg.optimizer === 'adam' ? new FusedAdam(cfg.learningRate) : tf.train.sgd(cfg.learningRate);
    ({ trainer: fused, note: fusedNote } = startFused(model, cfg, opts, optimizer, shards !== undefined));
    // The fused trainer and data-parallel helpers hold their own memory; the tfjs step is planned.
    if (!fused && !shards) memory = startMemory(model, cfg.batchSize, opts.memoryCeiling ?? memoryCeiling());
    // After the plan: a copy of the weights is small next to a step's activations (the plan keeps headroom).
    if (guard) bestWeights = WeightSnapshot.take(model, Infinity, 'before fine-tuning');
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const batches = batchIndices(train.size, cfg.batchSize, seed + 1000 * (epoch + 1), cfg.maxSamplesPerEpoch);
      let lossSum = 0;
      let accSum = 0;
      let seen = 0;
      for (let b = 0; b < batches.length; b++) {
        checkCancelled(opts.signal);
        if (opts.beforeStep) {
          const prunes = !opts.prunesAt || opts.prunesAt(step);
          const touches = fused !== undefined && prunes;
          if (touches) syncModel();
          await opts.beforeStep(step);
          if (touches) fused?.pull();
          // New masks raise the loss on purpose: measure explosions against the loss after them.
          if (prunes) guard?.rebase();
        }
        // Let the event loop deliver an abort (from a worker message or UI) between batches. Not
        // every batch: setTimeout(0) costs >= 1 ms in Node (~10% of a LeNet-300-100 step on wasm).
        if (performance.now() - lastYield >= YIELD_MS) {
          await new Promise<void>((r) => setTimeout(r, 0));
          lastYield = performance.now();
        }
        checkCancelled(opts.signal);
        let loss: number;
        let acc: number;
        if (fused) {
          const { x, y } = batchArrays(train, batches[b], shape);
          [loss, acc] = fused.step(x, labelsOf(y, 'the fused training step'));
          dirty = true;
        } else if (shards) {
          [loss, acc] = await parallelStep(model, optimizer, shards, train, batches[b], shape, cfg, opts, byName, probs);
        } else {
          const { x, y } = batchTensors(train, batches[b], shape);
          try {
            [loss, acc] = plannedStep(memory as MemoryState, stepContext, optimizer, x, y);
            qat?.commit();
          } finally {
            x.dispose();
            y.dispose();
          }
        }
        step++;
        lossSum += loss * batches[b].length;
        accSum += acc * batches[b].length;
        seen += batches[b].length;
        const note = memory?.unsent.splice(0).join('; ');
        opts.onProgress?.({ phase: 'batch', epoch, batch: b, batches: batches.length, loss, accuracy: acc, sparsity: sparsity(), ...(note ? { note } : {}) });
        const why = guard?.observe(loss);
        if (why) {
          diverged = { epoch, batch: b, step, reason: why };
          break;
        }
      }
      if (diverged) break;
      const record: EpochRecord = { epoch, loss: lossSum / Math.max(1, seen), accuracy: accSum / Math.max(1, seen), sparsity: sparsity() };
      if (validation) {
        syncModel();
        const v = evaluateModel(model, validation, { batchSize: Math.max(cfg.batchSize, 128), task: cfg.task, loss: cfg.loss });
        record.valLoss = v.loss;
        record.valAccuracy = v.accuracy;
      }
      history.push(record);
      keepIfBest(record.loss, `the end of epoch ${epoch + 1}, mean loss ${record.loss.toPrecision(4)}`);
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
    if (diverged && bestWeights) {
      // The diverged weights are garbage: the model gets the best ones back (and the fused
      // trainer's newer copy is dropped, not pushed).
      syncModel();
      bestWeights.restore(model, opts.masks, byName);
    }
  } finally {
    try {
      // Whatever happened, the model keeps every step that completed.
      syncModel();
    } finally {
      bestWeights?.dispose();
      fused?.dispose();
      optimizer?.dispose();
      await shards?.dispose();
    }
  }
  return {
    ...(diverged ? { diverged: { ...diverged, kept: bestWeights?.label ?? 'the last weights (no snapshot)' } } : {}),
    history,
    stoppedEarly,
    steps: step,
    parallel: { shards: shards ? shards.helpers + 1 : 1, ...(note ? { note } : {}) },
    fused: { used: fused !== undefined, ...(fusedNote ? { note: fusedNote } : fused?.label ? { note: fused.label } : {}) },
    memory: { microBatch: memory?.micro ?? cfg.batchSize, ...(memory?.notes.length ? { note: memory.notes.join('; ') } : {}) },
  };
}

/** The tfjs step's memory plan as the run goes: micro-batch size, notes, whether OOM was retried. */
interface MemoryState {
  plan: BatchPlan;
  micro: number;
  retried: boolean;
  notes: string[];
  /** Notes not yet sent with a progress event. */
  unsent: string[];
}

function startMemory(model: tf.LayersModel, batchSize: number, ceiling: number | undefined): MemoryState {
  const plan = planTrainingBatches(model, batchSize, ceiling);
  const notes = plan.note ? [plan.note] : [];
  return { plan, micro: plan.microBatch, retried: false, notes, unsent: [...notes] };
}

/** What every tfjs step of one fine-tuning run reads (the step functions take it instead of six arguments). */
interface StepContext {
  model: tf.LayersModel;
  cfg: FinetuneConfig;
  opts: FinetuneOptions;
  byName: Map<string, tf.LayerVariable>;
  objective: Objective;
  teacherProbs: boolean;
}

/**
 * One tfjs step under the memory plan: the plain step when the batch fits, else gradients
 * accumulated over micro-batches then one optimizer step (./memory.ts). If the backend still runs
 * out of memory, the step is retried once at half the micro-batch (kept for later steps);
 * a second failure is a TopiaryError naming the sizes.
 */
function plannedStep(mem: MemoryState, step: StepContext, optimizer: StepOptimizer, x: tf.Tensor, y: tf.Tensor): [number, number] {
  const n = x.shape[0];
  for (;;) {
    try {
      return freeTapeOnError(() =>
        mem.micro >= n
          ? trainStep(step, optimizer, x, y)
          : accumulatedStep(step, optimizer, x, y, mem.micro),
      );
    } catch (err) {
      if (!isOutOfMemory(err)) throw err;
      const tried = Math.min(mem.micro, n);
      if (mem.retried || tried <= 1) {
        throw new TopiaryError(
          `fine-tuning ran out of backend memory at ${tried} samples per pass (batch ${n}, estimated ~${bytes(mem.plan.estimateBytes)} at full batch): ` +
            `lower finetune.batchSize or use a smaller input size (${err instanceof Error ? err.message : String(err)})`,
          { cause: err },
        );
      }
      mem.retried = true;
      mem.micro = Math.max(1, Math.floor(tried / 2));
      const note = splitNote(step.model, n, mem.micro, mem.plan.estimateBytes, undefined, `the backend ran out of memory at ${tried} samples per pass`);
      mem.notes.push(note);
      mem.unsent.push(note);
    }
  }
}

/**
 * trainStep's update with the gradient accumulated over micro-batches of `size` (./memory.ts):
 * trainStep itself runs per micro-batch against a GradientAccumulator (no masks or movement
 * there), then masks, movement scores and the real optimizer see the summed gradient once.
 */
function accumulatedStep(step: StepContext, optimizer: StepOptimizer, x: tf.Tensor, y: tf.Tensor, size: number): [number, number] {
  const n = x.shape[0];
  const acc = new GradientAccumulator();
  const perPass: StepContext = { ...step, opts: { ...step.opts, masks: new Map(), movement: undefined } };
  let loss = 0;
  let correct = 0;
  try {
    for (const [s, e] of microRanges(n, size)) {
      const xs = tf.slice(x, s, e - s);
      const ys = tf.slice(y, s, e - s);
      acc.scale = (e - s) / n;
      try {
        const [l, a] = trainStep(perPass, acc, xs, ys);
        loss += l * acc.scale;
        correct += a * (e - s);
      } finally {
        tf.dispose([xs, ys]);
      }
    }
    applyStep(optimizer, acc.sums, step.cfg, step.opts, step.byName);
  } finally {
    acc.dispose();
  }
  return [loss, correct / n];
}

/** The fused trainer for this fine-tuning, or why the tfjs step runs instead (no note: none installed). */
function startFused(
  model: tf.LayersModel,
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
  optimizer: StepOptimizer,
  parallel: boolean,
): { trainer?: FusedTrainer; note?: string } {
  const factory = opts.fusedTrainer === false ? undefined : (opts.fusedTrainer ?? installedFusedTrainer());
  if (!factory) return {};
  if (opts.qat) return { note: 'quantization-aware training (fake int8) runs in tfjs: the native step has no fake quantization' };
  // The fused step computes softmax cross-entropy only; a regressor's MSE/MAE runs in tfjs.
  if (cfg.task === 'regression') return { note: `regression (${cfg.loss ?? 'mse'} loss) runs in tfjs: the fused step computes softmax cross-entropy only` };
  if (parallel) return { note: 'data-parallel helpers run the steps' };
  if (!(optimizer instanceof FusedAdam)) return { note: `the ${cfg.optimizer} optimizer runs in tfjs` };
  if (opts.teacher && cfg.distill) return { note: 'distillation runs in tfjs' };
  if (opts.movement) return { note: 'movement scores are accumulated in tfjs' };
  const spec = fusedSpecOf(model);
  if (typeof spec === 'string') return { note: spec };
  const { learningRate, beta1, beta2, epsilon } = optimizer;
  const made = factory(model, spec, { learningRate, beta1, beta2, epsilon }, opts.masks);
  return typeof made === 'string' ? { note: made } : { trainer: made };
}

async function startShards(
  model: tf.LayersModel,
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
  probs: boolean,
): Promise<{ shards?: GradientShards; note?: string }> {
  const factory = opts.gradientShards ?? defaultShards;
  if (!factory) return {};
  if (opts.qat) return { note: 'quantization-aware training runs in one thread (helpers have no fake quantization)' };
  if (cfg.task === 'regression') return { note: 'regression runs in one thread (helpers compute cross-entropy only)' };
  if (opts.teacher && cfg.distill) return { note: 'distillation runs in one thread (helpers have no teacher)' };
  if (model.nonTrainableWeights.length > 0) {
    return { note: `non-trainable weights (${model.nonTrainableWeights[0].name}, e.g. BatchNorm statistics) must update in one thread` };
  }
  const made = await factory({
    topology: model.toJSON(null, false) as object,
    weightShapes: model.trainableWeights.map((w) => w.shape as number[]),
    outputIsProbabilities: probs,
  });
  if (typeof made === 'string') return { note: made };
  return { shards: made };
}

/**
 * One step over `helpers + 1` shards: the helpers' shards are posted first, this thread computes
 * shard 0 meanwhile, then the batch gradient sum_k (n_k / n) * g_k goes through the usual update
 * (each shard's loss is pre-scaled by n_k / n, so the gradients just add).
 */
async function parallelStep(
  model: tf.LayersModel,
  optimizer: StepOptimizer,
  shards: GradientShards,
  train: DataSplit,
  indices: Int32Array,
  shape: number[],
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
  byName: Map<string, tf.LayerVariable>,
  probs: boolean,
): Promise<[number, number]> {
  const { x, y: targets } = train.take(indices);
  const y = labelsOf(targets, 'data-parallel fine-tuning');
  const n = y.length;
  const per = x.length / Math.max(1, n);
  const ranges = shardRanges(n, shards.helpers + 1);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  // dataSync may hand out the backend's own array (cpu): the helpers only read it.
  const weights = vars.map((v) => v.dataSync() as Float32Array);
  const remote = shards.compute(
    weights,
    ranges.slice(1).map(([s, e]) => ({ x: x.subarray(s * per, e * per), y: y.subarray(s, e), scale: (e - s) / n })),
  );
  const [s0, e0] = ranges[0];
  const n0 = e0 - s0;
  const local = tf.tidy(() => {
    const xs = tf.tensor(x.subarray(s0 * per, e0 * per), [n0, ...shape]);
    const ys = tf.tensor1d(y.subarray(s0, e0), 'int32');
    let logits: tf.Tensor2D | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const l = logitsOf(model, xs, true, probs);
      logits = tf.keep(l);
      return tf.mul(crossEntropy(l, ys), n0 / n) as tf.Scalar;
    }, vars);
    const correct = tf.sum(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), ys).toFloat());
    (logits as tf.Tensor2D).dispose();
    return { grads: vars.map((v) => tf.keep(grads[v.name])), stats: tf.keep(tf.stack([value, correct])) };
  });
  let results;
  try {
    results = await remote;
  } catch (err) {
    tf.dispose([...local.grads, local.stats]);
    throw err;
  }
  const [scaledLoss0, correct0] = local.stats.dataSync();
  return tf.tidy(() => {
    const grads: tf.NamedTensorMap = {};
    vars.forEach((v, i) => {
      let g = local.grads[i];
      for (const r of results) if (r.n > 0) g = tf.add(g, tf.tensor(r.grads[i], v.shape));
      grads[v.name] = g;
    });
    applyStep(optimizer, grads, cfg, opts, byName);
    tf.dispose([...local.grads, local.stats]);
    let lossSum = scaledLoss0 * n;
    let correct = correct0;
    for (const r of results) {
      lossSum += r.loss * r.n;
      correct += r.correct;
    }
    return [lossSum / n, correct / n] as [number, number];
  });
}

/** One tfjs step: the objective's loss (distillation for a classifier with a teacher), masked update. */
function trainStep(step: StepContext, optimizer: StepOptimizer, x: tf.Tensor, y: tf.Tensor): [number, number] {
  const { model, cfg, opts, byName, objective, teacherProbs } = step;
  return tf.tidy(() => {
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const distill = objective.task === 'classification' && opts.teacher && cfg.distill ? cfg.distill : undefined;
    const teacherLogits = distill && opts.teacher ? logitsOf(opts.teacher, x, false, teacherProbs) : undefined;
    let logits: tf.Tensor2D | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const l = objective.forward(model, x, true);
      logits = tf.keep(l);
      return teacherLogits && distill ? distillationLoss(l, teacherLogits, y as tf.Tensor1D, distill) : objective.loss(l, y);
    }, vars);
    applyStep(optimizer, grads, cfg, opts, byName);
    const acc = objective.quality(logits as tf.Tensor2D, y);
    // One read-back instead of two: each is a sync point (and a copy) on every backend.
    const [loss, accuracy] = tf.stack([value, acc]).dataSync();
    (logits as tf.Tensor2D).dispose();
    return [loss, accuracy] as [number, number];
  });
}

/** Masks the gradients, accumulates movement scores, steps the optimizer, re-applies the masks. */
function applyStep(
  optimizer: StepOptimizer,
  grads: tf.NamedTensorMap,
  cfg: FinetuneConfig,
  opts: FinetuneOptions,
  byName: Map<string, tf.LayerVariable>,
): void {
  tf.tidy(() => {
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
  });
}

/**
 * Shared pruning types: the config a run is given, the Importance interface every criterion
 * implements, and the PruningPlan that records what was decided so it can be stored and replayed.
 *
 * Unstructured and N:M pruning (masks) live in this folder; structured pruning (physical removal of
 * units/filters through the dependency graph) lives in `structured*.ts` and `../graph/`, and builds
 * on the same config, importance criteria and plan union.
 */
import type * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../data';
import type { Granularity, PruneMethod, PruneScope, RegressionLoss } from '../../common/prune-config';
import type { Task } from '../../common/contract/results';

export {
  GRANULARITIES,
  PRUNE_METHODS,
  type DistillConfig,
  type EarlyStoppingConfig,
  type FinetuneConfig,
  type Granularity,
  type PruneConfig,
  type PruneMethod,
  type PruneScope,
  type ScheduleConfig,
} from '../../common/prune-config';

/** A kernel that can be masked, found through the layer registry (prune/weights.ts). */
export interface PrunableWeight {
  /** Layer name, as in the model. */
  layer: string;
  /** Keras class name: Dense, Conv2D, DepthwiseConv2D. */
  layerClass: string;
  /** Weight name as tfjs reports it (and as it is saved), e.g. `dense_Dense1/kernel`. */
  weightName: string;
  /** The layer's variable; read it with `variable.read()`, write with `variable.write()`. */
  variable: tf.LayerVariable;
  shape: number[];
  /** Axis of the kernel that runs over the layer's inputs (N:M groups run along it). */
  inAxis: number;
  /** Axis of the kernel that indexes output units/filters (channel groups reduce onto it). */
  outAxis: number;
  /** True for the model's final layer: it may be masked, never structurally pruned. */
  isOutput: boolean;
}

/** What data-driven criteria need. Everything is optional; a criterion that lacks what it needs throws ConfigError. */
export interface ImportanceContext {
  model: tf.LayersModel;
  /** Training data for gradient-based criteria (taylor, movement warm-up). */
  data?: DataSplit;
  /** Number of batches gradient criteria accumulate over. */
  batches?: number;
  batchSize?: number;
  seed?: number;
  /** Movement scores accumulated during fine-tuning (Sanh et al. 2020), by weight name, kernel shape. */
  movement?: Map<string, Float32Array>;
  norm?: 'l1' | 'l2';
  /** The loss gradient criteria differentiate: cross-entropy (default) or the regression loss. */
  task?: Task;
  loss?: RegressionLoss;
}

/** One weight coupled to a channel group, e.g. a conv kernel's output axis or the next layer's input axis. */
export interface ChannelGroupMember {
  layer: string;
  weightName: string;
  /** The tensor (a kernel, or a BatchNorm gamma for bn-scale). */
  value: tf.Tensor;
  /** Axis of `value` that indexes the group's channels. */
  axis: number;
  /** Index of this member's first channel within the group (Concatenate offsets); default 0. */
  offset?: number;
  /** 'kernel' members contribute norms; 'bn-gamma' members are what bn-scale reads. Default 'kernel'. */
  role?: 'kernel' | 'bn-gamma';
}

/** Channels removed together (a layer's filters and everything coupled to them). */
export interface ChannelGroup {
  channels: number;
  members: ChannelGroupMember[];
}

/**
 * An importance criterion: one module per method (importance/*.ts). Higher score = more important
 * = kept. Scores are plain arrays so they cross worker boundaries and never leak tensors.
 */
export interface Importance {
  readonly method: PruneMethod;
  /** Element-wise scores for each weight (row-major, the kernel's shape), by weight name. */
  scores(weights: PrunableWeight[], ctx: ImportanceContext): Promise<Map<string, Float32Array>>;
  /**
   * Per-channel scores for a coupled group: element scores reduced over every axis but the channel
   * axis with the L1/L2 norm (`ctx.norm`, default l2) and summed across the group's members.
   */
  groupScores(group: ChannelGroup, ctx: ImportanceContext): Promise<Float32Array>;
}

/** min/max/mean of the scores a step ranked, and the score at the cut. */
export interface ScoresSummary {
  min: number;
  max: number;
  mean: number;
  /** Largest pruned score (-Infinity when nothing was pruned). */
  threshold: number;
}

/** One weight masked by unstructured or N:M pruning. */
export interface MaskStep {
  kind: 'mask';
  layer: string;
  weight: string;
  shape: number[];
  granularity: 'unstructured' | 'nm';
  nm?: { n: number; m: number };
  /** Fraction of this weight's elements that are zero by the mask. */
  sparsity: number;
  pruned: number;
  total: number;
  /** Base64 of a little-endian bitset over the row-major kernel, bit set = kept. */
  mask: string;
  scores: ScoresSummary;
}

/** Filled in by structured pruning (structured*.ts); fields are theirs to define. */
export interface StructuredStep {
  kind: 'structured';
  [field: string]: unknown;
}

export type PlanStep = MaskStep | StructuredStep;

/** JSON-serializable record of a pruning run; `applyPlan` replays it on the original model. */
export interface PruningPlan {
  version: 1;
  method: PruneMethod;
  granularity: Granularity;
  scope: PruneScope;
  /** Requested sparsity (for N:M, 1 - n/m). */
  targetSparsity: number;
  /** Zeros / total over the pruned weights after the last step. */
  achievedSparsity: number;
  /** Steps in the order they were applied (iterative schedules append one round after another). */
  steps: PlanStep[];
}

/**
 * Progress of a run: 'prune' after each pruning step (loss and accuracy are NaN there: nothing was
 * trained), 'batch' after each optimizer step, 'epoch' after each epoch (with validation when held out).
 */
export interface PruneProgress {
  phase: 'prune' | 'batch' | 'epoch';
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Current sparsity over the prunable weights. */
  sparsity: number;
  /** Something the run should record, e.g. that batches were split to fit memory (finetune/memory.ts). */
  note?: string;
}

export { defaultPruneConfig, validatePruneConfig } from './config';

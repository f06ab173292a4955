/**
 * Data-parallel training without the engine knowing about threads: the trainer splits each batch
 * into `helpers + 1` shards, hands all but the first to a GradientShards implementation (in Node:
 * worker_threads, see src-main/node/train-workers.ts) and computes the first itself meanwhile.
 * Every shard is evaluated with the same weights; the batch gradient is the size-weighted mean of
 * the shards' mean-loss gradients, sum_k (n_k / n) * g_k, so one optimizer step sees exactly what a
 * single process would (up to float rounding in the sum).
 */

/** One shard of a batch: `x` row-major samples, `y` integer labels. */
export interface Shard {
  x: Float32Array;
  y: Int32Array;
  /**
   * Factor on the shard's mean loss before differentiating: n_k / n, so that the batch gradient is
   * the plain sum of the shards' (the scaling costs one scalar op, not one per weight).
   */
  scale: number;
}

/** What a helper returns for a shard: the gradient of `scale` x its mean loss per trainable weight. */
export interface ShardResult {
  /** One per trainable weight, in `model.trainableWeights` order, flattened (empty when n = 0). */
  grads: Float32Array[];
  /** Mean loss over the shard. */
  loss: number;
  /** Correct predictions (arg-max = label) in the shard. */
  correct: number;
  /** Samples in the shard. */
  n: number;
}

/** Computes shard gradients elsewhere (threads, processes) with weights the trainer supplies. */
export interface GradientShards {
  /** How many shards it takes per step (the trainer keeps one more for itself). */
  readonly helpers: number;
  /**
   * Gradients for `shards` (length <= helpers) with the trainable weights set to `weights`
   * (flattened, `model.trainableWeights` order). Shards may be empty (n = 0).
   */
  compute(weights: Float32Array[], shards: Shard[]): Promise<ShardResult[]>;
  /** Stops the helpers. */
  dispose(): Promise<void>;
}

/**
 * Makes a GradientShards for a model, or returns a reason it cannot (then the trainer runs alone).
 * It receives the model's JSON topology (`model.toJSON(null, false)`) and the loss settings.
 */
export type GradientShardsFactory = (spec: ShardModelSpec) => Promise<GradientShards | string>;

export interface ShardModelSpec {
  /** `model.toJSON(null, false)`: enough to rebuild the architecture elsewhere. */
  topology: object;
  /** Shapes of the trainable weights in order, to check the rebuilt model against. */
  weightShapes: number[][];
  /** Whether the model outputs softmax probabilities (the loss then takes their log). */
  outputIsProbabilities: boolean;
}

/**
 * Splits `n` samples into `parts` contiguous ranges as even as possible (sizes differ by at most
 * one, larger first): `shardRanges(10, 3)` -> [[0, 4], [4, 7], [7, 10]].
 */
export function shardRanges(n: number, parts: number): [number, number][] {
  const out: [number, number][] = [];
  const base = Math.floor(n / parts);
  const extra = n % parts;
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const size = base + (i < extra ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/**
 * Telling a diverging fine-tuning from a noisy one, and keeping the best weights seen so a diverged
 * run still leaves something usable behind. A loss that is NaN or infinite has diverged at once;
 * a finite loss has diverged when it stays above `factor` times the reference loss for `patience`
 * steps in a row. The reference is the first loss after the masks last changed (a re-prune raises
 * the loss on purpose; that is not divergence), but at least `floor`: one lucky first batch of a
 * well-trained classifier must not make ordinary batches look like an explosion.
 */
import * as tf from '@tensorflow/tfjs';

export interface DivergenceConfig {
  /**
   * Loss above factor x reference counts as exploding. Default 5: a softmax classifier's loss is
   * capped near -ln(probability floor), so a blown-up one sits at ~10x chance level, not 100x.
   */
  factor: number;
  /** Consecutive exploding steps before the run is stopped. Default 5. */
  patience: number;
  /**
   * Least reference loss. The trainer gives a classifier 0.1 x ln(classes), so the limit is at
   * least chance level (ln K, the loss of a uniform guess); 0 elsewhere.
   */
  floor: number;
}

export const DEFAULT_DIVERGENCE: DivergenceConfig = { factor: 5, patience: 5, floor: 0 };

/**
 * Feeds step losses; says why training diverged once it has.
 * @example const guard = new DivergenceGuard(); guard.observe(2.3); guard.observe(NaN) // 'the loss became NaN'
 */
export class DivergenceGuard {
  private reference: number | undefined;
  private exploding = 0;

  constructor(private readonly config: DivergenceConfig = DEFAULT_DIVERGENCE) {}

  /** No step is above the explosion limit right now (weights worth keeping). */
  get calm(): boolean {
    return this.exploding === 0;
  }

  /** The next loss becomes the reference (call after the masks change). */
  rebase(): void {
    this.reference = undefined;
    this.exploding = 0;
  }

  /** Undefined while training is sane; the reason once it has diverged. */
  observe(loss: number): string | undefined {
    if (!Number.isFinite(loss)) return `the loss became ${String(loss)}`;
    if (this.reference === undefined) {
      this.reference = loss;
      return undefined;
    }
    const limit = this.config.factor * Math.max(Math.abs(this.reference), this.config.floor);
    this.exploding = loss > limit ? this.exploding + 1 : 0;
    if (this.exploding < this.config.patience) return undefined;
    return `the loss exploded: above ${this.config.factor}x its starting value ${this.reference.toPrecision(4)} for ${this.exploding} steps in a row (now ${loss.toPrecision(4)})`;
  }
}

/**
 * A copy of a model's weights (trainable and not, e.g. BatchNorm statistics) with the loss it
 * stands for. Dispose it when done.
 */
export class WeightSnapshot {
  private constructor(
    private readonly values: tf.Tensor[],
    /** Mean training loss of the epoch that ended with these weights; Infinity before training. */
    readonly loss: number,
    /** What these weights are, for messages: "the end of epoch 2" or "before fine-tuning". */
    readonly label: string,
  ) {}

  static take(model: tf.LayersModel, loss: number, label: string): WeightSnapshot {
    // A real copy: tf.clone shares the data, which a backend or the native step may update in place.
    return new WeightSnapshot(model.weights.map((w) => tf.tensor(w.read().dataSync().slice(), w.shape as number[], w.dtype)), loss, label);
  }

  /** Writes the copy back into `model`, then multiplies the masked weights by their current masks. */
  restore(model: tf.LayersModel, masks: Map<string, tf.Tensor>, byName: Map<string, tf.LayerVariable>): void {
    model.weights.forEach((w, i) => w.write(this.values[i]));
    tf.tidy(() => {
      for (const [name, mask] of masks) {
        const lv = byName.get(name);
        if (lv) lv.write(tf.mul(lv.read(), mask));
      }
    });
  }

  dispose(): void {
    tf.dispose(this.values);
  }
}

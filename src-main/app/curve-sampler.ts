/**
 * Turns fine-tuning's per-batch progress into training-curve points (common/contract CurvePoint):
 * one point every `stride` optimizer steps and one at each epoch's end, with loss and accuracy
 * averaged over the steps since the previous point. One batch's loss is noisy; the mean over the
 * window is the smoothed curve a reader wants, and no step is left out of it.
 *
 * The stride is ceil(total steps / MAX_CURVE_POINTS): every step for a short run (the demo's 1-epoch
 * run has ~30 steps, so all of them), every 38th for 10 MNIST epochs at batch 64 (9,380 steps). A
 * fixed "every 10 steps" would give that run 938 points and a one-epoch demo run 3; a cap keeps
 * run.json, the store and a 10-run Compare small (about 25 KB a run) while a chart 300 to 1,900
 * pixels wide still gets a point every few pixels.
 */
import type { CurvePoint } from '../common/contract';
import type { PruneProgress } from '../engine/prune/types';

/** About this many points a run (plus one per epoch end); see the module comment. */
export const MAX_CURVE_POINTS = 250;

/** What the sampler reads of a fine-tuning progress report. */
export type CurveProgress = Omit<PruneProgress, 'note'>;

export interface CurveSamplerOptions {
  /** Epochs the run fine-tunes for (the stride is planned over all of them). */
  epochs: number;
  /** Date.now() when the run started: points carry the wall time since. */
  startedAt: number;
  /** The optimizer's learning rate (constant: the trainer has no learning-rate schedule). */
  learningRate: number;
  /** The name a point gives the quality value: `accuracy`, or `r2` for a regressor. */
  quality: 'accuracy' | 'r2';
  now?: () => number;
}

export class CurveSampler {
  private stride = 0;
  private lossSum = 0;
  private accSum = 0;
  private seen = 0;
  private last: { step: number; epoch: number; sparsity: number } = { step: 0, epoch: 0, sparsity: 0 };

  constructor(private readonly o: CurveSamplerOptions) {}

  /**
   * One progress report; returns the point it completes, if any. A batch adds to the window and
   * ends it every `stride` steps; an epoch's end ends it with the held-out loss and accuracy.
   * @example const point = sampler.observe(p); if (point) emit({ type: 'curve', points: [point] });
   */
  observe(p: CurveProgress): CurvePoint | undefined {
    if (p.phase === 'prune' || p.batches <= 0) return undefined;
    if (!this.stride) this.stride = Math.max(1, Math.ceil((Math.max(1, this.o.epochs) * p.batches) / MAX_CURVE_POINTS));
    if (p.phase === 'batch') {
      const step = p.epoch * p.batches + p.batch + 1;
      this.lossSum += p.loss;
      this.accSum += p.accuracy;
      this.seen++;
      this.last = { step, epoch: p.epoch + (p.batch + 1) / p.batches, sparsity: p.sparsity };
      // The epoch's last batch waits for the epoch's report, which may add held-out values.
      return step % this.stride === 0 && p.batch < p.batches - 1 ? this.take() : undefined;
    }
    const point = this.take();
    if (!point) return undefined;
    if (p.valLoss !== undefined) point.values.valLoss = p.valLoss;
    if (p.valAccuracy !== undefined) point.values[this.o.quality === 'r2' ? 'valR2' : 'valAccuracy'] = p.valAccuracy;
    return finite(point);
  }

  /** The window's point now (fine-tuning stopped mid-epoch, e.g. when it diverged), if it holds steps. */
  flush(): CurvePoint | undefined {
    return this.take();
  }

  private take(): CurvePoint | undefined {
    if (!this.seen) return undefined;
    const point: CurvePoint = {
      step: this.last.step,
      epoch: this.last.epoch,
      wallMs: this.wallMs(),
      values: { loss: this.lossSum / this.seen, [this.o.quality]: this.accSum / this.seen, sparsity: this.last.sparsity, lr: this.o.learningRate },
    };
    this.lossSum = this.accSum = this.seen = 0;
    return finite(point);
  }

  private wallMs(): number {
    return Math.max(0, Math.round((this.o.now ?? Date.now)() - this.o.startedAt));
  }
}

/** JSON has no NaN or Infinity: such values are left out of the point. */
function finite(p: CurvePoint): CurvePoint {
  for (const [k, v] of Object.entries(p.values)) if (!Number.isFinite(v)) delete p.values[k];
  return p;
}

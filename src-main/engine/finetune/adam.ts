/**
 * The fine-tuning loop's Adam: tf.train.adam's update (same formula, same defaults) run as one
 * kernel per variable (kernels/fused-adam.ts) instead of ~15, which is ~2x faster on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { fusedAdamUpdate, registerFusedAdam } from '../kernels/fused-adam';

/**
 * Adam's default epsilon for the active backend: its epsilon() (1e-7 on the float32 backends), except
 * on WebGL with float32 textures. There tfjs-backend-webgl 4.22 answers 1e-4, its float16 value
 * (floatPrecision() only returns 32 when WEBGL_RENDER_FLOAT32_ENABLED is false and a 1e-8 survives),
 * which would make the same run take visibly different steps on the GPU than on the CPU.
 */
export function adamEpsilon(): number {
  if (tf.getBackend() === 'webgl' && tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED')) return 1e-7;
  return tf.backend().epsilon();
}

/** What the trainer needs from an optimizer (tf.train.sgd fits too). */
export interface StepOptimizer {
  applyGradients(grads: tf.NamedTensorMap): void;
  dispose(): void;
}

/**
 * Adam (Kingma & Ba 2015) over the variables named in each gradient map, equal to tf.train.adam
 * within float rounding: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
 * w -= lr * m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps).
 * @example const opt = new FusedAdam(1e-3); opt.applyGradients(grads); opt.dispose()
 */
export class FusedAdam implements StepOptimizer {
  private readonly moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
  private step = 0;

  constructor(
    readonly learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = adamEpsilon(),
  ) {
    if (!(learningRate > 0)) throw new ConfigError(`Adam learning rate must be > 0, got ${learningRate}`);
    registerFusedAdam();
  }

  /** Steps taken so far. */
  get iterations(): number {
    return this.step;
  }

  /** One step for every variable (by its tfjs name) in `grads`; safe inside tf.tidy. */
  applyGradients(grads: tf.NamedTensorMap): void {
    this.step++;
    const attrs = { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, step: this.step };
    for (const [name, g] of Object.entries(grads)) {
      const variable = tf.engine().registeredVariables[name];
      if (!variable) throw new Error(`FusedAdam: no variable named ${name}`);
      let s = this.moments.get(name);
      if (!s) {
        s = { m: tf.keep(tf.zerosLike(variable)), v: tf.keep(tf.zerosLike(variable)) };
        this.moments.set(name, s);
      }
      const [w1, m1, v1] = fusedAdamUpdate(variable, g, s.m, s.v, attrs);
      variable.assign(w1);
      // assign() shares w1's data; our handle can go (the variable keeps its own reference).
      w1.dispose();
      s.m.dispose();
      s.v.dispose();
      this.moments.set(name, { m: tf.keep(m1), v: tf.keep(v1) });
    }
  }

  dispose(): void {
    for (const s of this.moments.values()) tf.dispose([s.m, s.v]);
    this.moments.clear();
  }
}

/**
 * Keras activations that tfjs-layers 4.22 lacks or defines differently, registered with tfjs's
 * serialization map so models using them build, train and round-trip through `getConfig` (which
 * structured pruning relies on). Keras names map onto them at import (node/keras/config.ts):
 *
 * - hard_swish / hard_silu (MobileNetV3): x * relu6(x + 3) / 6
 * - hard_sigmoid as Keras 3 defines it: relu6(x + 3) / 6. Keras 2 and tfjs use 0.2 x + 0.5
 *   (clipped), so the same name means two functions; a Keras 3 file gets this one.
 * - leaky_relu as an activation string (Keras 3 default slope 0.2).
 *
 * None of them exists in the stock tfjs loader, so a tfjs export of a model using them is refused
 * up front (`TOPIARY_ACTIVATIONS`); TF Lite has ops for each.
 */
import * as tf from '@tensorflow/tfjs';

abstract class KerasActivation extends tf.serialization.Serializable {
  abstract apply(x: tf.Tensor): tf.Tensor;
  getConfig(): tf.serialization.ConfigDict {
    return {};
  }
}

/** x * relu6(x + 3) / 6 (Howard et al., Searching for MobileNetV3, 2019). */
class HardSwish extends KerasActivation {
  static className = 'topiaryHardSwish';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)));
  }
}

/** relu6(x + 3) / 6, Keras 3's hard_sigmoid. */
class HardSigmoid6 extends KerasActivation {
  static className = 'topiaryHardSigmoid6';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.div(tf.relu6(tf.add(x, 3)), 6));
  }
}

/** max(x, 0.2 x), Keras 3's leaky_relu activation function at its default slope. */
class LeakyRelu02 extends KerasActivation {
  static className = 'topiaryLeakyRelu';
  apply(x: tf.Tensor): tf.Tensor {
    return tf.leakyRelu(x, 0.2);
  }
}

for (const cls of [HardSwish, HardSigmoid6, LeakyRelu02]) tf.serialization.registerClass(cls);

/** The registered names, as tfjs layer configs carry them (`activation: 'topiaryHardSwish'`). */
export const TOPIARY_ACTIVATIONS = {
  hardSwish: HardSwish.className,
  hardSigmoid6: HardSigmoid6.className,
  leakyRelu: LeakyRelu02.className,
} as const;

const REGISTERED = new Set<string>(Object.values(TOPIARY_ACTIVATIONS));

/** True for an activation name only Topiary's registration makes loadable (not the stock tfjs loader). */
export function isTopiaryActivation(name: unknown): boolean {
  return typeof name === 'string' && REGISTERED.has(name);
}

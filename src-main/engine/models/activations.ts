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

/**
 * Keras GlobalAveragePooling2D / GlobalMaxPooling2D with `keepdims=True` (squeeze-and-excite
 * blocks of MobileNetV3 and EfficientNet) give [batch, 1, 1, C]; tfjs 4.22's versions ignore the
 * option and give [batch, C], so such a model does not even build. These subclasses, registered
 * under the same class names, honour it; without `keepdims` they are tfjs's own layers.
 */
type PoolBase = new (args: Record<string, unknown>) => tf.layers.Layer;
function keepDimsPooling(base: PoolBase, className: string) {
  class KeepDimsPooling extends base {
    static className = className;
    readonly keepdims: boolean;
    constructor(args: Record<string, unknown>) {
      super(args);
      this.keepdims = args.keepdims === true;
    }
    override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
      const out = super.computeOutputShape(inputShape) as tf.Shape;
      return this.keepdims ? [out[0], 1, 1, out[1]] : out;
    }
    override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
      const out = super.call(inputs, kwargs) as tf.Tensor;
      return this.keepdims ? tf.reshape(out, [out.shape[0], 1, 1, out.shape[1] as number]) : out;
    }
    override getConfig(): tf.serialization.ConfigDict {
      const config = super.getConfig();
      if (this.keepdims) config.keepdims = true;
      return config;
    }
  }
  tf.serialization.registerClass(KeepDimsPooling as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

keepDimsPooling(tf.layers.globalAveragePooling2d({}).constructor as PoolBase, 'GlobalAveragePooling2D');
keepDimsPooling(tf.layers.globalMaxPooling2d({}).constructor as PoolBase, 'GlobalMaxPooling2D');

/** True when a layer config uses an option only Topiary's registrations honour (stock tfjs would not load it alike). */
export function usesTopiaryOnlyOption(config: Record<string, unknown>): string | undefined {
  if (config.keepdims === true) return 'keepdims=True pooling';
  for (const key of ['activation', 'recurrentActivation']) if (isTopiaryActivation(config[key])) return `activation ${String(config[key])}`;
  return undefined;
}

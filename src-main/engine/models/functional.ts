/**
 * A small functional (non-sequential) network for tests and benches: it has a residual Add, a
 * Concatenate, a depthwise convolution, BatchNormalization and global pooling, i.e. the graph
 * features that pruning and export must handle beyond a plain chain.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { resolveBuilderOptions, seededKernel, type BuilderOptions } from './lenet';

/**
 * Graph (for the default 8x8x3 input, 4 classes):
 *
 *   input 8x8x3
 *     -> stem   Conv2D 8@3x3 same relu        8x8x8
 *     -> branch Conv2D 8@3x3 same (linear)    8x8x8
 *   add = Add(stem, branch)                   8x8x8
 *   dw  = DepthwiseConv2D 3x3 same x1 relu    8x8x8   (on add)
 *   cat = Concatenate(add, dw)                8x8x16
 *   bn  = BatchNormalization                  8x8x16
 *   gap = GlobalAveragePooling2D              16
 *   out = Dense numClasses softmax
 * @example const net = smallFunctionalNet({ seed: 3 }); net.predict(tf.zeros([2, 8, 8, 3]))
 */
export function smallFunctionalNet(opts: BuilderOptions = {}): tf.LayersModel {
  const { seed, inputShape, numClasses } = resolveBuilderOptions({ numClasses: 4, ...opts }, [8, 8, 3]);
  if (inputShape.length !== 3) {
    throw new ConfigError(`smallFunctionalNet needs an image input shape [h, w, c], got [${inputShape.join(', ')}]`);
  }
  const input = tf.input({ shape: inputShape, name: 'input' });
  const stem = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seededKernel(seed, 1), name: 'stem' })
    .apply(input) as tf.SymbolicTensor;
  const branch = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: seededKernel(seed, 2), name: 'branch' })
    .apply(stem) as tf.SymbolicTensor;
  const add = tf.layers.add({ name: 'add' }).apply([stem, branch]) as tf.SymbolicTensor;
  const dw = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      depthMultiplier: 1,
      padding: 'same',
      activation: 'relu',
      depthwiseInitializer: seededKernel(seed, 3),
      name: 'dw',
    })
    .apply(add) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ axis: -1, name: 'cat' }).apply([add, dw]) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn' }).apply(cat) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(bn) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: numClasses, activation: 'softmax', kernelInitializer: seededKernel(seed, 4), name: 'out' })
    .apply(gap) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: opts.name ?? 'small_functional' });
}

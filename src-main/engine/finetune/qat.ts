/**
 * The forward pass of quantization-aware training: the model's own layers, run in order, with
 * kernels and activations fake-quantized (./fake-quant.ts) where the TF Lite int8 export puts
 * its int8 tensors, so the float weights learn to sit well on the int8 grid. Masks are the
 * trainer's business (gradients masked, weights re-masked after every step); fake quantization
 * maps 0 to exactly 0, so pruned weights stay pruned through it.
 *
 * Where the export quantizes (export/tflite/quantize.ts toFullInt8): the model input; the output
 * of each conv / depthwise / dense after its fused ReLU/ReLU6 (BatchNormalization folded in, so
 * after the BN when one follows); before a softmax (the logits: the softmax output's grid is fixed
 * at 1/256); the output of other computing layers. Pooling, flatten, reshape, padding and dropout
 * keep their input's grid, so they add no quantization point.
 *
 * Activation ranges are moving averages of the batch min/max (momentum m: r = m * r + (1 - m) * batch),
 * the first batch taken as it is; kept as numbers (the fake quantization reads values back anyway). The export still calibrates its own ranges (min/max over
 * calibration samples), close to these but not identical.
 */
import * as tf from '@tensorflow/tfjs';
import type { QatConfig } from '../../common/prune-config';
import { allLayers } from '../prune/weights';
import { fakeQuantActivation, fakeQuantWeight, kernelChannels } from './fake-quant';

const PROB_FLOOR = 1e-7;

/** Layers whose output keeps its input's int8 grid in the export (no arithmetic on values). */
const SAME_GRID = new Set([
  'InputLayer', 'MaxPooling2D', 'MaxPooling1D', 'AveragePooling2D', 'Flatten', 'Reshape', 'Dropout',
  'SpatialDropout1D', 'SpatialDropout2D', 'ZeroPadding2D', 'GlobalMaxPooling2D', 'Permute', 'UpSampling2D',
]);
/** Layers the export folds or fuses into the op before them, so that op's output is not its own quantization point. */
const FOLDED = new Set(['BatchNormalization', 'ReLU']);
const FUSED_ACTIVATIONS = new Set(['linear', 'relu', 'relu6']);
const KERNEL_LAYERS = new Set(['Dense', 'Conv2D', 'DepthwiseConv2D']);

interface LayerConfig {
  activation?: string;
  strides?: number | number[];
  padding?: 'same' | 'valid';
  dilationRate?: number | number[];
  dataFormat?: string;
  useBias?: boolean;
}

const pair = (v: number | number[] | undefined, d = 1): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];

/** Why a model cannot be trained with fake quantization here (undefined: it can). */
export function qatUnsupportedReason(model: tf.LayersModel): string | undefined {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) return 'quantization-aware training needs one input and one output';
  // A chain: each (flattened) layer reads the previous one's output. Nested Sequentials flatten.
  const isChain = (m: tf.LayersModel): boolean =>
    m instanceof tf.Sequential && m.layers.every((l) => !(l instanceof tf.LayersModel) || isChain(l));
  if (!isChain(model)) return 'quantization-aware training runs layer by layer and needs a Sequential model (this one has branches or is functional)';
  for (const l of allLayers(model)) {
    const c = l.getConfig() as LayerConfig;
    if (KERNEL_LAYERS.has(l.getClassName()) && c.dataFormat !== undefined && c.dataFormat !== 'channelsLast') {
      return `layer "${l.name}" uses dataFormat ${c.dataFormat}; quantization-aware training needs channelsLast`;
    }
  }
  return undefined;
}

/** Fake-quantized forward pass plus the moving activation ranges it keeps. */
export class QatForward {
  private readonly layers: tf.layers.Layer[];
  private readonly probs: boolean;
  /** Moving [min, max] per quantization point, by name. */
  private readonly ranges = new Map<string, [number, number]>();
  /** Ranges the last training forward used (its batch folded into the moving average); committed after the step. */
  private pending = new Map<string, [number, number]>();

  constructor(
    private readonly model: tf.LayersModel,
    private readonly cfg: Pick<QatConfig, 'momentum' | 'weights'>,
    outputIsProbabilities: boolean,
  ) {
    const why = qatUnsupportedReason(model);
    if (why) throw new Error(why);
    this.layers = allLayers(model).filter((l) => l.getClassName() !== 'InputLayer');
    this.probs = outputIsProbabilities;
  }

  /** The quantization points seen so far and their moving ranges. */
  rangesNow(): Map<string, [number, number]> {
    return new Map([...this.ranges].map(([k, r]) => [k, [r[0], r[1]] as [number, number]]));
  }

  /** Fake-quantizes `x` at quantization point `key` (training: the batch moves the range; else the range as it is). */
  private quant(key: string, x: tf.Tensor, training: boolean): tf.Tensor {
    const kept = this.ranges.get(key);
    if (!training && kept) return fakeQuantActivation(x, kept);
    return fakeQuantActivation(x, ([lo, hi]) => {
      const m = this.cfg.momentum;
      const r: [number, number] = kept ? [m * kept[0] + (1 - m) * lo, m * kept[1] + (1 - m) * hi] : [lo, hi];
      if (training) this.pending.set(key, r);
      return r;
    });
  }

  /** After an optimizer step: the ranges the step's forward used become the moving ranges. */
  commit(): void {
    for (const [key, r] of this.pending) this.ranges.set(key, r);
    this.pending = new Map();
  }

  /**
   * Logits (log-probabilities for a softmax model: the softmax itself is skipped, the logits are
   * quantized as the export quantizes its input) of the fake-quantized model on `x`.
   */
  forward(x: tf.Tensor, training: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      let h = this.quant('input', x, training);
      const last = this.layers.length - 1;
      this.layers.forEach((layer, i) => {
        const cls = layer.getClassName();
        const next = this.layers[i + 1];
        const foldedNext = next !== undefined && (FOLDED.has(next.getClassName()) || (next.getClassName() === 'Activation' && FUSED_ACTIVATIONS.has(String((next.getConfig() as LayerConfig).activation))));
        const c = layer.getConfig() as LayerConfig;
        const act = String(c.activation ?? 'linear');
        if (KERNEL_LAYERS.has(cls)) {
          let z = this.linear(layer, h, c);
          if (act === 'softmax' && i === last) {
            h = this.quant(layer.name, z, training);
            return;
          }
          if (!FUSED_ACTIVATIONS.has(act)) z = this.quant(`${layer.name}/pre_activation`, z, training);
          const a = (layer as unknown as { activation: { apply(t: tf.Tensor): tf.Tensor } }).activation.apply(z);
          h = foldedNext ? a : this.quant(layer.name, a, training);
          return;
        }
        if (cls === 'Activation' && act === 'softmax' && i === last) return;
        h = layer.apply(h, { training }) as tf.Tensor;
        if (!SAME_GRID.has(cls) && !foldedNext) h = this.quant(layer.name, h, training);
      });
      const out = this.probs && !this.endsInSoftmaxKernel() ? tf.log(tf.maximum(h, PROB_FLOOR)) : h;
      return out.reshape([out.shape[0], -1]) as tf.Tensor2D;
    });
  }

  /** Whether the last layer's softmax was skipped (its logits returned as they are). */
  private endsInSoftmaxKernel(): boolean {
    const l = this.layers[this.layers.length - 1];
    const act = String((l.getConfig() as LayerConfig).activation ?? 'linear');
    return act === 'softmax' && (KERNEL_LAYERS.has(l.getClassName()) || l.getClassName() === 'Activation');
  }

  /** The layer's conv / matmul with its kernel fake-quantized, plus bias (no activation). */
  private linear(layer: tf.layers.Layer, x: tf.Tensor, c: LayerConfig): tf.Tensor {
    const cls = layer.getClassName();
    const [kernel, bias] = layer.weights.map((w) => w.read());
    const depthwise = cls === 'DepthwiseConv2D';
    const channels = this.cfg.weights === 'per-tensor' ? 1 : kernelChannels(kernel.shape, depthwise);
    const k = fakeQuantWeight(kernel, channels);
    let z: tf.Tensor;
    if (cls === 'Dense') {
      const flat = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
      z = tf.matMul(flat as tf.Tensor2D, k as tf.Tensor2D);
      if (x.rank !== 2) z = tf.reshape(z, [...x.shape.slice(0, -1), k.shape[1] as number]);
    } else if (depthwise) {
      z = tf.depthwiseConv2d(x as tf.Tensor4D, k as tf.Tensor4D, pair(c.strides), c.padding ?? 'valid', 'NHWC', pair(c.dilationRate));
    } else {
      z = tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, pair(c.strides), c.padding ?? 'valid', 'NHWC', pair(c.dilationRate));
    }
    return bias && c.useBias !== false ? tf.add(z, bias) : z;
  }

  dispose(): void {
    this.ranges.clear();
    this.pending.clear();
  }

  /** Which model this forward belongs to. */
  get target(): tf.LayersModel {
    return this.model;
  }
}

/** Tiny models and a synthetic, learnable dataset for pruning tests (cpu backend, milliseconds). */
import * as tf from '@tensorflow/tfjs';
import { arraySplit, seededRandom, type DataSplit, type Dataset } from '../../../../src-main/engine/data';

/** A split from in-memory arrays (re-exported for the pruning tests). */
export { arraySplit };

/** `n` samples of `shape` whose label is the arg-max of a fixed random projection onto `classes`. */
export function syntheticDataset(shape: number[], classes: number, nTrain: number, nTest: number, seed = 1): Dataset {
  const per = shape.reduce((a, b) => a * b, 1);
  const rand = seededRandom(seed);
  const proj = Float32Array.from({ length: per * classes }, () => rand() * 2 - 1);
  const make = (n: number): DataSplit => {
    const x = Float32Array.from({ length: n * per }, () => rand());
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = -Infinity;
      for (let c = 0; c < classes; c++) {
        let s = 0;
        for (let j = 0; j < per; j++) s += (x[i * per + j] - 0.5) * proj[j * classes + c];
        if (s > best) {
          best = s;
          y[i] = c;
        }
      }
    }
    return arraySplit(x, y, per);
  };
  return {
    name: 'synthetic',
    source: 'test',
    sampleShape: shape,
    classNames: Array.from({ length: classes }, (_, i) => String(i)),
    train: make(nTrain),
    test: make(nTest),
    warnings: [],
  };
}

/** Dense 16 -> 12 -> 8 -> 3 (softmax). */
export function mlp(seed = 7): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 12, inputShape: [16], activation: 'relu', name: 'fc1', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: 8, activation: 'relu', name: 'fc2', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
    ],
  });
}

/** Conv2D(8) -> DepthwiseConv2D -> Conv2D(4) -> Flatten -> Dense(3) on 6x6x4 inputs. */
export function convnet(seed = 3): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ filters: 8, kernelSize: 3, inputShape: [6, 6, 4], activation: 'relu', name: 'conv1', kernelInitializer: init(seed) }),
      tf.layers.depthwiseConv2d({ kernelSize: 3, name: 'dw', depthwiseInitializer: init(seed + 1) }),
      tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'conv2', kernelInitializer: init(seed + 2) }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 3, activation: 'softmax', name: 'out', kernelInitializer: init(seed + 3) }),
    ],
  });
}

/** Values of a layer's kernel. */
export function kernelOf(model: tf.LayersModel, layer: string): Float32Array {
  const l = model.getLayer(layer) as unknown as { kernel?: tf.LayerVariable; depthwiseKernel?: tf.LayerVariable };
  return (l.kernel ?? l.depthwiseKernel)!.read().dataSync() as Float32Array;
}

export function zeros(a: ArrayLike<number>): number {
  let z = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === 0) z++;
  return z;
}

export function disposeAll(masks: Map<string, tf.Tensor>): void {
  for (const m of masks.values()) m.dispose();
}

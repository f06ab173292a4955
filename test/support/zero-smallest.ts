/** Unstructured magnitude sparsity without the engine: what the int8 sparse-layout test and bench start from. */
import * as tf from '@tensorflow/tfjs';

/** Zeroes the smallest `fraction` of every kernel (magnitude), as unstructured pruning leaves it. */
export function zeroSmallest(model: tf.LayersModel, fraction: number): void {
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length < 2) continue;
    const k = ws[0].dataSync().slice();
    const sorted = Float32Array.from(k, Math.abs).sort();
    const threshold = sorted[Math.floor(fraction * sorted.length)];
    for (let i = 0; i < k.length; i++) if (Math.abs(k[i]) < threshold) k[i] = 0;
    const fresh = tf.tensor(k, ws[0].shape);
    layer.setWeights([fresh, ...ws.slice(1)]);
    fresh.dispose();
  }
}

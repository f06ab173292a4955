import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../../../src-main/engine/data';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';

/** Deterministic pseudo-random values in [-1, 1) from the engine's seeded PRNG, so failures reproduce. */
export function randomFloats(n: number, seed = 1): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

/** Random but reproducible weights for every layer (tfjs initializers are seeded per process only). */
export function seedWeights(model: tf.LayersModel, seed = 7): void {
  let k = seed;
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (ws.length === 0) continue;
    const names = layer.weights.map((w) => w.originalName);
    const fresh = ws.map((w, i) => {
      const v = randomFloats(w.size, k++);
      // BatchNormalization variances must stay positive.
      if (names[i].endsWith('moving_variance')) for (let j = 0; j < v.length; j++) v[j] = 0.5 + Math.abs(v[j]);
      if (names[i].endsWith('gamma')) for (let j = 0; j < v.length; j++) v[j] = 0.5 + Math.abs(v[j]);
      return tf.tensor(v, w.shape);
    });
    layer.setWeights(fresh);
    fresh.forEach((t) => t.dispose());
  }
}

/** n random samples of `shape`, without labels. */
export function samplesFor(shape: number[], n: number, seed = 3): { x: Float32Array; y: Int32Array; sampleShape: number[] } {
  const per = shape.reduce((a, d) => a * d, 1);
  return { x: randomFloats(n * per, seed), y: new Int32Array(0), sampleShape: shape };
}

/** Runs a float-I/O .tflite once in LiteRT and returns its first output. */
export async function runLiteRt(bytes: Uint8Array, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const { lib } = await loadLiteRtNode();
  const model = await lib.loadAndCompile(bytes, { accelerator: 'wasm' });
  const input = new lib.Tensor(x.slice(), shape);
  try {
    const outs = await model.run([input]);
    const out = Float32Array.from(outs[0].toTypedArray() as Float32Array);
    outs.forEach((o) => o.delete());
    return out;
  } finally {
    input.delete();
    model.delete();
  }
}

/**
 * Quantized tfjs exports keep BatchNormalization statistics, gammas, betas and biases float32.
 * The net has statistics like a trained one: each BN's moving mean/variance are those of its real
 * input (means up to +-5 from conv biases, variances from ~2e-3 behind nearly dead channels up to
 * ~7), so its outputs are well scaled, yet one uint8 step of a moving mean is a large error.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../../../src-main/engine/data';
import { exportTfjs, keepsFloat32, tfjsFolderFiles, tfjsMemoryHandler, verifyTfjsExport, type TfjsExport } from '../../../../src-main/engine/export/tfjs';

const SHAPE = [12, 12, 3];
const BIAS = 5;
const DEAD = 2.5;

function bnNet(): tf.LayersModel {
  const inp = tf.input({ shape: SHAPE });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', name: 'c0' }).apply(inp) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({ name: 'bn0' }).apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'dw' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6 }).apply(tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'pw' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 10, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: out });
  const rand = seededRandom(31);
  const u = (a: number, b: number) => a + (b - a) * rand();
  // Uniform kernels; biases up to +-5 shift the means BN sees.
  for (const layer of m.layers) {
    if (layer.getClassName() === 'BatchNormalization' || layer.weights.length === 0) continue;
    const fresh = layer.getWeights().map((w, i) => {
      const v = new Float32Array(w.size);
      for (let j = 0; j < v.length; j++) v[j] = i === 0 ? u(-1, 1) : u(-BIAS, BIAS);
      return tf.tensor(v, w.shape);
    });
    layer.setWeights(fresh);
    tf.dispose(fresh);
  }
  // Each BN gets the statistics of what it really sees, like after training.
  const calib = tf.randomUniform([64, ...SHAPE], -1, 1, 'float32', 4);
  for (const layer of m.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const upTo = tf.model({ inputs: m.inputs, outputs: layer.input as tf.SymbolicTensor });
    const stats = tf.tidy(() => {
      const h = upTo.predict(calib) as tf.Tensor;
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      const c = mean.shape[0];
      const gamma = tf.tensor(Array.from({ length: c }, (_, ch) => (layer.name === 'bn0' && ch < 3 ? 1 : (rand() < 0.2 ? -1 : 1) * u(0.5, 2))));
      // Nearly dead channels, common in trained ReLU nets: a negative beta before ReLU6 lets little
      // through, so what the next BN sees there has a tiny variance.
      const beta = tf.tensor(Array.from({ length: c }, (_, ch) => (layer.name === 'bn0' && ch < 3 ? -DEAD : u(-1, 1))));
      return [gamma, beta, mean, variance.add(1e-6)];
    });
    layer.setWeights(stats);
    tf.dispose(stats);
  }
  calib.dispose();
  return m;
}

function manifest(out: TfjsExport) {
  return out.modelJson.weightsManifest[0].weights;
}

describe('quantized tfjs export of a BatchNorm net', () => {
  it('BN statistics, gammas, betas and biases stay float32; uint8 reload agrees with the float model', async () => {
    const m = bnNet();
    const variances = m.layers.filter((l) => l.getClassName() === 'BatchNormalization').flatMap((l) => Array.from(l.getWeights()[3].dataSync()));
    const means = m.layers.filter((l) => l.getClassName() === 'BatchNormalization').flatMap((l) => Array.from(l.getWeights()[2].dataSync()));
    if (process.env.TOPIARY_TEST_VERBOSE) console.log(`var ${Math.min(...variances)}..${Math.max(...variances)} |mean| max ${Math.max(...means.map(Math.abs))}`);
    const out = await exportTfjs(m, { quant: 'uint8' });
    const entries = manifest(out);
    for (const e of entries) {
      const short = e.name.split('/').pop();
      if (['moving_mean', 'moving_variance', 'gamma', 'beta', 'bias'].includes(short ?? '')) {
        expect(e.quantization, e.name).toBeUndefined();
        expect(e.dtype).toBe('float32');
      } else {
        expect(e.quantization?.dtype, e.name).toBe('uint8');
      }
    }
    expect(out.float32Kept.length).toBe(3 * 4 + 4);
    expect(out.float32Kept.every(keepsFloat32)).toBe(true);
    expect(tfjsFolderFiles(out).length).toBe(2);

    const x = tf.randomUniform([400, ...SHAPE], -1, 1, 'float32', 77);
    const v = await verifyTfjsExport(m, out, x, { latencySamples: 1 });
    const scale = tf.tidy(() => (m.predict(x) as tf.Tensor).abs().max().dataSync()[0]);
    if (process.env.TOPIARY_TEST_VERBOSE) console.log(`uint8: top-1 agreement ${v.top1Agreement}, max |diff| ${v.maxAbsDiff} (logit scale ${scale})`);
    // The statistics really are spread like the brief's realistic ones.
    expect(Math.min(...variances)).toBeLessThan(1e-2);
    expect(Math.max(...variances)).toBeGreaterThan(1);
    expect(Math.max(...means.map(Math.abs))).toBeGreaterThan(4);

    expect(v.top1Agreement).toBeGreaterThanOrEqual(0.99);
    expect(v.maxAbsDiff).toBeLessThan(0.02 * scale);
    expect(v.passed).toBe(true);

    // All the remaining error is the kernels': the float model with only its kernels replaced by
    // their uint8-decoded values predicts what the export does.
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    const kernelsOnly = bnNet();
    const [floatW, backW] = [m.getWeights(), back.getWeights()]; // the variables' own tensors: not disposed here
    kernelsOnly.setWeights(kernelsOnly.weights.map((w, i) => (keepsFloat32(w.originalName) ? floatW[i] : backW[i])));
    const gap = tf.tidy(() => (back.predict(x) as tf.Tensor).sub(kernelsOnly.predict(x) as tf.Tensor).abs().max().dataSync()[0]);
    expect(gap).toBeLessThan(1e-4);
    back.dispose();
    kernelsOnly.dispose();
    x.dispose();
    m.dispose();
  });

  it('the kept tensors cost little: the uint8 export is still close to a quarter of float32', async () => {
    const m = bnNet();
    const none = await exportTfjs(m, { quant: 'none' });
    const u8 = await exportTfjs(m, { quant: 'uint8' });
    const f16 = await exportTfjs(m, { quant: 'float16' });
    const keptBytes = 4 * manifest(u8).filter((e) => e.quantization === undefined).reduce((a, e) => a + e.shape.reduce((p, d) => p * d, 1), 0);
    expect(keptBytes).toBeGreaterThan(0);
    expect(u8.weightBytes).toBe((none.weightBytes - keptBytes) / 4 + keptBytes);
    expect(f16.weightBytes).toBe((none.weightBytes - keptBytes) / 2 + keptBytes);
    expect(none.float32Kept).toEqual([]);
    m.dispose();
  });
});

/**
 * A batch-N .tflite (exportTflite's `batch`) runs N samples at once in LiteRT and gives what tfjs
 * gives for each: the file modern-nets.ts times for LiteRT's batch-64 latency.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportTflite, readTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';
import { seedWeights } from './helpers';

const made: tf.LayersModel[] = [];
afterEach(() => {
  for (const m of made.splice(0)) m.dispose();
});

/** Exports `model` at batch `n`, runs n random samples through LiteRT in one call, compares with predict. */
async function expectBatchMatches(model: tf.LayersModel, sampleShape: number[], n: number): Promise<void> {
  made.push(model);
  seedWeights(model);
  const { bytes } = exportTflite(model, { quant: 'none', sparse: 'never', batch: n });
  const info = readTflite(bytes, 'batch export');
  expect(info.tensors[info.inputs[0]].shape).toEqual([n, ...sampleShape]);
  const per = sampleShape.reduce((a, d) => a * d, 1);
  const x = Float32Array.from({ length: n * per }, (_, i) => Math.sin(i * 0.37) * 0.8);
  const want = tf.tidy(() => (model.predict(tf.tensor(x, [n, ...sampleShape])) as tf.Tensor).dataSync() as Float32Array);
  const { lib } = await loadLiteRtNode();
  const compiled = await lib.loadAndCompile(bytes, { accelerator: 'wasm' });
  const t = new lib.Tensor(x, [n, ...sampleShape]);
  try {
    const outs = await compiled.run([t]);
    const got = Float32Array.from(outs[0].toTypedArray() as Float32Array);
    for (const o of outs) o.delete();
    expect(got.length).toBe(want.length);
    let maxAbs = 0;
    for (let i = 0; i < got.length; i++) maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    expect(maxAbs).toBeLessThanOrEqual(1e-4);
  } finally {
    t.delete();
    compiled.delete();
  }
}

describe('batch-N TFLite export', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  it('a conv net with depthwise, separable, BatchNorm, residual Add and pooling runs 5 samples per call', async () => {
    const input = tf.input({ shape: [12, 12, 3] });
    const a = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.batchNormalization().apply(a) as tf.SymbolicTensor;
    const r = tf.layers.reLU({ maxValue: 6 }).apply(b) as tf.SymbolicTensor;
    const d = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same' }).apply(r) as tf.SymbolicTensor;
    const s = tf.layers.add().apply([d, r]) as tf.SymbolicTensor;
    const sep = tf.layers.separableConv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(s) as tf.SymbolicTensor;
    const p = tf.layers.maxPooling2d({ poolSize: 2 }).apply(sep) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({}).apply(p) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4, activation: 'softmax' }).apply(g) as tf.SymbolicTensor;
    await expectBatchMatches(tf.model({ inputs: input, outputs: out }), [12, 12, 3], 5);
  });

  it('Conv1D (via its 2-D form) and Flatten + Dense keep the batch', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv1d({ inputShape: [16, 2], filters: 4, kernelSize: 3, activation: 'relu' }),
        tf.layers.maxPooling1d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 3 }),
      ],
    });
    await expectBatchMatches(m, [16, 2], 7);
  });

  it('batch 1 stays the default, and a bad batch is refused with its value', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 2 })] });
    made.push(m);
    const info = readTflite(exportTflite(m, { quant: 'none' }).bytes, 'default');
    expect(info.tensors[info.inputs[0]].shape).toEqual([1, 4]);
    expect(() => exportTflite(m, { quant: 'none', batch: 0 })).toThrow(/batch must be a whole number from 1 to 65536, got 0/);
    expect(() => exportTflite(m, { quant: 'none', batch: 2.5 })).toThrow(/got 2.5/);
  });
});

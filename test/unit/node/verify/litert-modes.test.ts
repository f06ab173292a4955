import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportTflite, readTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';
import { detectMode, verifyTflite } from '../../../../src-main/node/verify/verify';
import { randomFloats, runLiteRt, samplesFor, seedWeights } from './helpers';

const SHAPE = [10, 10, 2];

/** A small conv net with the layer mix of LeNet-like models, plus BN, DW conv and a residual Add. */
function convNet(): tf.LayersModel {
  const inp = tf.input({ shape: SHAPE });
  const c1 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same' }).apply(inp) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({}).apply(c1) as tf.SymbolicTensor;
  const r1 = tf.layers.activation({ activation: 'relu' }).apply(bn) as tf.SymbolicTensor;
  const dw = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }).apply(r1) as tf.SymbolicTensor;
  const sum = tf.layers.add().apply([r1, dw]) as tf.SymbolicTensor;
  const p = tf.layers.maxPooling2d({ poolSize: 2 }).apply(sum) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'tanh' }).apply(p) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate().apply([p, c2]) as tf.SymbolicTensor;
  const f = tf.layers.flatten().apply(cat) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 64, activation: 'relu' }).apply(f) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(d) as tf.SymbolicTensor;
  const m = tf.model({ inputs: inp, outputs: out });
  seedWeights(m);
  return m;
}

/** Models a test makes for itself, freed when it ends (the shared one lives for the file). */
const made = new Set<tf.LayersModel>();
afterEach(() => {
  made.forEach((m) => m.dispose());
  made.clear();
});

/** Labels = the float model's own decisions, so the reference accuracy is 1. */
function labelled(model: tf.LayersModel, n: number, seed = 11): { x: Float32Array; y: Int32Array; sampleShape: number[] } {
  const s = samplesFor(SHAPE, n, seed);
  const y = tf.tidy(() => (model.predict(tf.tensor(s.x, [n, ...SHAPE])) as tf.Tensor).argMax(-1).dataSync() as Int32Array);
  return { ...s, y: Int32Array.from(y) };
}

describe('numeric modes through LiteRT', () => {
  let model: tf.LayersModel;
  let float32Size = 0;
  beforeAll(async () => {
    await loadLiteRtNode();
    model = convNet();
    float32Size = exportTflite(model, { quant: 'none', sparse: 'never' }).bytes.length;
  });

  it('float32 matches tfjs to 1e-4 and reports a latency', async () => {
    const { bytes } = exportTflite(model, { quant: 'none' });
    const r = await verifyTflite(bytes, model, labelled(model, 12), { latencyRuns: 3 });
    expect(r.passed).toBe(true);
    expect(r.mode).toBe('none');
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(r.accuracy).toBe(1);
    expect(r.latencyMs).toBeGreaterThan(0);
  });

  it('float16 stores FLOAT16 weights behind DEQUANTIZE, about halves the file and stays close', async () => {
    const { bytes, ops } = exportTflite(model, { quant: 'float16' });
    const info = readTflite(bytes);
    expect(detectMode(info)).toBe('float16');
    expect(info.tensors.some((t) => t.dtype === 'float16')).toBe(true);
    expect(ops.filter((o) => o.op === 'DEQUANTIZE').length).toBeGreaterThan(0);
    expect(bytes.length).toBeLessThan(float32Size * 0.62);
    const r = await verifyTflite(bytes, model, labelled(model, 12), { latencyRuns: 0 });
    expect(r.reason).toBeUndefined();
    expect(r.maxAbsDiff).toBeLessThan(1e-2);
    expect(r.maxAbsDiff).toBeGreaterThan(0);
  });

  it('dynamic-range int8 stores per-channel int8 weights with float activations', async () => {
    const { bytes } = exportTflite(model, { quant: 'dynamic-int8' });
    const info = readTflite(bytes);
    expect(detectMode(info)).toBe('dynamic-int8');
    const conv = info.tensors.find((t) => t.dtype === 'int8' && t.shape.length === 4 && t.shape[0] === 6);
    expect(conv?.scale).toHaveLength(6);
    expect(conv?.zeroPoint.every((z) => z === 0)).toBe(true);
    expect(bytes.length).toBeLessThan(float32Size * 0.4);
    const r = await verifyTflite(bytes, model, labelled(model, 16), { latencyRuns: 0, thresholds: { minTop1Agreement: 0.85, maxAccuracyDrop: 0.15 } });
    expect(r.reason).toBeUndefined();
    expect(r.meanAbsDiff).toBeLessThan(0.05);
  });

  it('full int8 (float I/O) quantizes activations with the kernels\u2019 fixed output params and agrees on most decisions', async () => {
    const calibration = randomFloats(32 * 200, 5);
    const { bytes, ops } = exportTflite(model, { quant: 'int8', calibration });
    expect(ops[0].op).toBe('QUANTIZE');
    expect(ops[ops.length - 1].op).toBe('DEQUANTIZE');
    const info = readTflite(bytes);
    expect(detectMode(info)).toBe('int8');
    const softmaxOp = info.operators.find((o) => o.op === 'SOFTMAX');
    const sm = info.tensors[softmaxOp?.outputs[0] ?? -1];
    expect(sm.scale[0]).toBeCloseTo(1 / 256, 8);
    expect(sm.zeroPoint[0]).toBe(-128);
    const tanhOp = info.operators.find((o) => o.op === 'TANH');
    expect(info.tensors[tanhOp?.outputs[0] ?? -1].scale[0]).toBeCloseTo(1 / 128, 8);
    const pool = info.operators.find((o) => o.op === 'MAX_POOL_2D');
    const [pin, pout] = [info.tensors[pool?.inputs[0] ?? -1], info.tensors[pool?.outputs[0] ?? -1]];
    expect([pout.scale[0], pout.zeroPoint[0]]).toEqual([pin.scale[0], pin.zeroPoint[0]]);
    const concat = info.operators.find((o) => o.op === 'CONCATENATION');
    const catParams = new Set([...(concat?.inputs ?? []), ...(concat?.outputs ?? [])].map((i) => `${info.tensors[i].scale[0]}/${info.tensors[i].zeroPoint[0]}`));
    expect(catParams.size).toBe(1);
    const bias = info.tensors.find((t) => t.dtype === 'int32' && t.scale.length === 6);
    expect(bias).toBeDefined();
    expect(bytes.length).toBeLessThan(float32Size * 0.4);
    const r = await verifyTflite(bytes, model, labelled(model, 24), { latencyRuns: 0, thresholds: { minTop1Agreement: 0.8, maxAccuracyDrop: 0.2 } });
    expect(r.reason).toBeUndefined();
    expect(r.maxAbsDiff).toBeLessThan(0.2);
  });

  it('full int8 with uint8 I/O runs with inputs quantized by the verifier', async () => {
    const { bytes } = exportTflite(model, { quant: 'int8', calibration: randomFloats(16 * 200, 6), ioType: 'uint8' });
    const info = readTflite(bytes);
    expect(info.tensors[info.inputs[0]].dtype).toBe('uint8');
    expect(info.tensors[info.outputs[0]].dtype).toBe('uint8');
    const r = await verifyTflite(bytes, model, labelled(model, 16), { latencyRuns: 0, thresholds: { minTop1Agreement: 0.75, maxAccuracyDrop: 0.25 } });
    expect(r.reason).toBeUndefined();
    expect(r.maxAbsDiff).toBeLessThan(0.2);
  });

  it('full int8 with int8 I/O is written but reported unverifiable, not crashed on', async () => {
    const { bytes, notes } = exportTflite(model, { quant: 'int8', calibration: randomFloats(8 * 200, 6), ioType: 'int8' });
    expect(readTflite(bytes).tensors[readTflite(bytes).inputs[0]].dtype).toBe('int8');
    expect(notes.join(' ')).toMatch(/int8 model I\/O/);
    const r = await verifyTflite(bytes, model, labelled(model, 2), { latencyRuns: 0 });
    expect(r.passed).toBe(false);
    expect(r.reason).toMatch(/int8 I\/O/);
  });

  it('a model that disagrees with the file fails verification with the numbers in the reason', async () => {
    const other = convNet();
    made.add(other);
    seedWeights(other, 99);
    const { bytes } = exportTflite(model, { quant: 'none' });
    const r = await verifyTflite(bytes, other, labelled(model, 6), { latencyRuns: 0 });
    expect(r.passed).toBe(false);
    expect(r.reason).toMatch(/max abs diff/);
  });

  it('rejects samples that do not fit the sample shape or the labels with ConfigError', async () => {
    const { bytes } = exportTflite(model, { quant: 'none' });
    await expect(verifyTflite(bytes, model, { x: new Float32Array(199), y: new Int32Array(0), sampleShape: SHAPE })).rejects.toThrow(/199 values, not a whole number of samples of shape \[10, 10, 2\]/);
    await expect(verifyTflite(bytes, model, { x: new Float32Array(400), y: new Int32Array(3), sampleShape: SHAPE })).rejects.toThrow(/2 inputs but 3 labels/);
  });

  it('corrupt and truncated bytes give a failed result with LiteRT\u2019s reason', async () => {
    const { bytes } = exportTflite(model, { quant: 'none' });
    const garbage = randomFloats(256, 1).map((v) => v * 1000);
    const bad = await verifyTflite(new Uint8Array(garbage.buffer), model, labelled(model, 2), { latencyRuns: 0 });
    expect(bad.passed).toBe(false);
    expect(bad.reason).toMatch(/LiteRT rejected the model: Failed to load model from buffer/);
    const truncated = await verifyTflite(bytes.slice(0, 100), model, labelled(model, 2), { latencyRuns: 0 });
    expect(truncated.passed).toBe(false);
    expect(truncated.reason).toMatch(/LiteRT/);
  });
});

describe('the other layer types in every numeric mode', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  /** ZeroPadding2D, AveragePooling2D, relu6, standalone BN (MUL+ADD), sigmoid, Reshape, GAP (MEAN). */
  function mixedNet(): tf.LayersModel {
    const m = tf.sequential({
      layers: [
        tf.layers.zeroPadding2d({ inputShape: [8, 8, 3], padding: 1 }),
        tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu6' }),
        tf.layers.averagePooling2d({ poolSize: 2 }),
        tf.layers.batchNormalization({}),
        tf.layers.activation({ activation: 'sigmoid' }),
        tf.layers.reshape({ targetShape: [4, 4, 8] }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 4, activation: 'softmax' }),
      ],
    });
    seedWeights(m);
    return m;
  }

  for (const quant of ['float16', 'dynamic-int8', 'int8'] as const) {
    it(`${quant}: runs in LiteRT and stays close to tfjs`, async () => {
      const m = mixedNet();
      made.add(m);
      const s = samplesFor([8, 8, 3], 12, 21);
      const { bytes, ops } = exportTflite(m, { quant, calibration: randomFloats(32 * 192, 8) });
      for (const op of ['PAD', 'AVERAGE_POOL_2D', 'MUL', 'ADD', 'LOGISTIC', 'RESHAPE', 'MEAN', 'SOFTMAX']) expect(ops.map((o) => o.op)).toContain(op);
      const r = await verifyTflite(bytes, m, s, { latencyRuns: 0, thresholds: { minTop1Agreement: 0.75 } });
      expect(r.reason).toBeUndefined();
      expect(r.maxAbsDiff).toBeLessThan(quant === 'float16' ? 1e-2 : 0.08);
    });
  }
});

describe('per-channel weight scales', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  const cases: [string, () => tf.Sequential, number[], number[]][] = [
    ['Dense', () => tf.sequential({ layers: [tf.layers.dense({ inputShape: [16], units: 4 })] }), [16], [4]],
    ['Conv2D', () => tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 4, kernelSize: 3 })] }), [5, 5, 2], [4]],
    ['DepthwiseConv2D', () => tf.sequential({ layers: [tf.layers.depthwiseConv2d({ inputShape: [5, 5, 4], kernelSize: 3 })] }), [5, 5, 4], [4, 1]],
  ];
  for (const [name, make, shape, scaleShape] of cases) {
    it(`${name}: a channel 10^4 times smaller than its neighbour keeps its precision in dynamic-int8`, async () => {
      const m = make();
      made.add(m);
      seedWeights(m);
      const [k, b] = m.layers[0].getWeights();
      const scaled = tf.tidy(() => tf.mul(k, tf.tensor([100, 1, 0.01, 3], scaleShape)));
      const zeros = tf.zerosLike(b);
      m.layers[0].setWeights([scaled, zeros]);
      tf.dispose([scaled, zeros]);
      const { bytes } = exportTflite(m, { quant: 'dynamic-int8' });
      const s = samplesFor(shape, 1, 4);
      const got = await runLiteRt(bytes, s.x, [1, ...shape]);
      const ref = tf.tidy(() => (m.predict(tf.tensor(s.x, [1, ...shape])) as tf.Tensor).dataSync() as Float32Array);
      // With a per-tensor scale the small channel would round to zero; per-channel keeps ~1% error.
      let err = 0;
      let mag = 0;
      for (let i = 2; i < ref.length; i += 4) {
        err = Math.max(err, Math.abs(got[i] - ref[i]));
        mag = Math.max(mag, Math.abs(ref[i]));
      }
      expect(mag).toBeGreaterThan(0);
      expect(err / mag).toBeLessThan(0.05);
    });
  }
});

describe('sparse weight encoding', () => {
  beforeAll(async () => {
    await loadLiteRtNode();
  });

  function prunedMlp(keep: number): tf.LayersModel {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [64], units: 48, activation: 'relu' }), tf.layers.dense({ units: 4 })] });
    seedWeights(m);
    const [k, b] = m.layers[0].getWeights();
    const v = k.dataSync().slice();
    for (let i = 0; i < v.length; i++) if ((i * 2654435761) % 1000 >= keep * 1000) v[i] = 0;
    const pruned = tf.tensor(v, k.shape);
    m.layers[0].setWeights([pruned, b]);
    pruned.dispose();
    return m;
  }

  it('auto encodes a 90%-sparse dense layer as CSR + DENSIFY, shrinks the file and still matches', async () => {
    const m = prunedMlp(0.1);
    made.add(m);
    const dense = exportTflite(m, { quant: 'none', sparse: 'never' });
    const sparse = exportTflite(m, { quant: 'none', sparse: 'auto' });
    expect(sparse.ops.map((o) => o.op)).toEqual(['DENSIFY', 'FULLY_CONNECTED', 'FULLY_CONNECTED']);
    expect(readTflite(sparse.bytes).tensors.filter((t) => t.sparse)).toHaveLength(1);
    expect(sparse.bytes.length).toBeLessThan(dense.bytes.length * 0.5);
    const r = await verifyTflite(sparse.bytes, m, samplesFor([64], 6), { latencyRuns: 0 });
    expect(r.reason).toBeUndefined();
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
  });

  it('auto keeps a dense layer dense; always forces CSR and the result still matches', async () => {
    const m = prunedMlp(1);
    made.add(m);
    expect(exportTflite(m, { quant: 'none', sparse: 'auto' }).ops.some((o) => o.op === 'DENSIFY')).toBe(false);
    const forced = exportTflite(m, { quant: 'none', sparse: 'always' });
    expect(forced.ops.filter((o) => o.op === 'DENSIFY')).toHaveLength(2);
    const r = await verifyTflite(forced.bytes, m, samplesFor([64], 4), { latencyRuns: 0 });
    expect(r.reason).toBeUndefined();
    expect(r.passed).toBe(true);
  });
});

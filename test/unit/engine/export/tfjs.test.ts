import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync, gzipSync } from 'fflate';
import { ConfigError } from '../../../../src-main/common/errors';
import { exportTfjs, sizeReport, tfjsFolderFiles, tfjsMemoryHandler, verifyTfjsExport, type TfjsExport } from '../../../../src-main/engine/export/tfjs';
import { affineParams, dequantizeAffine, encodeFloat16, quantizeAffine, toFloat16Bits } from '../../../../src-main/engine/export/quantize';

/** Serves an export's files to stock tf.loadLayersModel through its HTTP loader, as a web server would. */
async function loadOverHttp(out: TfjsExport): Promise<tf.LayersModel> {
  const files = new Map(tfjsFolderFiles(out).map((f) => [`http://host/m/${f.name}`, f.bytes]));
  const fetchFunc = async (input: string | URL | Request) => {
    const bytes = files.get(String(input));
    if (!bytes) return new Response('not found', { status: 404 });
    return new Response(bytes.slice(), { status: 200 });
  };
  return tf.loadLayersModel('http://host/m/model.json', { fetchFunc });
}

/** Small conv net with a third of each weight tensor pruned to exactly zero. */
function prunedModel(): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'c1' }),
      tf.layers.batchNormalization({ name: 'bn' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, activation: 'softmax', name: 'd1' }),
    ],
  });
  tf.tidy(() => {
    m.setWeights(
      m.getWeights().map((w, i) => {
        const n = w.size;
        const vals = tf.randomUniform([n], -1, 1, 'float32', 7 + i).arraySync() as number[];
        // moving variance must stay positive; others get every third entry zeroed
        const isVariance = i === 5;
        return tf.tensor(vals.map((v, j) => (isVariance ? Math.abs(v) + 0.5 : j % 3 === 0 ? 0 : v)), w.shape);
      }),
    );
  });
  return m;
}

function allWeights(m: tf.LayersModel): Float32Array[] {
  return m.getWeights().map((w) => w.dataSync() as Float32Array);
}

describe('exportTfjs', () => {
  let model: tf.LayersModel;
  let x: tf.Tensor;
  let ref: Float32Array;
  beforeAll(() => {
    model = prunedModel();
    x = tf.randomUniform([6, 8, 8, 1], 0, 1, 'float32', 3);
    ref = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });

  const bounds: Record<'none' | 'float16' | 'uint16' | 'uint8', number> = { none: 1e-6, float16: 2e-3, uint16: 1e-3, uint8: 0.05 };
  for (const quant of ['none', 'float16', 'uint16', 'uint8'] as const) {
    it(`${quant}: stock loadLayersModel reproduces predictions within ${bounds[quant]} and keeps pruned zeros exactly zero`, async () => {
      const out = await exportTfjs(model, { quant });
      expect(out.modelJson.format).toBe('layers-model');
      const back = await loadOverHttp(out);
      const start = tf.memory().numTensors;
      const y = tf.tidy(() => (back.predict(x) as tf.Tensor).dataSync() as Float32Array);
      expect(tf.memory().numTensors).toBe(start);
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - y[i]));
      expect(maxDiff).toBeLessThanOrEqual(bounds[quant]);
      const orig = allWeights(model);
      const got = allWeights(back);
      for (let w = 0; w < orig.length; w++) {
        for (let i = 0; i < orig[w].length; i++) if (orig[w][i] === 0) expect(got[w][i]).toBe(0);
      }
      back.dispose();
    });
  }

  it('quantized manifests carry quantization entries and shrink the weights; BN statistics and biases stay float32', async () => {
    const none = await exportTfjs(model, { quant: 'none' });
    const f16 = await exportTfjs(model, { quant: 'float16' });
    const u8 = await exportTfjs(model, { quant: 'uint8' });
    const kept = ['c1/bias', 'bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance', 'd1/bias'];
    expect([...u8.float32Kept].sort()).toEqual([...kept].sort()); // tfjs saves trainable weights first
    expect(f16.float32Kept).toEqual(u8.float32Kept);
    const keptBytes = 4 * none.modelJson.weightsManifest[0].weights.filter((e) => kept.includes(e.name)).reduce((a, e) => a + e.shape.reduce((p, d) => p * d, 1), 0);
    expect(f16.weightBytes).toBe((none.weightBytes - keptBytes) / 2 + keptBytes);
    expect(u8.weightBytes).toBe((none.weightBytes - keptBytes) / 4 + keptBytes);
    for (const e of u8.modelJson.weightsManifest[0].weights) {
      if (kept.includes(e.name)) {
        expect(e.quantization).toBeUndefined();
        continue;
      }
      expect(e.quantization?.dtype).toBe('uint8');
      if (e.quantization && 'scale' in e.quantization) expect(e.quantization.scale).toBeGreaterThan(0);
    }
    expect(none.modelJson.weightsManifest[0].weights.every((e) => e.quantization === undefined)).toBe(true);
    expect(f16.modelJson.weightsManifest[0].weights.every((e) => (e.quantization?.dtype === 'float16') !== kept.includes(e.name))).toBe(true);
  });

  it('splits weights into shards no larger than shardBytes, named groupK-shardIofN', async () => {
    const out = await exportTfjs(model, { quant: 'none', shardBytes: 100 });
    const n = Math.ceil(out.weightBytes / 100);
    expect(out.shards.length).toBe(n);
    expect(out.modelJson.weightsManifest[0].paths).toEqual(Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`));
    for (const s of out.shards.slice(0, -1)) expect(s.byteLength).toBe(100);
    expect(out.shards.reduce((a, s) => a + s.byteLength, 0)).toBe(out.weightBytes);
    const back = await loadOverHttp(out);
    const y = tf.tidy(() => (back.predict(x) as tf.Tensor).dataSync() as Float32Array);
    expect(Array.from(y)).toEqual(Array.from(ref));
    back.dispose();
  });

  it('the in-memory handler loads the same model as the folder files', async () => {
    const out = await exportTfjs(model, { quant: 'uint16', shardBytes: 64 });
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    const viaHttp = await loadOverHttp(out);
    const a = tf.tidy(() => (back.predict(x) as tf.Tensor).dataSync());
    const b = tf.tidy(() => (viaHttp.predict(x) as tf.Tensor).dataSync());
    expect(Array.from(a)).toEqual(Array.from(b));
    back.dispose();
    viaHttp.dispose();
  });

  it('does not leak tensors', async () => {
    const start = tf.memory().numTensors;
    await exportTfjs(model, { quant: 'uint8' });
    expect(tf.memory().numTensors).toBe(start);
  });

  it('rejects an unknown quant mode and a bad shard size with ConfigError', async () => {
    await expect(exportTfjs(model, { quant: 'int4' as never })).rejects.toThrow(ConfigError);
    await expect(exportTfjs(model, { quant: 'none', shardBytes: 0 })).rejects.toThrow(/shardBytes/);
  });

  it('sizeReport gives raw bytes and the gzip size of each file', async () => {
    const files = tfjsFolderFiles(await exportTfjs(model, { quant: 'uint8' })).map((f) => f.bytes);
    const r = sizeReport(files);
    expect(r.rawBytes).toBe(files.reduce((a, f) => a + f.byteLength, 0));
    expect(r.gzipBytes).toBe(files.reduce((a, f) => a + gzipSync(f, { level: 9 }).byteLength, 0));
    expect(gunzipSync(gzipSync(files[0], { level: 9 }))).toEqual(files[0]);
  });
});

describe('verifyTfjsExport', () => {
  let model: tf.LayersModel;
  let x: tf.Tensor;
  let labels: Int32Array;
  beforeAll(() => {
    model = prunedModel();
    x = tf.randomUniform([40, 8, 8, 1], 0, 1, 'float32', 5);
    labels = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(1).dataSync() as Int32Array);
  });

  it('passes an unquantized export with identical top-1 and reports accuracy and latency', async () => {
    const start = tf.memory().numTensors;
    const v = await verifyTfjsExport(model, await exportTfjs(model, { quant: 'none' }), x, { labels, batchSize: 16, latencySamples: 3 });
    expect(tf.memory().numTensors).toBe(start);
    expect(v.passed).toBe(true);
    expect(v.reason).toBeNull();
    expect(v.samples).toBe(40);
    expect(v.maxAbsDiff).toBeLessThan(1e-6);
    expect(v.top1Agreement).toBe(1);
    expect(v.accuracy).toBe(1);
    expect(v.latencyMs).toBeGreaterThan(0);
    expect(v.runtime).toMatch(/^tfjs 4\.22\.0 \(/);
  });

  it('fails a corrupted export and says why', async () => {
    const out = await exportTfjs(model, { quant: 'uint8' });
    out.shards[0] = out.shards[0].map((b, i) => (i % 2 ? 255 - b : b));
    const v = await verifyTfjsExport(model, out, x, { latencySamples: 1 });
    expect(v.passed).toBe(false);
    expect(v.reason).toMatch(/max \|diff\|/);
    expect(v.accuracy).toBeNull();
  });

  it('rejects labels that do not match the samples', async () => {
    const out = await exportTfjs(model, { quant: 'none' });
    await expect(verifyTfjsExport(model, out, x, { labels: [1, 2] })).rejects.toThrow(ConfigError);
  });
});

describe('affine quantization', () => {
  it('nudges the range so zero is a level and error stays within scale/2', () => {
    const v = new Float32Array([-0.37, 0, 0.001, 1.9, -0.0001, 0.5]);
    for (const dtype of ['uint8', 'uint16'] as const) {
      const p = affineParams(v, dtype);
      expect(p.min).toBe(-(p.zeroPoint * p.scale));
      const q = quantizeAffine(v, p);
      expect(q[1]).toBe(p.zeroPoint);
      const d = dequantizeAffine(q, p);
      expect(d[1]).toBe(0);
      for (let i = 0; i < v.length; i++) expect(Math.abs(d[i] - v[i])).toBeLessThanOrEqual(p.scale / 2 + 1e-7);
    }
  });

  it('handles all-positive, all-negative and all-zero tensors', () => {
    for (const v of [new Float32Array([0.2, 0.5, 3]), new Float32Array([-4, -0.1, -2]), new Float32Array([0, 0])]) {
      const p = affineParams(v, 'uint8');
      expect(p.scale).toBeGreaterThan(0);
      const d = dequantizeAffine(quantizeAffine(v, p), p);
      for (let i = 0; i < v.length; i++) expect(Math.abs(d[i] - v[i])).toBeLessThanOrEqual(p.scale / 2 + 1e-7);
    }
  });

  it('rejects non-finite weights', () => {
    expect(() => affineParams(new Float32Array([1, NaN]), 'uint8')).toThrow(/non-finite/);
  });
});

describe('float16 encoding', () => {
  it('encodes known values, subnormals, overflow and rounds to nearest even', () => {
    expect(toFloat16Bits(0)).toBe(0);
    expect(toFloat16Bits(-0)).toBe(0x8000);
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(1e6)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(toFloat16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('round-trips through the stock tfjs float16 decoder within 2^-11 relative error', async () => {
    const v = new Float32Array(Array.from({ length: 200 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 5)));
    const bits = encodeFloat16(v);
    const decoded = tf.io.decodeWeights(bits.buffer as ArrayBuffer, [{ name: 'w', shape: [200], dtype: 'float32', quantization: { dtype: 'float16' } }]);
    const back = decoded['w'].dataSync();
    for (let i = 0; i < v.length; i++) {
      const tol = Math.max(Math.abs(v[i]) * 2 ** -11, 2 ** -25);
      expect(Math.abs(back[i] - v[i])).toBeLessThanOrEqual(tol);
    }
    decoded['w'].dispose();
  });
});

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportModel } from '../../../src-main/app/export-service';
import { parseExportReport } from '../../../src-main/common/export-report';
import { arraySplit, type Dataset } from '../../../src-main/engine/data';


let root: string;
let model: tf.LayersModel;
let dataset: Dataset;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'topiary-export-service-'));
  model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu', name: 'h', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 4, activation: 'softmax', name: 'out', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  // Prune half of the first kernel so the exports must keep exact zeros.
  const k = model.getLayer('h').getWeights()[0];
  const masked = tf.tidy(() => k.mul(tf.randomUniform(k.shape, 0, 1, 'float32', 3).greater(0.5)));
  model.getLayer('h').setWeights([masked, model.getLayer('h').getWeights()[1]]);
  const x = (await tf.randomUniform([200, 12], 0, 1, 'float32', 9).data()) as Float32Array;
  const y = tf.tidy(() => (model.predict(tf.tensor(x, [200, 12])) as tf.Tensor).argMax(1).dataSync() as Int32Array);
  // Labels are what the model itself predicts, so a faithful export scores 100 %.
  const s = arraySplit(x, y, 12);
  dataset = { name: 't', source: 'test', sampleShape: [12], classNames: ['a', 'b', 'c', 'd'], train: s, test: s, warnings: [] };
});
afterAll(async () => {
  model.dispose();
  await fs.rm(root, { recursive: true, force: true });
});

describe('export service', () => {
  it('a uint8 tfjs export loads from disk with the stock loader, keeps pruned zeros, and is verified', async () => {
    const dir = path.join(root, 'tfjs-u8');
    const out = await exportModel(model, { format: 'tfjs', quant: 'uint8', verifySamples: 200 }, { outDir: dir, dataset, source: 'test' });
    expect(out.artifact).toMatchObject({ format: 'tfjs', quant: 'uint8', status: 'ok' });
    expect(out.verification.top1Agreement).toBeGreaterThanOrEqual(0.95);
    expect(out.verification.accuracy).toBe(out.verification.top1Agreement);

    const fetchFunc = async (input: string | URL | Request) => new Response(new Uint8Array(await fs.readFile(path.join(dir, String(input).replace('http://host/', '')))));
    const back = await tf.loadLayersModel('http://host/model.json', { fetchFunc });
    const [orig, loaded] = [model, back].map((m) => m.getLayer('h').getWeights()[0].dataSync());
    for (let i = 0; i < orig.length; i++) if (orig[i] === 0) expect(loaded[i]).toBe(0);
    back.dispose();

    const report = parseExportReport(JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')));
    expect(report.verification?.passed).toBe(true);
    // With a dataset the uint8 export is calibrated on its training samples, and the report says how.
    expect(((report.config as { notes?: string[] }).notes ?? []).some((n) => /^uint8 calibrated on 48 distinct training samples: \d+ most output-sensitive kernels raised to uint16/.test(n))).toBe(true);
    expect(report.files?.map((f) => f.name)).toContain('model.json');
    expect(await fs.readFile(path.join(dir, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('a float32 TF Lite export matches the model in LiteRT', async () => {
    const out = await exportModel(model, { format: 'tflite', quant: 'none', verifySamples: 100 }, { outDir: path.join(root, 'tfl'), dataset, source: 'test' });
    expect(out.artifact.status).toBe('ok');
    expect(out.verification.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(out.verification.runtime).toMatch(/^litert/);
    // Zeros counted in the written file: half of the first kernel was pruned.
    const report = parseExportReport(JSON.parse(await fs.readFile(path.join(root, 'tfl', 'report.json'), 'utf8')));
    const hZeros = Array.from(model.getLayer('h').getWeights()[0].dataSync()).filter((v) => v === 0).length;
    expect(out.weightZeros?.weights).toBe(12 * 16 + 16 * 4);
    expect(out.weightZeros?.zeros).toBeGreaterThanOrEqual(hZeros);
    expect(report.weightZeros).toEqual(out.weightZeros);
  });

  it('sparse: never keeps int8 weights dense, and the report config says so', async () => {
    const dense = await exportModel(model, { format: 'tflite', quant: 'int8', verifySamples: 50, sparse: 'never' }, { outDir: path.join(root, 'i8-dense'), dataset, source: 'test' });
    const report = parseExportReport(JSON.parse(await fs.readFile(path.join(root, 'i8-dense', 'report.json'), 'utf8')));
    expect(report.config.sparse).toBe('never');
    expect(dense.weightZeros?.sparseTensors).toBe(0);
    expect(dense.artifact.status).toBe('ok');
  });

  it('a tfjs export reports its weight shards as downloaded: raw, gzip and brotli', async () => {
    const dir = path.join(root, 'tfjs-f32');
    const out = await exportModel(model, { format: 'tfjs', quant: 'none', verifySamples: 20 }, { outDir: dir, dataset, source: 'test' });
    const d = out.download!;
    expect(d.files.map((f) => f.name)).toEqual(['group1-shard1of1.bin']);
    expect(d.rawBytes).toBe((12 * 16 + 16 + 16 * 4 + 4) * 4);
    // Pruned zeros compress: both encodings are well under the raw bytes, and brotli beats gzip here.
    expect(d.gzipBytes).toBeLessThan(0.9 * d.rawBytes);
    expect(d.brotliBytes).toBeLessThan(d.gzipBytes);
    const report = parseExportReport(JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')));
    expect(report.download).toEqual(d);
  });

  it('without a dataset it verifies on seeded noise and reports no accuracy', async () => {
    const out = await exportModel(model, { format: 'tflite', quant: 'float16', verifySamples: 50 }, { outDir: path.join(root, 'noise'), source: 'test' });
    expect(out.verification.samples).toBeGreaterThan(0);
    expect(out.verification.accuracy).toBeNull();
  });

  it('refuses to write into an existing non-empty folder unless asked', async () => {
    const dir = path.join(root, 'tfl');
    await expect(exportModel(model, { format: 'tflite', quant: 'none', verifySamples: 10 }, { outDir: dir, dataset, source: 'test' })).rejects.toThrow(/refusing to overwrite/);
    const again = await exportModel(model, { format: 'tflite', quant: 'none', verifySamples: 10 }, { outDir: dir, dataset, source: 'test', overwrite: true });
    expect(again.artifact.status).toBe('ok');
  });

  it('full-integer TF Lite export without calibration data is a named ConfigError', async () => {
    await expect(exportModel(model, { format: 'tflite', quant: 'int8', verifySamples: 10 }, { outDir: path.join(root, 'i8'), source: 'test' })).rejects.toThrow(/calibration/);
  });
});

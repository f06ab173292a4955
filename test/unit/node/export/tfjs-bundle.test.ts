import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseExportReport } from '../../../../src-main/common/export-report';
import { exportTfjsBundle, type TfjsReportContext } from '../../../../src-main/node/export/tfjs-bundle';

const context: TfjsReportContext = {
  app: { name: 'topiary', version: '0.1.0' },
  source: { spec: 'demo' },
  metrics: { before: { accuracy: 1 }, after: { accuracy: 1 } },
  layers: [{ name: 'd1', className: 'Dense', params: 55, nonZeros: 50, sparsity: 5 / 55 }],
  config: { note: 'test' },
};

/** Loads a bundle folder from disk through stock tf.loadLayersModel's HTTP loader. */
async function loadFolder(dir: string): Promise<tf.LayersModel> {
  const fetchFunc = async (input: string | URL | Request) => {
    const name = String(input).replace('http://host/', '');
    return new Response(new Uint8Array(await fs.readFile(path.join(dir, name))), { status: 200 });
  };
  return tf.loadLayersModel('http://host/model.json', { fetchFunc });
}

let root: string;
let model: tf.LayersModel;
let x: tf.Tensor;
let labels: Int32Array;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'topiary-tfjs-bundle-'));
  model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [10], units: 5, activation: 'softmax', name: 'd1' })] });
  x = tf.randomUniform([30, 10], -1, 1, 'float32', 4);
  labels = tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(1).dataSync() as Int32Array);
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('exportTfjsBundle', () => {
  it('writes a loadable uint8 tfjs folder with a verified report', async () => {
    const dir = path.join(root, 'u8');
    const out = await exportTfjsBundle(model, dir, { quant: 'uint8', shardBytes: 40, verify: { x, labels }, report: context });
    const names = (await fs.readdir(dir)).sort();
    expect(names).toContain('model.json');
    expect(names.filter((n) => n.endsWith('.bin')).length).toBe(Math.ceil(55 / 40));
    const report = parseExportReport(JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')));
    expect(report.format).toBe('tfjs');
    expect(report.quant).toBe('uint8');
    expect(report.verification?.passed).toBe(true);
    expect(report.verification?.top1Agreement).toBeGreaterThanOrEqual(0.95);
    expect(report.sizes.baselineRawBytes).toBeGreaterThan(report.sizes.rawBytes);
    expect(report.config).toEqual({ shardBytes: 40, note: 'test' });
    expect(report.files?.map((f) => f.name)).toEqual(['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']); // 55 uint8 weights, 40-byte shards
    expect(out.report).toEqual(report);
    const back = await loadFolder(dir);
    const diff = tf.tidy(() => (back.predict(x) as tf.Tensor).sub(model.predict(x) as tf.Tensor).abs().max().dataSync()[0]);
    expect(diff).toBeLessThan(0.05);
    back.dispose();
  });

  it('without samples the report says not verified', async () => {
    const dir = path.join(root, 'none');
    const out = await exportTfjsBundle(model, dir, { quant: 'none', report: context });
    expect(out.verification).toBeNull();
    expect(out.report.sizes.baselineRawBytes).toBe(out.report.sizes.rawBytes);
    expect(await fs.readFile(path.join(dir, 'report.html'), 'utf8')).toContain('not verified');
  });
});

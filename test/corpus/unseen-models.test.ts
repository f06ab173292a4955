// Corpus models of kinds the first corpus lacked (manifest `suite: "unseen"`): MLPerf Tiny's
// reference ResNet-8, DS-CNN keyword spotter, MobileNetV1 VWW and dense anomaly autoencoder, and
// layer-family models (Conv1D audio, SqueezeNet fire + SeparableConv2D, conv autoencoder with
// Conv2DTranspose / UpSampling2D, Keras 3 nested MobileNetV3 blocks, a uint8-quantized tfjs
// Embedding text classifier). The generic steps run on those they fit; the rest get their own
// tests below (data that is the model's own input, or a refusal that must be clear and early).
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTflite, readTflite, tfliteOpsFor } from '../../src-main/engine/export/tflite';
import { inferTask } from '../../src-main/engine/task';
import { loadModel } from '../../src-main/node/models';
import { verifyTflite } from '../../src-main/node/verify/verify';
import { corpus, corpusSuite, dataSpec, jsonOf, lastLine, manifest, modelPath, resultOf, topiary, type Entry } from './harness';

corpusSuite((e) => e.suite === 'unseen');

const entry = (id: string): Entry => {
  const e = manifest.models.find((m) => m.id === id);
  if (!e) throw new Error(`no corpus entry ${id}`);
  return e;
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-unseen-'));

interface Reference { inputShape: number[]; inputs: number[]; outputShape: number[]; outputs: number[] }

describe('Keras import computes what Keras computes', () => {
  // reference.json: Keras's own outputs for 3 seeded inputs (make-unseen.py). Before the import
  // knew silu / hard_swish / Keras 3 hard_sigmoid, LeakyReLU negative_slope and keepdims pooling,
  // two of these did not load and the others would have used tfjs's different defaults.
  it.each(['family-conv1d-audio', 'family-squeezenet-separable', 'family-conv-autoencoder', 'family-keras3-nested-mnv3'])('%s matches Keras outputs', async (id) => {
    const e = entry(id);
    const ref = JSON.parse(fs.readFileSync(path.join(corpus, 'models', id, 'reference.json'), 'utf8')) as Reference;
    const { model } = await loadModel(modelPath(e));
    try {
      const y = tf.tidy(() => (model.predict(tf.tensor(ref.inputs, [3, ...ref.inputShape])) as tf.Tensor).dataSync());
      expect(y.length).toBe(ref.outputs.length);
      let diff = 0;
      for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i] - ref.outputs[i]));
      // The inputs are stored rounded to 4 decimals, Keras ran on the unrounded values.
      expect(diff).toBeLessThan(5e-4);
    } finally {
      model.dispose();
    }
  }, 120_000);
});

/** Seeded smooth inputs in [lo, hi] of a sample shape. */
function samples(shape: number[], n: number, lo: number, hi: number): Float32Array {
  const per = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n * per }, (_, i) => lo + (hi - lo) * (0.5 + 0.25 * Math.sin(i * 0.37 + Math.floor(i / per)) + 0.25 * Math.sin(i * 0.011)));
}

describe('reconstruction models (targets are the inputs)', () => {
  it('mlperf-tiny-ad-autoencoder is read as a 640-target regressor and its float32 and int8 .tflite verify by error', async () => {
    const { model } = await loadModel(modelPath(entry('mlperf-tiny-ad-autoencoder')));
    try {
      expect(inferTask(model)).toBe('regression');
      // Inputs on the scale of its training features (log-mel energies, not [-1, 1]): what the
      // decoder produces lies on the data manifold, so its outputs stand in for real frames.
      const x = tf.tidy(() => (model.predict(tf.tensor2d(samples([640], 16, -1, 1), [16, 640])) as tf.Tensor).dataSync() as Float32Array);
      for (const quant of ['none', 'int8'] as const) {
        const out = exportTflite(model, { quant, calibration: x });
        const v = await verifyTflite(out.bytes, model, { x, y: x, sampleShape: [640] }, { task: 'regression', latencyRuns: 0 });
        expect(v.passed, `${quant}: ${v.reason ?? ''}`).toBe(true);
      }
    } finally {
      model.dispose();
    }
  }, 300_000);

  it('family-conv-autoencoder lowers Conv2DTranspose and UpSampling2D to TRANSPOSE_CONV and RESIZE_NEAREST_NEIGHBOR, verified by LiteRT', async () => {
    const { model } = await loadModel(modelPath(entry('family-conv-autoencoder')));
    try {
      const x = samples([28, 28, 1], 8, 0, 1);
      for (const quant of ['none', 'int8'] as const) {
        const out = exportTflite(model, { quant, calibration: x });
        const ops = readTflite(out.bytes).operators.map((o) => o.op);
        expect(ops).toContain('TRANSPOSE_CONV');
        expect(ops).toContain('RESIZE_NEAREST_NEIGHBOR');
        const v = await verifyTflite(out.bytes, model, { x, y: x, sampleShape: [28, 28, 1] }, { task: 'regression', latencyRuns: 0 });
        expect(v.passed, `${quant}: ${v.reason ?? ''} max diff ${v.maxAbsDiff}`).toBe(true);
      }
    } finally {
      model.dispose();
    }
  }, 300_000);

  it('family-conv-autoencoder: a prune without --task is refused before any work, asking for --task', () => {
    const before = jsonOf(topiary(['runs', 'list', '--json'])).total;
    const r = topiary(['prune', modelPath(entry('family-conv-autoencoder')), '--data', 'demo', '--sparsity', '0.5', '--epochs', '0', '--no-sensitivity', '--json']);
    expect(r.code, r.stderr.slice(-1500)).toBe(2);
    expect(lastLine(r.stderr) + r.stdout).toMatch(/--task/);
    expect(jsonOf(topiary(['runs', 'list', '--json'])).total).toBe(before);
  }, 120_000);
});

describe('Keras 3 nested MobileNetV3 blocks (hard-swish, squeeze-and-excite, PReLU, LayerNormalization)', () => {
  const e = entry('family-keras3-nested-mnv3');

  it('TF Lite lowers every layer but LayerNormalization (HARD_SWISH, PRELU, MUL for the excite) and refuses it by name', async () => {
    const { model } = await loadModel(modelPath(e));
    try {
      const rows = tfliteOpsFor(model, { quant: 'none' });
      expect(rows.filter((r) => !r.supported).map((r) => `${r.layer} (${r.className})`)).toEqual(['ln (LayerNormalization)']);
      expect(rows.flatMap((r) => r.ops)).toEqual(expect.arrayContaining(['HARD_SWISH', 'PRELU', 'MUL', 'DEPTHWISE_CONV_2D', 'MEAN']));
      expect(() => exportTflite(model, { quant: 'none' })).toThrow(/layer "ln" \(LayerNormalization\) is not supported by the TFLite exporter; export --format tfjs instead/);
    } finally {
      model.dispose();
    }
  }, 120_000);

  it('tfjs export is refused before writing anything, naming the hard-swish layer (stock tfjs has no hard-swish)', () => {
    const out = path.join(tmp, 'mnv3-tfjs');
    const r = topiary(['export', modelPath(e), '--format', 'tfjs', '--quant', 'uint8', '--out', out, '--json']);
    expect(r.code).not.toBe(0);
    const err = (jsonOf(r).error ?? {}) as { message?: string };
    expect(err.message ?? '').toMatch(/layer "stem_hswish" \(Activation\) uses activation topiaryHardSwish .* export --format tflite instead/);
    expect(fs.existsSync(path.join(out, 'model.json'))).toBe(false);
  }, 120_000);

  it('structured 50% prune is refused naming the LayerNormalization that reads the pruned channels (exit 2)', () => {
    // A uniform target must reach every group; the one feeding LayerNormalization cannot be cut
    // (its statistics span all channels), so the prune stops with the layer, class and reason.
    const r = topiary(['prune', modelPath(e), '--data', dataSpec(e), '--granularity', 'structured', '--sparsity', '0.5', '--epochs', '0', '--no-sensitivity', '--eval-limit', '40', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.stringify(jsonOf(r).error ?? {})).toMatch(/cannot remove channels of \\"head_conv\\": layer \\"ln\\" \(LayerNormalization\): normalizes across the channel axis/);
  }, 180_000);
});

describe('uint8-quantized tfjs Embedding text classifier', () => {
  const e = entry('family-text-embedding-tfjs');
  const data = `csv:${path.join(corpus, 'models', e.id, 'eval.csv')}`;

  it('loads its uint8 shards dequantized and analyzes every layer', () => {
    const r = topiary(['analyze', modelPath(e), '--json']);
    const a = resultOf(r).analysis as { layers: { name: string; className: string }[] };
    expect(a.layers.filter((l) => l.className !== 'InputLayer').map((l) => l.className)).toEqual(['Embedding', 'GlobalAveragePooling1D', 'Dense', 'Dense']);
  }, 120_000);

  it('TF Lite export is refused naming the Embedding layer and what to do instead', () => {
    const r = topiary(['export', modelPath(e), '--format', 'tflite', '--quant', 'none', '--out', path.join(tmp, 'text-tflite'), '--json']);
    expect(r.code).not.toBe(0);
    expect(JSON.stringify(jsonOf(r).error ?? {})).toMatch(/layer \\"embedding\\" \(Embedding\) is not supported by the TFLite exporter; export --format tfjs instead/);
  }, 120_000);

  it('tfjs uint8 export verifies with the stock tfjs loader on its token data', () => {
    const out = path.join(tmp, 'text-tfjs');
    const r = topiary(['export', modelPath(e), '--format', 'tfjs', '--quant', 'uint8', '--calib', data, '--out', out, '--json']);
    const artifact = resultOf(r).artifact as { status: string; reason?: string };
    expect(artifact.status, artifact.reason).toBe('ok');
  }, 120_000);
});

import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeModel } from '../../../../src-main/engine/analyze';
import { exportTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadModel, saveModel } from '../../../../src-main/node/models';
import { loadLiteRtNode } from '../../../../src-main/node/verify/litert';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { handFlattened, teachableMachineModel } from '../../../fixtures/nested-models';
import { samplesFor } from '../verify/helpers';

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

describe('loadModel: nested models (tfjs folder)', () => {
  let dir: string;
  let nested: tf.LayersModel;
  let hand: tf.LayersModel;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'topiary-nested-'));
    nested = teachableMachineModel();
    hand = handFlattened(nested);
    await saveModel(nested, path.join(dir, 'tm'));
    await loadLiteRtNode();
  });
  afterAll(async () => {
    hand.dispose();
    nested.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('loads a Teachable-Machine-shaped folder as one flat model that predicts like the nested one', async () => {
    const saved = JSON.parse(await fs.readFile(path.join(dir, 'tm', 'model.json'), 'utf8'));
    expect((saved.modelTopology.model_config ?? saved.modelTopology).config.layers[0].class_name).toBe('Sequential');
    const before = tf.memory().numTensors;
    const loaded = await loadModel(path.join(dir, 'tm'));
    expect(loaded.model.layers.some((l) => l instanceof tf.LayersModel)).toBe(false);
    expect(loaded.model.layers.length).toBe(hand.layers.length);
    expect(loaded.nesting?.Conv1).toBe('sequential_1/mobilenet/Conv1');
    expect(loaded.nesting?.dense_Dense1).toBe('sequential_3/dense_Dense1');
    const x = tf.randomUniform([3, 32, 32, 3], -1, 1, 'float32', 9);
    const [a, b] = [nested, loaded.model].map((m) => m.predict(x) as tf.Tensor);
    expect(maxDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([x, a, b]);
    loaded.model.dispose();
    // Loading frees the nested model it read, not only the flat one it returns.
    expect(tf.memory().numTensors).toBe(before);
  });

  it('exports to TF Lite with the ops of the hand-flattened copy and verifies in LiteRT', async () => {
    const loaded = await loadModel(path.join(dir, 'tm', 'model.json'));
    const exported = exportTflite(loaded.model, { quant: 'none', sparse: 'never' });
    const reference = exportTflite(hand, { quant: 'none', sparse: 'never' });
    expect(exported.ops).toEqual(reference.ops);
    expect(exported.ops.map((o) => o.op)).toEqual(expect.arrayContaining(['PAD', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'ADD', 'MEAN', 'FULLY_CONNECTED', 'SOFTMAX']));
    const r = await verifyTflite(exported.bytes, loaded.model, samplesFor([32, 32, 3], 4), { latencyRuns: 0 });
    expect(r.reason).toBeUndefined();
    expect(r.passed).toBe(true);
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    loaded.model.dispose();
  });

  it('analyze lists every nested layer and computes peak memory on the flat graph', async () => {
    const loaded = await loadModel(path.join(dir, 'tm'));
    const a = analyzeModel(loaded.model, { sources: loaded.nesting, gzip: false });
    const h = analyzeModel(hand, { gzip: false });
    // The nested model analysed directly (no load) is flattened the same way.
    const direct = analyzeModel(nested, { gzip: false });
    for (const x of [a, direct]) {
      expect(x.layers.map((l) => l.name)).toEqual(h.layers.map((l) => l.name));
      expect(x.macs).toBe(h.macs);
      expect(x.params).toBe(h.params);
      expect(Math.abs(x.peakActivationBytes - h.peakActivationBytes)).toBeLessThanOrEqual(0.1 * h.peakActivationBytes);
      expect(x.peakActivationBytes).toBe(h.peakActivationBytes);
    }
    expect(direct.className).toBe('Sequential');
    expect(a.layers.find((l) => l.name === 'block_1_depthwise')?.source).toBe('sequential_1/mobilenet/block_1_depthwise');
    expect(a.layers.find((l) => l.name === 'input_1')?.source).toBeUndefined();
    loaded.model.dispose();
  });
});

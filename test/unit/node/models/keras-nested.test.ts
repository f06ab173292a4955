import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportTflite } from '../../../../src-main/engine/export/tflite/index';
import { disposeModelWeights } from '../../../../src-main/engine/models';
import { loadModel } from '../../../../src-main/node/models';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { handFlattened, teachableMachineModel } from '../../../fixtures/nested-models';
import { functionalConfig, layerWeights, sequentialConfig, writeKeras3, type LayerSpec } from '../keras/fixtures';
import { samplesFor } from '../verify/helpers';

// Written by Keras itself (test/fixtures/keras/make_nested_h5.py), with Keras' own predictions.
const dir = path.resolve(__dirname, '../../../fixtures/keras');
const file = path.join(dir, 'teachable-machine-nested.h5');
const reference = JSON.parse(readFileSync(path.join(dir, 'teachable-machine-nested.json'), 'utf8')) as { inputShape: number[]; predictions: number[][] };

describe('loadModel: a nested Keras .h5 saved by Keras', () => {
  it('loads flat and predicts what Keras predicted', async () => {
    const loaded = await loadModel(file);
    expect(loaded.format).toBe('keras-h5');
    expect(loaded.model.layers.some((l) => l instanceof tf.LayersModel)).toBe(false);
    expect(loaded.nesting?.block_1_depthwise).toBe('sequential_1/mobilenet/block_1_depthwise');
    expect(loaded.nesting?.dense_Dense2).toBe('sequential_3/dense_Dense2');
    const n = reference.inputShape.reduce((a, d) => a * d, 1);
    const x = tf.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i)), reference.inputShape);
    const y = loaded.model.predict(x) as tf.Tensor;
    const got = y.arraySync() as number[][];
    got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - reference.predictions[i][j])).toBeLessThan(1e-5)));
    tf.dispose([x, y]);
    loaded.model.dispose();
  });

  it('exports to TF Lite with the same ops as the hand-flattened network and verifies in LiteRT', async () => {
    const loaded = await loadModel(file);
    const nested = teachableMachineModel();
    const hand = handFlattened(nested);
    const ops = exportTflite(loaded.model, { quant: 'none', sparse: 'never' });
    expect(ops.ops).toEqual(exportTflite(hand, { quant: 'none', sparse: 'never' }).ops);
    const r = await verifyTflite(ops.bytes, loaded.model, samplesFor([32, 32, 3], 4), { latencyRuns: 0 });
    expect(r.passed).toBe(true);
    expect(r.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    [hand, nested, loaded.model].forEach((m) => m.dispose());
    // A nested model's weights outlive its dispose() (tfjs counts its construction as a use): what the app does.
    disposeModelWeights(nested);
  });
});

describe('loadModel: a nested Keras 3 .keras', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'topiary-keras-nested-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('a Sequential inside a functional model loads flat, with its layers\' nesting and the same predictions', async () => {
    const block = tf.sequential({ name: 'block', layers: [tf.layers.dense({ inputShape: [6], units: 4, activation: 'relu', name: 'inner_dense' }), tf.layers.dense({ units: 4, name: 'inner_proj' })] });
    const input = tf.input({ shape: [6], name: 'input_layer' });
    const ref = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3, name: 'head' }).apply(block.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor });
    const specs: LayerSpec[] = [
      { cls: 'Dense', name: 'inner_dense', units: 4, activation: 'relu' },
      { cls: 'Dense', name: 'inner_proj', units: 4, activation: 'linear' },
    ];
    const inner = sequentialConfig([6], specs, 'k3') as { config: { name: string; layers: { config: { name: string } }[] } };
    inner.config.name = 'block';
    inner.config.layers[0].config.name = 'input_layer_1'; // Keras keeps names unique across the whole model
    const f = functionalConfig({ inputShape: [6], layers: [{ spec: { cls: 'Flatten', name: 'block' }, inputs: ['input'] }, { spec: { cls: 'Dense', name: 'head', units: 3, activation: 'linear' }, inputs: ['block'] }], output: 'head' }, 'k3') as {
      config: { layers: Record<string, unknown>[] };
    };
    f.config.layers[1] = { ...f.config.layers[1], class_name: 'Sequential', module: 'keras', registered_name: null, config: inner.config };
    // Keras 3 stores weights under per-class counters in model order, not layer names: the head is
    // the functional's first Dense (`dense`), the block's Dense layers are `sequential/layers/dense(_1)`.
    const byName = layerWeights(ref);
    const weights = new Map([['dense', byName.get('head')!]]);
    block.layers.forEach((l, i) => weights.set(`sequential/layers/dense${i === 0 ? '' : `_${i}`}`, l.weights.map((w) => ({ name: w.originalName, values: w.read().dataSync() as Float32Array, shape: [...w.shape] as number[] }))));
    const file = path.join(tmp, 'nested.keras');
    await writeKeras3(file, f as never, weights, tmp);

    const loaded = await loadModel(file);
    expect(loaded.format).toBe('keras-v3');
    expect(loaded.model.layers.map((l) => l.name)).toEqual(['input_layer', 'inner_dense', 'inner_proj', 'head']);
    expect(loaded.nesting).toEqual({ inner_dense: 'block/inner_dense', inner_proj: 'block/inner_proj' });
    const x = tf.randomNormal([3, 6], 0, 1, 'float32', 4);
    const [a, b] = [ref, loaded.model].map((m) => m.predict(x) as tf.Tensor);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBeLessThan(1e-6);
    tf.dispose([x, a, b]);
    loaded.model.dispose();
    ref.dispose();
  });
});

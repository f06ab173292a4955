import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportTflite } from '../../../../src-main/engine/export/tflite/index';
import { loadModel } from '../../../../src-main/node/models';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { handFlattened, teachableMachineModel } from '../../../fixtures/nested-models';
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
  });
});

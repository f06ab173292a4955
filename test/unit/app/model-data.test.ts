import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { autoInputScale, loadDatasetForModel, resolveInputScale } from '../../../src-main/app/model-data';
import { pngBytesOf, tempDir, writeFile, writeIdxDir } from '../node/datasets/fixtures';

const root = tempDir('topiary-model-data-');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function smallCnn(inputShape: number[]): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape, filters: 2, kernelSize: 3, name: 'c1' }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
}

/** A Teachable-Machine-like model: a nested functional "MobileNet" with a Conv1 + bn_Conv1 stem. */
function mobileNetLike(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3] });
  let h = tf.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2, name: 'Conv1' }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn_Conv1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const base = tf.model({ inputs: input, outputs: h, name: 'model1' });
  return tf.sequential({ layers: [base, tf.layers.dense({ units: 2, activation: 'softmax' })] });
}

describe('input scale', () => {
  it('auto is [0, 1] for a plain CNN, [-1, 1] for a MobileNet stem, 0..255 after a Rescaling layer', () => {
    const start = tf.memory().numTensors;
    const plain = smallCnn([8, 8, 3]);
    const mobile = mobileNetLike();
    const rescaled = tf.sequential({
      layers: [tf.layers.rescaling({ inputShape: [8, 8, 3], scale: 1 / 255 }), tf.layers.flatten(), tf.layers.dense({ units: 2 })],
    });
    expect(autoInputScale(plain).inputScale).toBe('0-1');
    expect(autoInputScale(mobile)).toEqual({ inputScale: '-1-1', reason: expect.stringMatching(/MobileNetV2 stem/) });
    expect(autoInputScale(rescaled).inputScale).toBe('0-255');
    expect(resolveInputScale(mobile, '0-1')).toEqual({ inputScale: '0-1', reason: 'asked for' });
    expect(resolveInputScale(plain, undefined).inputScale).toBe('0-1');
    expect(() => resolveInputScale(plain, 'x' as '0-1')).toThrow(ConfigError);
    for (const m of [plain, mobile, rescaled]) m.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('loadDatasetForModel', () => {
  it('fits an image folder to the model input and reports what it did', async () => {
    const dir = path.join(root, 'photos');
    for (const [c, v] of [['a', 30], ['b', 220]] as const) {
      for (let i = 0; i < 3; i++) writeFile(path.join(dir, c, `${i}.png`), pngBytesOf(20 + i * 7, 11, () => [v, v, v, 255], { colorType: 2 }));
    }
    const model = mobileNetLike();
    const { dataset, prep } = await loadDatasetForModel(model, `images:${dir}`, { resize: 'pad' });
    expect(dataset.sampleShape).toEqual([8, 8, 3]);
    expect(prep.inputScale).toBe('-1-1');
    expect(prep.resize).toBe('pad');
    expect(prep.summary).toMatch(/\[-1, 1\].*MobileNetV2.*pad/);
    const { x, y } = dataset.train.take([0]);
    // centre pixel of class a (30) at x/127.5 - 1
    const centre = x[(4 * 8 + 4) * 3];
    expect(centre).toBeCloseTo((y[0] === 0 ? 30 : 220) / 127.5 - 1, 2);
    model.dispose();
  });

  it('keeps the strict shape check for formats that are not image folders', async () => {
    const dir = path.join(root, 'idx');
    writeIdxDir(dir, { train: 4, test: 2, h: 4, w: 4 });
    const model = smallCnn([8, 8, 1]);
    await expect(loadDatasetForModel(model, `idx:${dir}`)).rejects.toThrow(/samples of shape \[4, 4, 1\] but the model expects \[8, 8, 1\]/);
    model.dispose();
  });
});

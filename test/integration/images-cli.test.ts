/**
 * A folder of phone-style photos (JPEG and PNG, mixed sizes and colour modes, an EXIF-rotated JPEG)
 * through the CLI on a 224 x 224 x 3 model: every image is fitted to the model input, the input
 * scale `auto` is resolved and recorded with the run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src-main/node/models';
import { jpegBytes, jpegBytesWithExif, palettePngBytes, pngBytesOf, writeFile } from '../unit/node/datasets/fixtures';
import { cliIn } from '../support/cli';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-images-cli-'));
const photos = path.join(home, 'photos');
const modelDir = path.join(home, 'model224');

const topiary = cliIn(home, 480_000);

beforeAll(async () => {
  // Two classes told apart by colour; sizes and modes vary inside each class.
  const sky = (x: number, y: number): [number, number, number] => [40 + (x % 7), 90 + (y % 5), 220];
  const sun = (x: number, y: number): [number, number, number] => [230, 160 + ((x + y) % 9), 30];
  for (const [cls, c] of [['sky', sky], ['sun', sun]] as const) {
    writeFile(path.join(photos, cls, 'phone.jpg'), jpegBytesWithExif(320, 240, c, 6, 85));
    writeFile(path.join(photos, cls, 'wide.jpg'), jpegBytes(300, 120, c));
    writeFile(path.join(photos, cls, 'tall.png'), pngBytesOf(90, 260, (x, y) => [...c(x, y), 255], { colorType: 2 }));
    writeFile(path.join(photos, cls, 'alpha.png'), pngBytesOf(224, 224, (x, y) => [...c(x, y), 255 - (x % 64)], { colorType: 6 }));
    writeFile(path.join(photos, cls, 'deep.png'), pngBytesOf(150, 150, (x, y) => [...c(x, y), 255], { colorType: 6, bitDepth: 16 }));
    writeFile(path.join(photos, cls, 'grey.png'), pngBytesOf(100, 80, (x, y) => { const [r, g, b] = c(x, y); const v = Math.round((r + g + b) / 3); return [v, v, v, 255]; }, { colorType: 0 }));
    const [r, g, b] = c(0, 0);
    writeFile(path.join(photos, cls, 'palette.png'), palettePngBytes(64, 48, [[r, g, b], [r - 10, g, b]], (x) => x % 2));
    writeFile(path.join(photos, cls, 'small.jpg'), jpegBytes(40, 30, c));
  }
  // A MobileNetV2-style stem (Conv1 + bn_Conv1), so `auto` must resolve to [-1, 1].
  const input = tf.input({ shape: [224, 224, 3] });
  let h = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 4, name: 'Conv1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization({ name: 'bn_Conv1' }).apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU({}).apply(h) as tf.SymbolicTensor;
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, activation: 'softmax', name: 'head', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(h) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  await saveModel(model, modelDir);
  model.dispose();
});

afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('image folders through the CLI', () => {
  it('prune on a 224x224x3 model fits every photo and records the resolved input scale', () => {
    const r = topiary(['prune', modelDir, '--data', `images:${photos}`, '--epochs', '1', '--batch-size', '4', '--sparsity', '0.5', '--no-sensitivity', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout);
    expect(run.status).toBe('done');
    expect(r.stderr).not.toMatch(/skipped/);
    const shown = topiary(['runs', 'show', run.id, '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const detail = JSON.parse(shown.stdout);
    expect(detail.config.inputScale).toBe('-1-1');
    expect(detail.config.resize).toBe('crop');
    expect(detail.dataset.sampleShape).toEqual([224, 224, 3]);
    expect(detail.dataset.trainSize + detail.dataset.testSize).toBe(16);
  }, 600_000); // a run at 224x224x3 times latency at batch 64 twice: minutes on a busy 2-core machine

  it('evaluate takes --input-scale and --resize and reports them', () => {
    const r = topiary(['evaluate', modelDir, '--data', `images:${photos}`, '--input-scale', '0-1', '--resize', 'stretch', '--latency-runs', '1', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const e = JSON.parse(r.stdout);
    expect(e.data.inputScale).toBe('0-1');
    expect(e.data.resize).toBe('stretch');
    expect(e.data.warnings).toEqual([]);
  }, 300_000);

  it('a bad --resize is a usage error naming the choices', () => {
    const r = topiary(['evaluate', modelDir, '--data', `images:${photos}`, '--resize', 'squash']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--resize must be one of crop, stretch, pad/);
  });
});

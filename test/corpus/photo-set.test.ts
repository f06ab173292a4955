/**
 * The trained nested MobileNetV2-0.35 (tm-keras-waste, 224x224) on the public photo set
 * (test/fixtures/real-models/photo-set: 34 test photos of scikit-image's CC0 / public-domain data).
 *
 * Those photos are nothing like the waste the model was trained on, and on a few of them the float
 * model's own answer is chaotic: ±1 LSB of uniform input noise, far below what JPEG re-encoding
 * adds, changes its top-1. No quantized copy can be expected to agree there (nor can the float
 * model agree with itself), so agreement is judged on the photos whose answer survives that noise,
 * and the test also requires most photos to be such. See the corpus README for the figures.
 *
 * Also: fine-tuning the same model at the default batch size (64) over the photo folder's 68
 * training photos (one full batch of 64, then 4), as `topiary prune` runs it; it once crashed with
 * "memory access out of bounds" at this size.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDatasetForModel } from '../../src-main/app/model-data';
import { exportTfjs, tfjsMemoryHandler } from '../../src-main/engine/export/tfjs';
import { initBackend } from '../../src-main/node/backend';
import { loadModel } from '../../src-main/node/models';
import { resultOf, topiary } from './harness';

const corpus = path.resolve(__dirname, '..', 'fixtures', 'real-models');
const NOISE_DRAWS = 4;

describe('tm-keras-waste on the public photo set', () => {
  it('its uint8 tfjs export agrees on >= 99% of the photos whose float answer is stable', async () => {
    await initBackend({ force: 'wasm' });
    const { model } = await loadModel(path.join(corpus, 'models', 'tm-keras-waste', 'keras_model.h5'));
    const { dataset } = await loadDatasetForModel(model, `images:${path.join(corpus, 'photo-set')}`, { task: 'classification' });
    const n = dataset.test.size;
    expect(n).toBe(34);
    const x = tf.tensor(dataset.test.take(Int32Array.from({ length: n }, (_, i) => i)).x, [n, 224, 224, 3]);
    const top1 = (m: tf.LayersModel, input: tf.Tensor) => tf.tidy(() => (m.predict(input) as tf.Tensor).argMax(1).dataSync());
    const ref = top1(model, x);
    const stable = Array.from({ length: n }, () => true);
    for (let seed = 1; seed <= NOISE_DRAWS; seed++) {
      // One 8-bit step is 2/255 in the model's [-1, 1] input scale.
      const noisy = tf.tidy(() => x.add(tf.randomUniform(x.shape, -2 / 255, 2 / 255, 'float32', seed)));
      top1(model, noisy).forEach((c, i) => { if (c !== ref[i]) stable[i] = false; });
      noisy.dispose();
    }
    const out = await exportTfjs(model, { quant: 'uint8' });
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    const got = top1(back, x);
    const kept = stable.flatMap((s, i) => (s ? [i] : []));
    const agree = kept.filter((i) => got[i] === ref[i]).length;
    expect(kept.length, 'photos whose float top-1 survives ±1 LSB noise').toBeGreaterThanOrEqual(0.8 * n);
    expect(agree / kept.length, `uint8 agrees on ${agree} of ${kept.length} stable photos`).toBeGreaterThanOrEqual(0.99);
    back.dispose();
    model.dispose();
    x.dispose();
  }, 600_000);
});

describe('tm-keras-waste fine-tuned at the default batch size', () => {
  it('an epoch of 68 photos at 224x224 (a full batch of 64) finishes, the run done and its training path recorded', () => {
    const r = topiary([
      'prune', path.join(corpus, 'models', 'tm-keras-waste', 'keras_model.h5'), '--data', `images:${path.join(corpus, 'photo-set')}`,
      '--epochs', '1', '--no-sensitivity', '--eval-limit', '8', '--json',
    ], 1_500_000); // 7 minutes alone on a busy 2-core machine
    const run = resultOf(r) as unknown as {
      status: string;
      config: { finetune?: { batchSize?: number } };
      summary: { training: { path: string; microBatch: number; memoryNote?: string }[]; after: { accuracy: number } };
    };
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(run.status).toBe('done');
    expect(run.summary.training.length).toBeGreaterThan(0);
    const t = run.summary.training[0];
    // The whole batch of 64 in one step, or split into micro-batches that say why.
    expect(t.microBatch).toBeGreaterThanOrEqual(1);
    expect(t.microBatch).toBeLessThanOrEqual(64);
    if (t.microBatch < 64) expect(t.memoryNote).toMatch(/micro-batch/);
    expect(Number.isFinite(run.summary.after.accuracy)).toBe(true);
    // Progress with an ETA while it trained (after the first of its two steps).
    expect(r.stderr).toMatch(/finetune: 1\/2 \(50%\) ETA \d+s/);
  }, 1_600_000);
});

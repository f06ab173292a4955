/**
 * The trained nested MobileNetV2-0.35 (tm-keras-waste, 224x224) on the public photo set
 * (test/fixtures/real-models/photo-set: 34 test photos of scikit-image's CC0 / public-domain data).
 *
 * The uint8 export is calibrated on training photos only (48 distinct seeded samples of the train split, as
 * `topiary export --calib` does): the kernels whose uint8 error moves the outputs most are raised to
 * uint16 until the calibration photos all keep their class (see engine/export/tfjs-raise.ts).
 * Uncalibrated, uint8 agrees on 32 of the 34 test photos; calibrated, it must agree on >= 99% of
 * all of them and stay within the uint8 verification tolerance, while staying clearly smaller than
 * an all-uint16 export.
 *
 * Also: fine-tuning the same model at the default batch size (64) over the photo folder's 68
 * training photos (one full batch of 64, then 4), as `topiary prune` runs it; it once crashed with
 * "memory access out of bounds" at this size.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tfjsCalibrationSamples } from '../../src-main/app/export-service';
import { loadDatasetForModel } from '../../src-main/app/model-data';
import { exportTfjs, TFJS_VERIFY_TOLERANCE, tfjsMemoryHandler } from '../../src-main/engine/export/tfjs';
import { initBackend } from '../../src-main/node/backend';
import { loadModel } from '../../src-main/node/models';
import { resultOf, topiary } from './harness';

const corpus = path.resolve(__dirname, '..', 'fixtures', 'real-models');

describe('tm-keras-waste on the public photo set', () => {
  it('its calibrated uint8 tfjs export agrees on >= 99% of all 34 test photos', async () => {
    await initBackend({ force: 'wasm' });
    const { model } = await loadModel(path.join(corpus, 'models', 'tm-keras-waste', 'keras_model.h5'));
    const { dataset } = await loadDatasetForModel(model, `images:${path.join(corpus, 'photo-set')}`, { task: 'classification' });
    const n = dataset.test.size;
    expect(n).toBe(34);
    const x = tf.tensor(dataset.test.take(Int32Array.from({ length: n }, (_, i) => i)).x, [n, 224, 224, 3]);
    const ref = tf.tidy(() => model.predict(x) as tf.Tensor);
    const refTop = tf.tidy(() => ref.argMax(1).dataSync());
    const calibration = tfjsCalibrationSamples(dataset); // train split only
    const out = await exportTfjs(model, { quant: 'uint8', calibration });
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    const [diff, got] = tf.tidy(() => {
      const y = back.predict(x) as tf.Tensor;
      return [y.sub(ref).abs().max().dataSync()[0], y.argMax(1).dataSync()];
    }) as unknown as [number, Int32Array];
    const agree = Array.from(got).filter((c, i) => c === refTop[i]).length;
    expect(agree / n, `calibrated uint8 agrees on ${agree} of ${n} test photos`).toBeGreaterThanOrEqual(0.99);
    expect(diff).toBeLessThanOrEqual(TFJS_VERIFY_TOLERANCE.uint8.maxAbsDiff);
    expect(out.calibrated?.met).toBe(true);
    expect(out.calibrated!.raised.length).toBeGreaterThan(0);
    const allUint16 = await exportTfjs(model, { quant: 'uint16' });
    expect(out.weightBytes).toBeLessThan(0.9 * allUint16.weightBytes);
    back.dispose();
    model.dispose();
    tf.dispose([x, ref]);
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

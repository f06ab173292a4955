/**
 * tm-keras-waste (nested MobileNetV2-0.35) uint8 tfjs export on the photo set, with and without
 * calibration-driven uint16 raising: top-1 agreement and max |diff| vs float on all 34 test photos,
 * weight bytes, and the kernels raised. Calibration: 48 seeded samples of the train split only.
 * Run: npx tsx test/bench/tfjs-mixed-precision.ts
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { tfjsCalibrationSamples } from '../../src-main/app/export-service';
import { loadDatasetForModel } from '../../src-main/app/model-data';
import { exportTfjs, tfjsMemoryHandler, type TfjsExport } from '../../src-main/engine/export/tfjs';
import { initBackend } from '../../src-main/node/backend';
import { loadModel } from '../../src-main/node/models';

const corpus = path.resolve(process.cwd(), 'test', 'fixtures', 'real-models');

async function main(): Promise<void> {
  await initBackend({ force: 'wasm' });
  const { model } = await loadModel(path.join(corpus, 'models', 'tm-keras-waste', 'keras_model.h5'));
  const { dataset } = await loadDatasetForModel(model, `images:${path.join(corpus, 'photo-set')}`, { task: 'classification' });
  const n = dataset.test.size;
  const x = tf.tensor(dataset.test.take(Int32Array.from({ length: n }, (_, i) => i)).x, [n, 224, 224, 3]);
  const ref = tf.tidy(() => model.predict(x) as tf.Tensor);
  const refTop = tf.tidy(() => ref.argMax(1).dataSync());
  const judge = async (label: string, out: TfjsExport, ms: number) => {
    const back = await tf.loadLayersModel(tfjsMemoryHandler(out));
    const [diff, top] = tf.tidy(() => {
      const y = back.predict(x) as tf.Tensor;
      return [y.sub(ref).abs().max().dataSync()[0], y.argMax(1).dataSync()];
    }) as unknown as [number, Int32Array];
    const agree = Array.from(top).filter((c, i) => c === refTop[i]).length;
    console.log(`${label}: agreement ${agree}/${n} (${((100 * agree) / n).toFixed(1)}%), max|diff| ${diff.toFixed(4)}, weight bytes ${out.weightBytes}, uint16 ${out.uint16Raised.length}, export ${(ms / 1000).toFixed(1)} s`);
    back.dispose();
  };
  for (const quant of process.env.SKIP_PLAIN ? [] : (['none', 'uint16', 'uint8'] as const)) {
    const t0 = performance.now();
    const out = await exportTfjs(model, { quant });
    await judge(quant, out, performance.now() - t0);
  }
  const calibration = tfjsCalibrationSamples(dataset, Number(process.env.CALIB ?? 48));
  const t0 = performance.now();
  const raiseTarget = process.env.TARGET_DIFF ? { top1Agreement: 1, maxAbsDiff: Number(process.env.TARGET_DIFF) } : undefined;
  const out = await exportTfjs(model, { quant: 'uint8', calibration, raiseTarget, onProgress: (d, t) => process.stderr.write(`\rcalibrating ${d}/${t}`) });
  process.stderr.write('\n');
  await judge('uint8 + calibrated raising', out, performance.now() - t0);
  const c = out.calibrated!;
  console.log(`calibration: before ${JSON.stringify(c.before)} after ${JSON.stringify(c.after)} met ${c.met} evaluations ${c.evaluations}`);
  console.log(`raised by measurement (${c.raised.length}): ${c.raised.map((r) => `${r.name} ${r.sensitivity.toExponential(2)}`).join(', ')}`);
}

void main();

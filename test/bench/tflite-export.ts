/**
 * TFLite export on LeNet-5 (Fashion-MNIST when /usr/share/datasets/fashion-mnist exists, else
 * synthetic data labelled by the model): each numeric mode exported, run by LiteRT on the test
 * samples, compared with the tfjs model.
 *
 *   npx tsx test/bench/tflite-export.ts [testSamples=2000] [trainSamples=12000] [epochs=2] [--json]
 *
 * Targets (issue 5): float32 max abs diff <= 1e-4 and >= 99.9% same top-1; full int8 accuracy within
 * 1 point of float32; int8 file <= 0.3x of float32. Also: Dense kernels pruned to 90% zeros, float32
 * file with CSR + DENSIFY vs dense. Exit code 1 if a target is missed.
 */
import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { exportTflite, type TfliteQuant } from '../../src-main/engine/export/tflite/index';
import { compileClassifier, labelTensor } from '../../src-main/engine/models/compile';
import { lenet5 } from '../../src-main/engine/models/lenet';
import { initBackend } from '../../src-main/node/backend';
import { fashionMnistDir, loadDataset } from '../../src-main/node/datasets/index';
import { verifyTflite } from '../../src-main/node/verify/verify';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const TEST_N = Number(args[0] ?? 2000);
const TRAIN_N = Number(args[1] ?? 12000);
const EPOCHS = Number(args[2] ?? 2);
const JSON_OUT = process.argv.includes('--json');
const log = (...m: unknown[]): void => console.error(...m);

function range(n: number, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => i + offset);
}

async function main(): Promise<void> {
  const backend = await initBackend({ force: 'wasm' }).catch(() => initBackend({ force: 'cpu' }));
  const model = lenet5({ seed: 1 });
  const shape = [28, 28, 1];
  const per = 784;
  let test: { x: Float32Array; y: Int32Array | Float32Array };
  let calibration: Float32Array;
  let data: string;
  if (fs.existsSync(fashionMnistDir())) {
    data = 'fashion-mnist';
    const ds = await loadDataset('fashion-mnist');
    const trainN = Math.min(TRAIN_N, ds.train.size);
    const train = ds.train.take(range(trainN));
    compileClassifier(model, { optimizer: 'adam', learningRate: 1e-3 });
    const xs = tf.tensor(train.x, [trainN, ...shape]);
    const ys = labelTensor(train.y);
    const t0 = performance.now();
    await model.fit(xs, ys, { epochs: EPOCHS, batchSize: 64, verbose: 0 });
    log(`trained LeNet-5 on ${trainN} samples x ${EPOCHS} epochs in ${((performance.now() - t0) / 1000).toFixed(1)} s (${backend.name})`);
    tf.dispose([xs, ys]);
    test = ds.test.take(range(Math.min(TEST_N, ds.test.size)));
    calibration = ds.train.take(range(200, trainN < ds.train.size ? trainN : 0)).x;
  } else {
    data = 'synthetic (fashion-mnist not installed)';
    const rand = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random());
    const x = rand(TEST_N * per);
    const y = tf.tidy(() => (model.predict(tf.tensor(x, [TEST_N, ...shape])) as tf.Tensor).argMax(-1).dataSync() as Int32Array);
    test = { x, y: Int32Array.from(y) };
    calibration = rand(200 * per);
  }

  const rows: Record<string, unknown>[] = [];
  let float32Bytes = 0;
  let float32Acc = 0;
  const misses: string[] = [];
  for (const quant of ['none', 'float16', 'dynamic-int8', 'int8'] as TfliteQuant[]) {
    const t0 = performance.now();
    const exp = exportTflite(model, { quant, calibration: quant === 'int8' ? calibration : undefined });
    const exportMs = performance.now() - t0;
    const r = await verifyTflite(exp.bytes, model, { ...test, sampleShape: shape }, { latencyRuns: 200 });
    if (quant === 'none') {
      float32Bytes = exp.bytes.length;
      float32Acc = r.accuracy ?? 0;
    }
    const row = {
      quant,
      bytes: exp.bytes.length,
      sizeRatio: +(exp.bytes.length / float32Bytes).toFixed(3),
      exportMs: +exportMs.toFixed(1),
      maxAbsDiff: r.maxAbsDiff,
      meanAbsDiff: r.meanAbsDiff,
      top1Agreement: r.top1Agreement,
      accuracy: r.accuracy,
      referenceAccuracy: r.referenceAccuracy,
      accuracyVsFloat32File: r.accuracy === null ? null : +(r.accuracy - float32Acc).toFixed(4),
      latencyMs: +r.latencyMs.toFixed(3),
      passed: r.passed,
      reason: r.reason,
    };
    rows.push(row);
    if (!r.passed) misses.push(`${quant}: ${r.reason}`);
    if (quant === 'int8' && row.sizeRatio > 0.3) misses.push(`int8 size ratio ${row.sizeRatio} > 0.3`);
  }
  // Sparse encoding: magnitude-prune every Dense kernel to 90% zeros, then compare dense vs CSR files.
  const pruned = lenet5({ seed: 1 });
  pruned.setWeights(model.getWeights());
  for (const layer of pruned.layers.filter((l) => l.getClassName() === 'Dense')) {
    const [k, b] = layer.getWeights();
    const v = k.dataSync().slice();
    const cut = Float32Array.from(v, Math.abs).sort()[Math.floor(v.length * 0.9)];
    for (let i = 0; i < v.length; i++) if (Math.abs(v[i]) < cut) v[i] = 0;
    const kt = tf.tensor(v, k.shape);
    layer.setWeights([kt, b]);
    kt.dispose();
  }
  const denseFile = exportTflite(pruned, { quant: 'none', sparse: 'never' });
  const sparseFile = exportTflite(pruned, { quant: 'none', sparse: 'auto' });
  const sv = await verifyTflite(sparseFile.bytes, pruned, { ...test, sampleShape: shape }, { latencyRuns: 200 });
  const dv = await verifyTflite(denseFile.bytes, pruned, { ...test, sampleShape: shape }, { latencyRuns: 200 });
  const sparseRow = {
    denseBytes: denseFile.bytes.length,
    sparseBytes: sparseFile.bytes.length,
    sizeRatio: +(sparseFile.bytes.length / denseFile.bytes.length).toFixed(3),
    densifyOps: sparseFile.ops.filter((o) => o.op === 'DENSIFY').length,
    maxAbsDiff: sv.maxAbsDiff,
    top1Agreement: sv.top1Agreement,
    latencyMsDense: +dv.latencyMs.toFixed(3),
    latencyMsSparse: +sv.latencyMs.toFixed(3),
    passed: sv.passed,
  };
  if (!sv.passed) misses.push(`sparse: ${sv.reason}`);

  const report = { model: 'lenet5', data, testSamples: test.y.length, backend: backend.name, runtime: 'litert (wasm)', rows, sparse90: sparseRow, misses };
  if (JSON_OUT) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(`LeNet-5 on ${data}, ${test.y.length} test samples; LiteRT wasm, batch 1`);
    console.table(rows.map(({ reason: _r, ...rest }) => rest));
    console.log('LeNet-5 with Dense kernels magnitude-pruned to 90% zeros, float32, sparse auto vs never:');
    console.table([sparseRow]);
    for (const m of misses) console.log(`MISS ${m}`);
  }
  process.exitCode = misses.length ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});

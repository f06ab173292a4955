/**
 * Mask-preserving quantization-aware fine-tuning on Fashion-MNIST, LeNet-5: does QAT bring the int8
 * .tflite's accuracy back to the float32 model's, and do the zeros survive into the file?
 *
 * Per sparsity (magnitude, global, one-shot): three runs from the same trained dense model, same seed,
 * the same number of epochs after pruning:
 *   A "no QAT":  prune -> E + Q float epochs                                 -> int8 export (post-training quantization)
 *   C "low lr":  prune -> E float epochs -> Q float epochs at the QAT rate   -> int8 export (control: QAT's lower rate, no fake quant)
 *   B "QAT":     prune -> E float epochs -> Q QAT epochs (masks frozen)      -> int8 export
 * Accuracy on the full test split (10,000): float32 by tfjs, int8 by LiteRT running the exported
 * file (the same check the verify step does). Zeros counted in the .tflite file itself. Also the
 * file sizes vs the float32 export (int8 weights stored CSR + DENSIFY -> RESHAPE when smaller) and
 * tfjs shard sizes as a browser downloads them (raw, gzip, brotli).
 *
 *   npx tsx test/bench/qat.ts [denseEpochs=4] [finetuneEpochs=2] [qatEpochs=1] [--json]
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { parsePruneConfig } from '../../src-main/common/prune-config';
import { calibrationSamples, verificationSamples } from '../../src-main/app/export-service';
import { exportTfjs, tfjsFolderFiles } from '../../src-main/engine/export/tfjs';
import { countTfliteZeros, exportTflite } from '../../src-main/engine/export/tflite/index';
import { cloneModel } from '../../src-main/engine/finetune/clone';
import { evaluateModel } from '../../src-main/engine/finetune/evaluate';
import { finetuneMasked } from '../../src-main/engine/finetune/trainer';
import { lenet5 } from '../../src-main/engine/models/lenet';
import type { PruneProgress } from '../../src-main/engine/prune/types';
import { runPruning } from '../../src-main/engine/prune/run';
import { initBackend } from '../../src-main/node/backend';
import { loadDataset } from '../../src-main/node/datasets';
import { downloadSizes } from '../../src-main/node/export/download-sizes';
import { verifyTflite } from '../../src-main/node/verify/verify';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const DENSE_EPOCHS = Number(args[0] ?? 4);
const FT_EPOCHS = Number(args[1] ?? 2);
const QAT_EPOCHS = Number(args[2] ?? 1);
const SPARSITIES = (process.env.QAT_SPARSITIES ?? '0.8,0.9').split(',').map(Number);
const JSON_OUT = process.argv.includes('--json');
const BATCH = 64;
const log = (...m: unknown[]): void => console.error(...m);
const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;

function epochLogger(label: string): (p: PruneProgress) => void {
  let t0 = performance.now();
  return (p) => {
    if (p.phase !== 'epoch') return;
    log(`  ${label} epoch ${p.epoch + 1}: loss ${p.loss.toFixed(4)} acc ${pct(p.accuracy)} sparsity ${pct(p.sparsity)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
    t0 = performance.now();
  };
}

async function main(): Promise<void> {
  const backend = await initBackend();
  const data = await loadDataset('fashion-mnist');
  log(`backend ${backend.name}; train ${data.train.size}, test ${data.test.size}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const dense = lenet5({ seed: 1 });
  await finetuneMasked(dense, data.train, { epochs: DENSE_EPOCHS, batchSize: BATCH, learningRate: 1e-3, optimizer: 'adam' }, { masks: new Map(), seed: 1, onProgress: epochLogger('dense') });
  const denseAcc = evaluateModel(dense, data.test, { batchSize: 1000 }).accuracy;
  log(`dense float32 ${pct(denseAcc)}`);
  const samples = verificationSamples(dense, data, data.test.size);
  const calibration = calibrationSamples(data);
  const float32Bytes = exportTflite(dense, { quant: 'none', sparse: 'never' }).bytes.length;

  const rows = [];
  for (const sparsity of SPARSITIES) {
    const run = async (kind: 'float' | 'low-lr' | 'qat') => {
      const model = await cloneModel(dense);
      const finetune =
        kind === 'qat'
          ? { epochs: FT_EPOCHS, batchSize: BATCH, learningRate: 1e-3, qat: { epochs: QAT_EPOCHS } }
          : { epochs: kind === 'float' ? FT_EPOCHS + QAT_EPOCHS : FT_EPOCHS, batchSize: BATCH, learningRate: 1e-3 };
      const cfg = parsePruneConfig({ method: 'magnitude', scope: 'global', sparsity, schedule: { kind: 'oneshot' }, finetune, seed: 2 });
      const t0 = performance.now();
      const res = await runPruning(model, data, cfg, { onProgress: epochLogger(`${sparsity} ${kind}`) });
      if (kind === 'low-lr') {
        // QAT's epochs and rate (QAT_DEFAULTS: a tenth), without fake quantization; masks = the zeros.
        const masks = new Map(
          model.trainableWeights.filter((w) => w.name.endsWith('kernel')).map((w) => [w.name, tf.tidy(() => tf.notEqual(w.read(), 0).toFloat())]),
        );
        await finetuneMasked(model, data.train, { epochs: QAT_EPOCHS, batchSize: BATCH, learningRate: 1e-4, optimizer: 'adam' }, { masks, seed: 2 + 7919, onProgress: epochLogger(`${sparsity} low-lr tail`) });
        for (const m of masks.values()) m.dispose();
      }
      const seconds = (performance.now() - t0) / 1000;
      const float32Acc = evaluateModel(model, data.test, { batchSize: 1000 }).accuracy;
      const int8 = exportTflite(model, { quant: 'int8', calibration, sparse: 'always' });
      const int8Dense = exportTflite(model, { quant: 'int8', calibration, sparse: 'never' });
      const v = await verifyTflite(int8.bytes, model, samples, { mode: 'int8' });
      const vDense = await verifyTflite(int8Dense.bytes, model, samples, { mode: 'int8' });
      const zeros = countTfliteZeros(int8.bytes);
      const tfjs = await exportTfjs(model, { quant: 'none' });
      const tfjsU8 = await exportTfjs(model, { quant: 'uint8' });
      const shards = (out: typeof tfjs) => downloadSizes(tfjsFolderFiles(out).filter((f) => f.name.endsWith('.bin'))).total;
      const training = res.training.map((t) => `${t.path}${t.qat ? ' (QAT)' : ''}${t.note ? `: ${t.note}` : ''}`).join('; ');
      model.dispose();
      return {
        float32Acc,
        int8Acc: v.accuracy ?? NaN,
        int8DenseAcc: vDense.accuracy ?? NaN,
        int8Passed: v.passed,
        sparseMatchesDense: vDense.accuracy === v.accuracy,
        int8Bytes: int8.bytes.length,
        int8DenseBytes: int8Dense.bytes.length,
        zeros,
        achievedSparsity: res.plan.achievedSparsity,
        tfjsFloat32Shards: shards(tfjs),
        tfjsUint8Shards: shards(tfjsU8),
        training,
        seconds,
      };
    };
    const a = await run('float');
    const c = await run('low-lr');
    const b = await run('qat');
    const row = {
      sparsity,
      achievedSparsity: Number(b.achievedSparsity.toFixed(4)),
      float32Acc: Number((a.float32Acc * 100).toFixed(2)),
      int8NoQatAcc: Number((a.int8Acc * 100).toFixed(2)),
      int8QatAcc: Number((b.int8Acc * 100).toFixed(2)),
      lowLrFloat32Acc: Number((c.float32Acc * 100).toFixed(2)),
      lowLrInt8Acc: Number((c.int8Acc * 100).toFixed(2)),
      qatFloat32Acc: Number((b.float32Acc * 100).toFixed(2)),
      gapNoQatPoints: Number(((a.float32Acc - a.int8Acc) * 100).toFixed(2)),
      gapQatPoints: Number(((a.float32Acc - b.int8Acc) * 100).toFixed(2)),
      gapLowLrPoints: Number(((c.float32Acc - c.int8Acc) * 100).toFixed(2)),
      /** QAT int8 vs the float32 of the control with the same epochs and rate. */
      gapQatVsLowLrFloatPoints: Number(((c.float32Acc - b.int8Acc) * 100).toFixed(2)),
      withinTarget: a.float32Acc - b.int8Acc <= 0.003 && c.float32Acc - b.int8Acc <= 0.003,
      zerosInFile: b.zeros.zeros,
      weightsInFile: b.zeros.weights,
      zeroFractionInFile: Number((b.zeros.zeros / b.zeros.weights).toFixed(4)),
      sparseTensors: b.zeros.sparseTensors,
      int8Passed: b.int8Passed,
      sparseFileAgreesWithDenseInt8: b.sparseMatchesDense && a.sparseMatchesDense,
      float32Bytes,
      int8Bytes: b.int8Bytes,
      int8Ratio: Number((b.int8Bytes / float32Bytes).toFixed(3)),
      int8DenseBytes: b.int8DenseBytes,
      int8DenseRatio: Number((b.int8DenseBytes / float32Bytes).toFixed(3)),
      tfjsFloat32Shards: b.tfjsFloat32Shards,
      tfjsUint8Shards: b.tfjsUint8Shards,
      trainingNoQat: a.training,
      trainingQat: b.training,
      secondsNoQat: Number(a.seconds.toFixed(0)),
      secondsQat: Number(b.seconds.toFixed(0)),
    };
    rows.push(row);
    log(JSON.stringify(row));
  }
  dense.dispose();
  const result = { backend: backend.name, denseEpochs: DENSE_EPOCHS, finetuneEpochs: FT_EPOCHS, qatEpochs: QAT_EPOCHS, denseAccuracy: Number((denseAcc * 100).toFixed(2)), loadavg: os.loadavg(), rows };
  if (JSON_OUT) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(`LeNet-5 on Fashion-MNIST (${backend.name}); dense ${DENSE_EPOCHS} epochs: ${result.denseAccuracy}%; after pruning ${FT_EPOCHS} epochs + ${QAT_EPOCHS} (float or QAT)`);
  console.log('| sparsity | A float32 | A int8 (no QAT) | C float32 / int8 (low-lr control) | B int8 (QAT) | gap A / C / B vs A (pt) | zeros in B int8 file | int8 bytes (x float32) | dense-int8 bytes | tfjs f32 shards raw/gz/br | tfjs uint8 shards raw/gz/br |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const s = (x: { rawBytes: number; gzipBytes: number; brotliBytes: number }) => `${x.rawBytes}/${x.gzipBytes}/${x.brotliBytes}`;
    console.log(
      `| ${r.sparsity} | ${r.float32Acc}% | ${r.int8NoQatAcc}% | ${r.lowLrFloat32Acc}% / ${r.lowLrInt8Acc}% | ${r.int8QatAcc}% | ${r.gapNoQatPoints} / ${r.gapLowLrPoints} / ${r.gapQatPoints} | ${r.zerosInFile}/${r.weightsInFile} (${pct(r.zeroFractionInFile)}) | ${r.int8Bytes} (x${r.int8Ratio}) | ${r.int8DenseBytes} (x${r.int8DenseRatio}) | ${s(r.tfjsFloat32Shards)} | ${s(r.tfjsUint8Shards)} |`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Structured pruning at 50% of units/filters on LeNet-5 and LeNet-300-100: MACs ratio and measured
 * inference latency ratio (dense / pruned) at batch 1 and 64 on the wasm backend. Dense and pruned
 * runs are interleaved and medians compared, so the shared machine's drift hits both alike.
 *
 *   npx tsx test/bench/structured.ts [runs=100] [sparsity=0.5] [--json]
 *       [--accuracy] [--epochs=3] [--finetune-epochs=2] [--samples=60000]
 *
 * `--accuracy` also trains each dense model on Fashion-MNIST (the Debian files), prunes it and
 * fine-tunes the pruned model, and reports test accuracy before and after (slow: minutes).
 * Targets (issue 3): MACs <= 0.5x of dense, latency >= 1.5x faster, accuracy within 1.5 points after
 * fine-tuning. Exit code 1 if MACs miss.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataSplit } from '../../src-main/engine/data';
import { evaluateModel } from '../../src-main/engine/finetune/evaluate';
import { finetuneMasked } from '../../src-main/engine/finetune/trainer';
import { lenet300100, lenet5 } from '../../src-main/engine/models/lenet';
import { pruneStructured } from '../../src-main/engine/prune/structured';
import { initBackend } from '../../src-main/node/backend';
import { exportTflite } from '../../src-main/engine/export/tflite';
import { verifyTflite } from '../../src-main/node/verify/verify';
import { loadDataset } from '../../src-main/node/datasets/index';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const RUNS = Number(args[0] ?? 100);
const SPARSITY = Number(args[1] ?? 0.5);
const JSON_OUT = process.argv.includes('--json');
const flag = (name: string, fallback: number): number => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? Number(hit.split('=')[1]) : fallback;
};
const ACCURACY = process.argv.includes('--accuracy');
const EPOCHS = flag('epochs', 3);
const FINETUNE_EPOCHS = flag('finetune-epochs', 2);
const SAMPLES = flag('samples', 60000);

async function train(model: tf.LayersModel, split: DataSplit, epochs: number): Promise<void> {
  const cfg = { epochs, batchSize: 64, learningRate: 1e-3, optimizer: 'adam' as const, maxSamplesPerEpoch: SAMPLES };
  await finetuneMasked(model, split, cfg, { masks: new Map(), seed: 1 });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeOnce(model: tf.LayersModel, x: tf.Tensor): number {
  const t0 = performance.now();
  // One call for the whole batch (predict would otherwise split 64 into two batches of 32).
  tf.tidy(() => (model.predict(x, { batchSize: x.shape[0] }) as tf.Tensor).dataSync());
  return performance.now() - t0;
}

/**
 * Median and minimum latency (ms) of dense and pruned, alternating runs after a warm-up. On a
 * shared machine the minimum is the least disturbed by other processes; report both.
 */
function latency(dense: tf.LayersModel, pruned: tf.LayersModel, batch: number): { dense: number; pruned: number; denseMin: number; prunedMin: number } {
  const x = tf.randomUniform([batch, 28, 28, 1]);
  // wasm kernels and V8 need a few dozen calls before timings settle.
  for (let i = 0; i < 30; i++) {
    timeOnce(dense, x);
    timeOnce(pruned, x);
  }
  const d: number[] = [];
  const p: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    d.push(timeOnce(dense, x));
    p.push(timeOnce(pruned, x));
  }
  x.dispose();
  return { dense: median(d), pruned: median(p), denseMin: Math.min(...d), prunedMin: Math.min(...p) };
}

/**
 * Batch-1 latency in LiteRT (the runtime the model ships to) of the float32 .tflite files, dense and
 * pruned measured alternately, median of the per-round medians.
 */
async function liteRtLatency(dense: tf.LayersModel, pruned: tf.LayersModel): Promise<{ dense: number; pruned: number }> {
  const files = [dense, pruned].map((m) => exportTflite(m, { quant: 'none', sparse: 'never' }).bytes);
  const sample = { x: new Float32Array(28 * 28).fill(0.5), y: new Int32Array(0), sampleShape: [28, 28, 1] };
  const d: number[] = [];
  const p: number[] = [];
  for (let round = 0; round < 5; round++) {
    d.push((await verifyTflite(files[0], dense, sample, { latencyRuns: Math.max(20, RUNS) })).latencyMs);
    p.push((await verifyTflite(files[1], pruned, sample, { latencyRuns: Math.max(20, RUNS) })).latencyMs);
  }
  return { dense: median(d), pruned: median(p) };
}

async function main(): Promise<void> {
  const backend = await initBackend({ force: 'wasm' });
  const rows = [];
  let macsOk = true;
  for (const [name, build] of [['LeNet-5', lenet5], ['LeNet-300-100', lenet300100]] as const) {
    const dense = build({ seed: 1 });
    let accuracy: { dense: number; pruned: number; finetuned: number } | undefined;
    const data = ACCURACY ? await loadDataset('fashion-mnist') : undefined;
    if (data) await train(dense, data.train, EPOCHS);
    const { model: pruned, report } = await pruneStructured(dense, { sparsity: SPARSITY });
    if (data) {
      const denseAcc = evaluateModel(dense, data.test).accuracy;
      const prunedAcc = evaluateModel(pruned, data.test).accuracy;
      await train(pruned, data.train, FINETUNE_EPOCHS);
      accuracy = { dense: denseAcc, pruned: prunedAcc, finetuned: evaluateModel(pruned, data.test).accuracy };
    }
    const macsRatio = report.macsAfter / report.macsBefore;
    macsOk &&= macsRatio <= 0.5;
    const latencies = [1, 64].map((batch) => {
      const l = latency(dense, pruned, batch);
      return { batch, denseMs: l.dense, prunedMs: l.pruned, speedup: l.dense / l.pruned, denseMinMs: l.denseMin, prunedMinMs: l.prunedMin, speedupMin: l.denseMin / l.prunedMin };
    });
    const litert = await liteRtLatency(dense, pruned);
    rows.push({ model: name, sparsity: SPARSITY, ...report, macsRatio, paramsRatio: report.paramsAfter / report.paramsBefore, latencies, litert, accuracy });
    dense.dispose();
    pruned.dispose();
  }
  if (JSON_OUT) {
    console.log(JSON.stringify({ backend: backend.name, threads: backend.threads, simd: backend.simd, runs: RUNS, rows }, null, 2));
  } else {
    console.log(`structured pruning, ${SPARSITY * 100}% of units/filters, backend ${backend.name} (threads ${backend.threads}, simd ${backend.simd}), median of ${RUNS}`);
    for (const r of rows) {
      console.log(`${r.model}: MACs ${r.macsBefore} -> ${r.macsAfter} (${r.macsRatio.toFixed(3)}x), params ${r.paramsBefore} -> ${r.paramsAfter} (${r.paramsRatio.toFixed(3)}x)`);
      if (r.accuracy) {
        const a = r.accuracy;
        console.log(
          `  test accuracy: dense ${(100 * a.dense).toFixed(2)}% (${EPOCHS} epochs), pruned ${(100 * a.pruned).toFixed(2)}%,` +
            ` after ${FINETUNE_EPOCHS} fine-tuning epochs ${(100 * a.finetuned).toFixed(2)}% (${(100 * (a.finetuned - a.dense)).toFixed(2)} points)`,
        );
      }
      console.log(
        `  LiteRT .tflite batch  1: median dense ${r.litert.dense.toFixed(3)} ms, pruned ${r.litert.pruned.toFixed(3)} ms, ${(r.litert.dense / r.litert.pruned).toFixed(2)}x faster`,
      );
      for (const l of r.latencies) {
        console.log(
          `  batch ${String(l.batch).padStart(2)}: median dense ${l.denseMs.toFixed(3)} ms, pruned ${l.prunedMs.toFixed(3)} ms, ${l.speedup.toFixed(2)}x faster;` +
            ` min ${l.denseMinMs.toFixed(3)} / ${l.prunedMinMs.toFixed(3)} ms, ${l.speedupMin.toFixed(2)}x`,
        );
      }
    }
  }
  if (!macsOk) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * The int8 sparse layout (CSR weights -> DENSIFY -> RESHAPE -> FULLY_CONNECTED, see
 * src-main/engine/export/tflite/quantize.ts sparsifyInt8) against dense int8 and float32 files of
 * the same LeNet-5 with 80% and 90% of every kernel zeroed (magnitude): file size, whether LiteRT
 * gives identical outputs, and batch-1 LiteRT latency (interleaved, until the CIs are within 3% or
 * the budget is spent). The sparse layout trades speed for size: the RESHAPE keeps the XNNPACK
 * delegate off those FULLY_CONNECTED ops (fed from DENSIFY directly it fails to prepare), so the
 * builtin kernels run them. No training: size and latency do not depend on accuracy.
 *
 *   npx tsx test/bench/int8-sparse-layout.ts [budgetSeconds=10]
 */
import os from 'node:os';
import { exportTflite } from '../../src-main/engine/export/tflite/index';
import { countTfliteZeros } from '../../src-main/engine/export/tflite/zeros';
import { lenet5 } from '../../src-main/engine/models/lenet';
import { initBackend } from '../../src-main/node/backend';
import { loadLiteRtNode } from '../../src-main/node/verify/litert';
import { timeTfliteFiles } from '../../src-main/node/verify/litert-latency';
import { zeroSmallest } from '../support/zero-smallest';

const BUDGET_MS = Number(process.argv[2] ?? 10) * 1000;

async function outputsOf(bytes: Uint8Array, inputs: Float32Array[]): Promise<Float32Array[]> {
  const { lib } = await loadLiteRtNode();
  const m = await lib.loadAndCompile(bytes, { accelerator: 'wasm' });
  const outs: Float32Array[] = [];
  for (const x of inputs) {
    const t = new lib.Tensor(x.slice(), [1, 28, 28, 1]);
    const o = await m.run([t]);
    outs.push(Float32Array.from(o[0].toTypedArray() as Float32Array));
    for (const y of o) y.delete();
    t.delete();
  }
  m.delete();
  return outs;
}

async function main(): Promise<void> {
  await initBackend();
  const inputs = Array.from({ length: 50 }, (_, s) => Float32Array.from({ length: 784 }, (_, i) => ((i * 37 + s * 11) % 101) / 100));
  const calibration = new Float32Array(64 * 784).map((_, i) => ((i * 13) % 97) / 96);
  console.log(`LeNet-5, LiteRT batch 1 (load ${os.loadavg()[0].toFixed(1)})`);
  console.log('| zeros | float32 bytes | int8 dense bytes (x) | int8 sparse bytes (x) | zeros in sparse file | outputs identical | latency f32 / int8 dense / int8 sparse (ms) | sparse vs dense int8 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const fraction of [0.8, 0.9]) {
    const model = lenet5({ seed: 1 });
    zeroSmallest(model, fraction);
    const f32 = exportTflite(model, { quant: 'none', sparse: 'never' }).bytes;
    const dense = exportTflite(model, { quant: 'int8', calibration, sparse: 'never' }).bytes;
    const sparse = exportTflite(model, { quant: 'int8', calibration, sparse: 'always' }).bytes;
    const [a, b] = [await outputsOf(dense, inputs), await outputsOf(sparse, inputs)];
    const identical = a.every((o, i) => o.every((v, j) => v === b[i][j]));
    const z = countTfliteZeros(sparse);
    const t = await timeTfliteFiles([f32, dense, sparse], { budgetMs: BUDGET_MS, targetCi: 0.03 });
    const [tf32, td, ts] = t.timings;
    const flag = (x: { unstable: boolean }) => (x.unstable ? '*' : '');
    console.log(
      `| ${fraction * 100}% | ${f32.length} | ${dense.length} (x${(dense.length / f32.length).toFixed(3)}) | ${sparse.length} (x${(sparse.length / f32.length).toFixed(3)}) | ` +
        `${z.zeros}/${z.weights} | ${identical ? 'yes' : 'NO'} | ${tf32.medianMs.toFixed(3)}${flag(tf32)} / ${td.medianMs.toFixed(3)}${flag(td)} / ${ts.medianMs.toFixed(3)}${flag(ts)} | x${(ts.medianMs / td.medianMs).toFixed(2)} |`,
    );
    model.dispose();
  }
  console.log('(* = CI above 3% when the budget ran out: the machine was busy)');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

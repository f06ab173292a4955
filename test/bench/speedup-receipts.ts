/**
 * Speedup receipts on two nets: does measured LiteRT latency follow the MACs pruning removed?
 * Per model (LeNet-5 at 28x28x1; a MobileNet-like net at 96x96x3 built to XNNPACK's sparse rules:
 * ZeroPadding2D + valid 3x3 stride-2 stem, depthwise 3x3 + 1x1 blocks, global average pooling):
 * dense, unstructured 80% and 90% (magnitude, every layer to that sparsity), structured 50% (per layer, L2) without and
 * with --round-to 8. Each variant is exported float32 (1x1 conv and Dense weights CSR + DENSIFY
 * when smaller, as runs export them) and all variants of a model are timed in LiteRT together,
 * interleaved, batch 1, until every median's CI is within 3% or the budget is spent
 * (src-main/node/verify/litert-latency.ts). Latency ratios are against the dense file of the same
 * run. The MobileNet section adds a control: 90% zeros stored densely (no DENSIFY), which the
 * TFLite XNNPACK delegate never runs sparse. No fine-tuning: latency does not depend on accuracy.
 *
 *   npx tsx test/bench/speedup-receipts.ts [budgetSecondsPerModel=15] [--json]
 *   npm run bench -- speedup-receipts
 */
import os from 'node:os';
import zlib from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { analyzeModel } from '../../src-main/engine/analyze';
import { exportTflite } from '../../src-main/engine/export/tflite/index';
import { checkSparseEligibility } from '../../src-main/engine/export/tflite/sparse-check';
import { modelCost } from '../../src-main/engine/measure/receipt';
import { lenet5 } from '../../src-main/engine/models/lenet';
import { pruneStructured } from '../../src-main/engine/prune/structured';
import { validatePruneConfig } from '../../src-main/engine/prune/types';
import { pruneUnstructured } from '../../src-main/engine/prune/unstructured';
import { initBackend } from '../../src-main/node/backend';
import { timeTfliteFiles } from '../../src-main/node/verify/litert-latency';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const BUDGET_MS = Number(args[0] ?? 15) * 1000;
const JSON_OUT = process.argv.includes('--json');
const log = (...m: unknown[]): void => console.error(...m);

/** MobileNet-like trunk that meets XNNPACK's sparse-inference rules (see sparse-check.ts). */
function mobileNetish(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.zeroPadding2d({ inputShape: [96, 96, 3], padding: 1 }));
  m.add(tf.layers.conv2d({ filters: 24, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  let seed = 2;
  // Widths whose halves (12, 20, 60, 100) are not multiples of 8, so --round-to 8 changes them.
  for (const [out, stride] of [[40, 1], [80, 2], [80, 1], [120, 2], [120, 1], [200, 2]] as const) {
    m.add(tf.layers.zeroPadding2d({ padding: 1 }));
    m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: 'valid', activation: 'relu', depthwiseInitializer: tf.initializers.glorotUniform({ seed: seed++ }) }));
    m.add(tf.layers.conv2d({ filters: out, kernelSize: 1, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) }));
  }
  m.add(tf.layers.globalAveragePooling2d({}));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed++ }) }));
  return m;
}

function clone(model: tf.LayersModel, build: () => tf.LayersModel): tf.LayersModel {
  const c = build();
  c.setWeights(model.getWeights());
  return c;
}

interface Variant {
  name: string;
  model: tf.LayersModel;
  sparse?: 'auto' | 'never';
  granularity: string;
}

async function section(label: string, build: () => tf.LayersModel) {
  const dense = build();
  const variants: Variant[] = [{ name: 'dense', model: dense, granularity: 'dense' }];
  for (const s of [0.8, 0.9]) {
    const m = clone(dense, build);
    await pruneUnstructured(m, validatePruneConfig({ method: 'magnitude', granularity: 'unstructured', sparsity: s, scope: 'layer' }, m));
    variants.push({ name: `unstructured ${s * 100}%`, model: m, granularity: 'unstructured' });
    if (s === 0.9 && label.startsWith('MobileNet')) variants.push({ name: 'unstructured 90%, zeros stored dense', model: m, sparse: 'never', granularity: 'unstructured' });
  }
  for (const roundTo of [undefined, 8]) {
    const { model } = await pruneStructured(dense, { sparsity: 0.5, scope: 'layer', ...(roundTo ? { roundTo } : {}) });
    variants.push({ name: `structured 50%${roundTo ? `, round-to ${roundTo}` : ''}`, model, granularity: 'structured' });
  }
  const files = variants.map((v) => exportTflite(v.model, { quant: 'none', sparse: v.sparse ?? 'auto' }).bytes);
  const costs = variants.map((v) => modelCost(analyzeModel(v.model)));
  const widths = variants.map((v) => v.model.layers.filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName())).map((l) => (l.outputShape as number[]).at(-1)).join('/'));
  // File sizes a device downloads: float32 and full int8, raw, gzip and brotli (node:zlib).
  const calibration = Float32Array.from({ length: 64 * dense.inputs[0].shape.slice(1).reduce((a: number, d) => a * (d ?? 1), 1) }, (_, i) => ((i * 7919) % 1000) / 1000);
  const sizes = variants.filter((v) => v.sparse === undefined && v.granularity !== 'structured').flatMap((v) =>
    (['none', 'int8'] as const).map((quant) => {
      const bytes = exportTflite(v.model, { quant, ...(quant === 'int8' ? { calibration } : {}) }).bytes;
      return { variant: v.name, quant, raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length, brotli: zlib.brotliCompressSync(bytes).length };
    }),
  );
  const loadBefore = os.loadavg()[0];
  log(`${label}: timing ${files.length} files interleaved for up to ${BUDGET_MS / 1000} s (load ${loadBefore.toFixed(1)})`);
  const t = await timeTfliteFiles(files, { budgetMs: BUDGET_MS, maxRuns: 5000 });
  const rows = variants.map((v, i) => {
    const sp = checkSparseEligibility(files[i]);
    return {
      variant: v.name,
      widths: widths[i],
      macs: costs[i].macs / costs[0].macs,
      nonZeroMacs: costs[i].nonZeroMacs / costs[0].nonZeroMacs,
      latency: t.timings[i].medianMs / t.timings[0].medianMs,
      medianMs: t.timings[i].medianMs,
      iqrMs: t.timings[i].iqrMs,
      ciRel: t.timings[i].ciRel,
      unstable: t.timings[i].unstable,
      runs: t.timings[i].runs,
      bytes: files[i].length / files[0].length,
      sparseEligible: sp.eligible,
      sparseFailed: sp.rules.filter((r) => !r.passed).map((r) => r.id),
    };
  });
  for (const m of new Set(variants.map((v) => v.model))) if (m !== dense) m.dispose();
  dense.dispose();
  return { model: label, runtime: t.runtime, threads: t.threads, load: [loadBefore, os.loadavg()[0]].map((x) => Math.round(x * 10) / 10), rows, sizes };
}

async function main(): Promise<void> {
  await initBackend({ force: 'wasm' }).catch(() => initBackend({ force: 'cpu' }));
  const sections = [];
  sections.push(await section('LeNet-5 (28x28x1)', () => lenet5({ seed: 1 })));
  sections.push(await section('MobileNet-like (96x96x3, XNNPACK sparse rules)', mobileNetish));
  if (JSON_OUT) {
    console.log(JSON.stringify({ sections }, null, 2));
    return;
  }
  const f = (x: number, d = 3): string => x.toFixed(d);
  for (const s of sections) {
    console.log(`\n## ${s.model}: ${s.runtime}, batch 1, ${s.threads} thread, load ${s.load.join(' -> ')}`);
    console.log('| variant | widths | MACs | non-zero MACs | latency (median ± IQR/2) | latency ratio | CI ± | runs | file size | XNNPACK sparse |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of s.rows) {
      console.log(`| ${r.variant} | ${r.widths} | x${f(r.macs)} | x${f(r.nonZeroMacs)} | ${f(r.medianMs)} ± ${f(r.iqrMs / 2)} ms | x${f(r.latency)}${r.unstable ? ' (unstable)' : ''} | ${f(100 * r.ciRel, 1)}% | ${r.runs} | x${f(r.bytes)} | ${r.sparseEligible ? 'eligible' : `off (${r.sparseFailed.join(', ')})`} |`);
    }
    const base = s.sizes[0].raw;
    console.log('\n| file | raw | gzip | brotli | raw vs float32 dense |');
    console.log('|---|---|---|---|---|');
    for (const z of s.sizes) console.log(`| ${z.variant}, ${z.quant === 'none' ? 'float32' : 'int8'} | ${z.raw} | ${z.gzip} | ${z.brotli} | x${f(z.raw / base)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

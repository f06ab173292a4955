/**
 * Training and inference speed per model and backend, with PyTorch (same models, batch, optimizer)
 * as the reference peer when /usr/bin/python3 has torch.
 *
 * Run: npx tsx test/bench/speed.ts [--quick]; `--parts` instead times FusedAdam and the MaxPoolGrad
 * heap loop against what they replaced; `--versus` runs Topiary's loop and PyTorch in alternating
 * pairs (the fairest figure on a noisy box).
 * Rows: cpu; wasm-stock (tfjs-backend-wasm 4.22 plus only the missing gradient kernels, i.e. the
 * slow scalar matMul/Conv2DBackpropInput paths); wasm (Topiary's XNNPACK kernels); native (wasm
 * with matMul, conv2d, its gradients and Adam on Topiary's native addon, native/; TOPIARY_NATIVE_THREADS
 * sets its threads). Threads: set TOPIARY_WASM_THREADS=N to run the wasm rows on the threaded build.
 * Loop rows train with Topiary's own fine-tuning loop (finetuneMasked) instead of trainOnBatch:
 * `wasm loop` on the wasm kernels, `native loop` on the native kernels with tfjs running the step,
 * `fused loop` with the whole step in the native addon (native/train.c; what runs use when the
 * addon is built and the model is a plain chain); `--dp` adds `loop Nt`, the tfjs-step loop
 * data-parallel over N threads (TOPIARY_TRAIN_WORKERS, default 2; src-main/node/train-workers.ts).
 * Loop rows have no inference columns (same model as the rows above them).
 * Columns: training samples/s (batch 64, Adam), median inference latency at batch 1 and 64, and
 * ours/PyTorch. The machine is shared: compare ratios from one run, not absolute numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FusedAdam } from '../../src-main/engine/finetune/adam';
import { maxPoolGrad } from '../../src-main/engine/kernels/max-pool-grad';
import { registerNativeKernels, unregisterNativeKernels } from '../../src-main/engine/kernels/native-kernels';
import { registerWasmTrainingKernels, restoreWasmKernels } from '../../src-main/engine/kernels/wasm-training';
import { initBackend } from '../../src-main/node/backend';
import { loadNativeAddon } from '../../src-main/node/native';
import { workerGradientShards } from '../../src-main/node/train-workers';
import { buildModel, finetuneThroughput, inferenceLatencyMs, median, trainThroughput, type BenchModel } from './bench-models';

const BATCH = 64;
const MODELS: BenchModel[] = ['lenet-300-100', 'lenet-5'];
type Row = 'cpu' | 'wasm-stock' | 'wasm' | 'native' | 'wasm-loop' | 'native-loop' | 'fused-loop' | 'loop-dp';

interface Result {
  trainSamplesPerS: number;
  inferMsB1: number;
  inferMsB64: number;
}

interface TorchResult {
  torch: string;
  threads: number;
  ld_library_path: string;
  blas_libraries: string[];
  models: Record<string, { train_samples_per_s: number; infer_ms_b1: number; infer_ms_b64: number }>;
}

const quick = process.argv.includes('--quick');
const here = path.dirname(fileURLToPath(import.meta.url));
const dpThreads = Number(process.env.TOPIARY_TRAIN_WORKERS || 2);
const { addon: native, status: nativeStatus } = loadNativeAddon();
/** The kernels the data-parallel loop runs on: native when the addon is built. */
const best = native ? 'native' : 'wasm';
const label = (row: Row): string => (row === 'loop-dp' ? `${best} loop ${dpThreads}t` : row.replace('-loop', ' loop'));

async function useRow(row: Row): Promise<void> {
  if (row === 'cpu') {
    await initBackend({ force: 'cpu' });
    return;
  }
  await initBackend({ force: 'wasm' });
  // Native kernels wrap the wasm ones: take them off before swapping what is underneath.
  unregisterNativeKernels();
  if (row === 'wasm-stock') {
    restoreWasmKernels();
    return;
  }
  registerWasmTrainingKernels();
  if (native && row !== 'wasm' && row !== 'wasm-loop') registerNativeKernels(native);
}

/** Work per measurement, sized so a row takes seconds: cpu trains LeNet-5 at ~20 samples/s. */
function budget(row: Row, model: BenchModel): { batches: number; rounds: number; latencyRuns: number } {
  if (row === 'cpu') return { batches: model === 'lenet-5' ? 2 : 4, rounds: 1, latencyRuns: 5 };
  if (row === 'wasm-stock') return { batches: quick ? 3 : 6, rounds: quick ? 1 : 3, latencyRuns: 20 };
  return { batches: quick ? 5 : 15, rounds: quick ? 1 : 3, latencyRuns: 30 };
}

async function measure(row: Row, name: BenchModel): Promise<Result> {
  await useRow(row);
  const { batches, rounds, latencyRuns } = budget(row, name);
  const model = buildModel(name);
  const rates: number[] = [];
  if (row.endsWith('loop') || row === 'loop-dp') {
    const shards = workerGradientShards(row === 'loop-dp' ? dpThreads : 1);
    // More batches for the fused loop: its steps are short, and the timer should see seconds.
    const n = row === 'fused-loop' ? batches * 4 : batches;
    for (let r = 0; r < rounds; r++) rates.push(await finetuneThroughput(model, BATCH, n, shards, row === 'fused-loop' ? undefined : false));
    model.dispose();
    return { trainSamplesPerS: median(rates), inferMsB1: NaN, inferMsB64: NaN };
  }
  for (let r = 0; r < rounds; r++) rates.push(await trainThroughput(model, BATCH, batches));
  const result = {
    trainSamplesPerS: median(rates),
    inferMsB1: await inferenceLatencyMs(model, 1, latencyRuns),
    inferMsB64: await inferenceLatencyMs(model, BATCH, Math.max(3, Math.floor(latencyRuns / 3))),
  };
  model.dispose();
  return result;
}

function runTorch(threads: number, batches = quick ? 5 : 15, rounds = quick ? 1 : 3): TorchResult | string {
  const python = '/usr/bin/python3';
  try {
    execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return `${python} cannot import torch`;
  }
  const blasDir = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
  const env = { ...process.env, LD_LIBRARY_PATH: blasDir, TORCH_THREADS: String(threads) };
  const args = [path.join(here, 'torch_train.py'), String(batches), String(rounds)];
  const out = execFileSync(python, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop() as string) as TorchResult;
}

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

/** Mean ms of `f` over `runs` calls after 3 warm-up calls. */
function meanMs(f: () => void, runs: number): number {
  for (let i = 0; i < 3; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) f();
  return (performance.now() - t0) / runs;
}

/**
 * `--parts`: the two replaced pieces against what they replaced, alternating, on wasm: an Adam step
 * over every variable (tf.train.adam vs FusedAdam) and MaxPoolGrad on LeNet-5's pool shapes
 * (heap loop vs the tf-ops formulation).
 */
async function parts(): Promise<void> {
  await initBackend({ force: 'wasm' });
  registerWasmTrainingKernels();
  for (const name of MODELS) {
    const model = buildModel(name);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const grads: tf.NamedTensorMap = {};
    vars.forEach((v) => (grads[v.name] = tf.randomNormal(v.shape)));
    const named = vars.map((v) => ({ name: v.name, tensor: grads[v.name] }));
    const ref = tf.train.adam(1e-3);
    const ours = new FusedAdam(1e-3);
    const rounds: string[] = [];
    for (let r = 0; r < 4; r++) {
      const a = meanMs(() => ref.applyGradients(named), 100);
      const b = meanMs(() => tf.tidy(() => ours.applyGradients(grads)), 100);
      rounds.push(`${fmt(a, 2)} vs ${fmt(b, 2)} ms (${fmt(a / b, 2)}x)`);
    }
    console.log(`Adam step, ${name}: tf.train.adam vs FusedAdam: ${rounds.join(' | ')}`);
    tf.dispose(Object.values(grads));
    ref.dispose();
    ours.dispose();
    model.dispose();
  }
  for (const shape of [
    [64, 24, 24, 6],
    [64, 8, 8, 16],
  ] as [number, number, number, number][]) {
    const x = tf.randomUniform(shape, -1, 1) as tf.Tensor4D;
    const y = tf.maxPool(x, 2, 2, 'valid');
    const dy = tf.randomUniform(y.shape);
    const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
    const inputs = { dy, input: x, output: y };
    const rounds: string[] = [];
    for (let r = 0; r < 3; r++) {
      const ops = meanMs(() => tf.dispose(tf.engine().makeTensorFromTensorInfo(maxPoolGrad({ inputs, attrs: attrs as unknown as tf.NamedAttrMap }))), 50);
      const loop = meanMs(() => tf.dispose(tf.engine().runKernel('MaxPoolGrad', inputs, attrs)), 50);
      rounds.push(`${fmt(ops, 2)} vs ${fmt(loop, 2)} ms (${fmt(ops / loop, 2)}x)`);
    }
    console.log(`MaxPoolGrad ${shape.join('x')}: tf ops vs heap loop: ${rounds.join(' | ')}`);
    tf.dispose([x, y, dy]);
  }
}

/**
 * `--versus`: Topiary's fine-tuning loop as runs use it (fused native step when built) against
 * PyTorch, in alternating pairs close in time: each pair runs PyTorch (2 and 1 threads, the faster
 * counts) then ours, both as the median of 5 rounds of 60 batches. Prints every pair's ratio and
 * their median: on a shared box a single measurement can be off by 2x either way.
 */
async function versus(): Promise<void> {
  await useRow('native');
  const pairs = 3;
  const ratios = new Map<BenchModel, number[]>(MODELS.map((m) => [m, []]));
  const models = new Map(MODELS.map((m) => [m, buildModel(m)]));
  for (let p = 0; p < pairs; p++) {
    const peers = [runTorch(2, 60, 5), runTorch(1, 60, 5)].filter((t): t is TorchResult => typeof t !== 'string');
    if (peers.length === 0) {
      console.log(`PyTorch not available: ${String(runTorch(1, 1, 1))}`);
      return;
    }
    for (const name of MODELS) {
      const rates: number[] = [];
      for (let r = 0; r < 5; r++) rates.push(await finetuneThroughput(models.get(name) as tf.LayersModel, BATCH, 60));
      const ours = median(rates);
      const best = Math.max(...peers.map((t) => t.models[name].train_samples_per_s));
      const threads = peers.find((t) => t.models[name].train_samples_per_s === best)?.threads;
      ratios.get(name)?.push(ours / best);
      console.log(`pair ${p + 1} ${name.padEnd(14)} ours ${fmt(ours).padStart(8)}  PyTorch (${threads}t) ${fmt(best).padStart(8)}  ratio ${fmt(ours / best, 2)}`);
    }
  }
  for (const name of MODELS) console.log(`${name}: median ratio ours/PyTorch over ${pairs} pairs ${fmt(median(ratios.get(name) as number[]), 2)}`);
  models.forEach((m) => m.dispose());
}

async function main(): Promise<void> {
  if (process.argv.includes('--parts')) return parts();
  if (process.argv.includes('--versus')) return versus();
  const info = await initBackend({ force: 'wasm' });
  // 2 threads is the fair peer on an idle 2-core box; on a busy one its OpenMP threads stall each
  // other (10x slower), so 1 thread is measured too and each ratio uses the faster of the two.
  const torchRuns = [runTorch(2), runTorch(1)];
  const torch = torchRuns.find((t): t is TorchResult => typeof t !== 'string') ?? (torchRuns[0] as string);
  const peers = torchRuns.filter((t): t is TorchResult => typeof t !== 'string');
  const bestPeer = (name: string) =>
    peers.length === 0
      ? undefined
      : {
          train_samples_per_s: Math.max(...peers.map((p) => p.models[name].train_samples_per_s)),
          infer_ms_b1: Math.min(...peers.map((p) => p.models[name].infer_ms_b1)),
          infer_ms_b64: Math.min(...peers.map((p) => p.models[name].infer_ms_b64)),
        };
  const rows: Row[] = [
    'cpu',
    'wasm-stock',
    'wasm',
    ...(native ? (['native'] as const) : []),
    'wasm-loop',
    ...(native ? (['native-loop', 'fused-loop'] as const) : []),
    ...(process.argv.includes('--dp') ? (['loop-dp'] as const) : []),
  ];
  const results = new Map<string, Result>();
  for (const name of MODELS) {
    for (const row of rows) {
      results.set(`${name}/${row}`, await measure(row, name));
      process.stderr.write(`measured ${name} on ${label(row)}\n`);
    }
  }
  await useRow('native');

  console.log(`tfjs ${tf.version.tfjs}; wasm threads ${info.threads}, simd ${info.simd}; batch ${BATCH}, Adam; random 28x28x1 data`);
  console.log(nativeStatus.loaded ? `native addon: ${nativeStatus.isa}, ${nativeStatus.threads} threads` : `native rows skipped: ${nativeStatus.reason}`);
  if (typeof torch === 'string') console.log(`PyTorch column skipped: ${torch}`);
  else console.log(`PyTorch ${torch.torch}, BLAS ${torch.blas_libraries.find((l) => /openblas/.test(l)) ?? torch.blas_libraries.join(',')}; "x torch" uses the faster of its 1- and 2-thread runs`);
  const header = ['model', 'backend', 'train samples/s', 'x torch', 'infer b1 ms', 'x torch', 'infer b64 ms', 'x torch'];
  const lines: string[][] = [header];
  for (const name of MODELS) {
    const peer = bestPeer(name);
    for (const row of rows) {
      const r = results.get(`${name}/${row}`) as Result;
      lines.push([
        name,
        label(row),
        fmt(r.trainSamplesPerS),
        peer ? fmt(r.trainSamplesPerS / peer.train_samples_per_s, 2) : '-',
        fmt(r.inferMsB1, 2),
        peer && Number.isFinite(r.inferMsB1) ? fmt(r.inferMsB1 / peer.infer_ms_b1, 1) : '-',
        fmt(r.inferMsB64, 2),
        peer && Number.isFinite(r.inferMsB64) ? fmt(r.inferMsB64 / peer.infer_ms_b64, 2) : '-',
      ]);
    }
    for (const p of peers) {
      const m = p.models[name];
      lines.push([name, `pytorch ${p.threads}t`, fmt(m.train_samples_per_s), '', fmt(m.infer_ms_b1, 2), '', fmt(m.infer_ms_b64, 2), '']);
    }
  }
  const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  for (const l of lines) console.log(l.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log('train "x torch" = ours/PyTorch samples/s (higher is better); latency "x torch" = ours/PyTorch ms (lower is better).');
  const fast = results.get('lenet-300-100/wasm') as Result;
  const stock = results.get('lenet-300-100/wasm-stock') as Result;
  const fast5 = results.get('lenet-5/wasm') as Result;
  const stock5 = results.get('lenet-5/wasm-stock') as Result;
  console.log(
    `wasm kernels vs stock wasm, training: LeNet-300-100 ${fmt(fast.trainSamplesPerS / stock.trainSamplesPerS, 2)}x, LeNet-5 ${fmt(fast5.trainSamplesPerS / stock5.trainSamplesPerS, 2)}x`,
  );
  const ratio = (name: BenchModel, a: Row, b: Row) => {
    const ra = results.get(`${name}/${a}`);
    const rb = results.get(`${name}/${b}`);
    return ra && rb ? fmt(ra.trainSamplesPerS / rb.trainSamplesPerS, 2) : '-';
  };
  if (native) console.log(`native kernels vs wasm kernels, training: LeNet-300-100 ${ratio('lenet-300-100', 'native', 'wasm')}x, LeNet-5 ${ratio('lenet-5', 'native', 'wasm')}x`);
  if (native) console.log(`fused native step vs the tfjs step on wasm kernels, Topiary's loop: LeNet-300-100 ${ratio('lenet-300-100', 'fused-loop', 'wasm-loop')}x, LeNet-5 ${ratio('lenet-5', 'fused-loop', 'wasm-loop')}x`);
  if (rows.includes('loop-dp')) {
    const one = native ? 'native-loop' : 'wasm-loop';
    console.log(`data-parallel loop (${dpThreads} threads) vs one: LeNet-300-100 ${ratio('lenet-300-100', 'loop-dp', one)}x, LeNet-5 ${ratio('lenet-5', 'loop-dp', one)}x`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

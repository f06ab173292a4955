/**
 * Modern nets against PyTorch: MobileNetV2 (a small 28x28 one and Keras's alpha 0.35 at 96 and
 * 224), ResNet-8 and ResNet-20, DS-CNN keyword spotting, and the two LeNets, each defined in
 * bench-models.ts and as an exact twin in torch_train.py (same layers, padding, BN
 * epsilon/momentum; the parameter counts are checked equal). Per net:
 *  - training samples/s through finetuneMasked (what runs use; the path it took is printed: the
 *    fused native step, or the tfjs step and why, and any micro-batching note), batch 64 (the 224
 *    net: batch 32), Adam 1e-3, softmax cross-entropy, random data;
 *  - PyTorch 1.13 (Debian, OpenBLAS-openmp) samples/s, the faster of 1 and 2 threads;
 *  - the ratio ours / PyTorch as the median over alternating pairs (PyTorch then ours, close in
 *    time: this box is shared and its speed moves 2x within minutes);
 *  - peak RSS (VmHWM) of each side: every measurement runs in its own child process;
 *  - inference latency at batch 1 and 64 (224: 32) of the in-app model (measureLatency: the native
 *    forward pass where the graph step covers the net, else tfjs), of tfjs predict, of the
 *    exported float32 .tflite in LiteRT (LiteRT.js cannot resize inputs, so batch N times a second
 *    file exported at batch N: exportTflite's `batch`),
 *    and of PyTorch (eval mode, no_grad).
 *
 * Run: npx tsx test/bench/modern-nets.ts [--nets mbv2-28,resnet-8] [--pairs 3] (~8-10 min on 2
 * busy cores), or npm run bench -- modern-nets. Internally `--child NAME` measures one net.
 *
 * `--infer [--rounds N]`: inference latency only, no training: per net N rounds (default 5) of
 * PyTorch (eval, no_grad, faster of 1 and 2 threads and of both memory formats) then ours
 * (measureLatency, the app's path) at batch 1 and the net's batch, each in a fresh process, and
 * the median over rounds of ours/PyTorch (below 1: ours is faster). ~1-3 min for the five small nets.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportTflite } from '../../src-main/engine/export/tflite/index';
import { finetuneMasked, type FinetuneResult } from '../../src-main/engine/finetune/trainer';
import { modelMacs } from '../../src-main/engine/graph/cost';
import { measureLatency } from '../../src-main/engine/measure/latency';
import { initBackend } from '../../src-main/node/backend';
import { timeTfliteFiles } from '../../src-main/node/verify/litert-latency';
import { verifyTflite } from '../../src-main/node/verify/verify';
import { buildNet, inferenceLatencyMs, median, NET_INPUT, randomSplit, type AnyNet } from './bench-models';

const here = path.dirname(fileURLToPath(import.meta.url));
const NETS: AnyNet[] = ['lenet-300-100', 'lenet-5', 'mbv2-28', 'ds-cnn', 'resnet-8', 'resnet-20', 'mbv2-0.35-96', 'mbv2-0.35-224'];

/** Work per net: batch, timed training steps after `warm`, latency runs, alternating pairs. */
const BUDGET: Record<AnyNet, { batch: number; batches: number; warm: number; latencyRuns: number; pairs: number }> = {
  'lenet-300-100': { batch: 64, batches: 40, warm: 2, latencyRuns: 30, pairs: 3 },
  'lenet-5': { batch: 64, batches: 30, warm: 2, latencyRuns: 30, pairs: 3 },
  'mbv2-28': { batch: 64, batches: 4, warm: 1, latencyRuns: 20, pairs: 2 },
  'ds-cnn': { batch: 64, batches: 4, warm: 1, latencyRuns: 20, pairs: 2 },
  // The first fused step pays for first-touch of the lane buffers: time several steps after 2 warm-up ones.
  'resnet-8': { batch: 64, batches: 6, warm: 2, latencyRuns: 10, pairs: 1 },
  // 3.3x ResNet-8's MACs: fewer timed steps for about the same time.
  'resnet-20': { batch: 64, batches: 3, warm: 2, latencyRuns: 10, pairs: 1 },
  'mbv2-0.35-96': { batch: 64, batches: 1, warm: 1, latencyRuns: 5, pairs: 1 },
  'mbv2-0.35-224': { batch: 32, batches: 1, warm: 1, latencyRuns: 3, pairs: 1 },
};

interface OursResult {
  net: AnyNet;
  params: number;
  macs: number;
  batch: number;
  trainSamplesPerS: number;
  path: string;
  memoryNote?: string;
  /** In-app inference (measureLatency: the native forward pass where the graph step covers the net, else tfjs). */
  inferMsB1: number;
  inferMsBatch: number;
  inferPath?: string;
  /** tfjs model.predict, for comparison. */
  tfjsMsB1: number;
  tfjsMsBatch: number;
  liteRtMsB1?: number;
  /** The same net exported at batch N (exportTflite `batch`), one call of N samples. */
  liteRtMsBatch?: number;
  liteRtNote?: string;
  peakRssMb: number;
}

interface TorchResult {
  params: number;
  macs: number;
  /** Memory format of PyTorch's faster training run (nchw or channels_last; torch_train.py times both). */
  train_format: string;
  threads: number;
  train_samples_per_s: number;
  infer_ms_b1: number;
  infer_ms_batch: number;
  peak_rss_mb: number;
}

function vmHwmMb(): number {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)\s+kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Which step finetuneMasked ran, in words (FinetuneResult.fused and .memory). */
function pathOf(r: FinetuneResult): string {
  if (r.fused.used) return 'fused native step';
  return `tfjs step${r.fused.note ? ` (fused: ${r.fused.note})` : ''}`;
}

interface OursLatency {
  path: string;
  b1: number;
  bN: number;
}

/** `--child NAME --infer-only`: the app's inference latency of a freshly built net; one JSON line. */
async function childLatency(name: AnyNet): Promise<void> {
  await initBackend({ force: 'wasm' });
  const { batch, latencyRuns } = BUDGET[name];
  const model = buildNet(name);
  const [b1, bN] = await measureLatency(model, { batchSizes: [1, batch], runs: Math.max(latencyRuns, 10), warmup: 3 });
  model.dispose();
  console.log(JSON.stringify({ path: b1.path, b1: b1.medianMs, bN: bN.medianMs } satisfies OursLatency));
}

function runOursLatency(name: AnyNet): OursLatency | string {
  try {
    const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', name, '--infer-only'];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').pop() as string) as OursLatency;
  } catch (err) {
    return `failed: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').pop()}`;
  }
}

/** `--infer`: alternating rounds of PyTorch then ours, inference only; median ratios per net. */
function inferenceOnly(nets: AnyNet[], rounds: number): void {
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`modern-nets --infer: ${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${load()}, ${rounds} rounds`);
  const lines = [['net', 'batch', 'path', 'b1 ours', 'b1 torch', 'b1 x', 'bN ours', 'bN torch', 'bN x', 'bN ratios']];
  for (const name of nets) {
    const ours: OursLatency[] = [];
    const torch: { b1: number; bN: number }[] = [];
    const ratios1: number[] = [];
    const ratiosN: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const peers = [runTorch(name, 2, true), runTorch(name, 1, true)].filter((t): t is TorchResult => typeof t !== 'string');
      const mine = runOursLatency(name);
      if (typeof mine === 'string' || peers.length === 0) {
        console.log(`  ${name} round ${r + 1}: ${typeof mine === 'string' ? `ours ${mine}` : 'PyTorch failed'}`);
        continue;
      }
      const t = { b1: Math.min(...peers.map((p) => p.infer_ms_b1)), bN: Math.min(...peers.map((p) => p.infer_ms_batch)) };
      ours.push(mine);
      torch.push(t);
      ratios1.push(mine.b1 / t.b1);
      ratiosN.push(mine.bN / t.bN);
    }
    if (ours.length === 0) continue;
    lines.push([
      name,
      String(BUDGET[name].batch),
      ours[0].path,
      fmt(median(ours.map((o) => o.b1)), 2),
      fmt(median(torch.map((t) => t.b1)), 2),
      fmt(median(ratios1), 2),
      fmt(median(ours.map((o) => o.bN)), 2),
      fmt(median(torch.map((t) => t.bN)), 2),
      fmt(median(ratiosN), 2),
      ratiosN.map((x) => x.toFixed(2)).join('/'),
    ]);
    process.stderr.write(`${lines[lines.length - 1].join(' | ')}\n`);
  }
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  for (const l of lines) console.log(l.map((cell, c) => (c === 0 || c === 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log('Median ms over rounds; x = median over rounds of ours/PyTorch (below 1: ours faster). PyTorch: eval + no_grad, faster of 1/2 threads and NCHW/channels-last.');
  console.log(`load at the end ${load()}`);
}

/** `--child NAME [--no-infer]`: one net in this process; prints one JSON line. */
async function child(name: AnyNet, infer: boolean): Promise<void> {
  await initBackend({ force: 'wasm' });
  const { batch, batches, warm, latencyRuns } = BUDGET[name];
  const { shape, classes } = NET_INPUT[name];
  const model = buildNet(name);
  const split = randomSplit(batch * (batches + warm), 1, shape, classes);
  let t0 = 0;
  let t1 = 0;
  const r = await finetuneMasked(model, split, { epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: 'adam' }, {
    masks: new Map(),
    onProgress: (p) => {
      if (p.phase !== 'batch') return;
      if (p.batch === warm - 1) t0 = performance.now();
      t1 = performance.now();
    },
  });
  const out: OursResult = {
    net: name,
    params: model.countParams(),
    macs: modelMacs(model),
    batch,
    trainSamplesPerS: (batches * batch) / ((t1 - t0) / 1000),
    path: pathOf(r),
    ...(r.memory.note ? { memoryNote: r.memory.note } : {}),
    inferMsB1: NaN,
    inferMsBatch: NaN,
    tfjsMsB1: NaN,
    tfjsMsBatch: NaN,
    peakRssMb: vmHwmMb(),
  };
  if (infer) {
    const app = await measureLatency(model, { batchSizes: [1, batch], runs: latencyRuns, warmup: 2 });
    out.inferMsB1 = app[0].medianMs;
    out.inferMsBatch = app[1].medianMs;
    out.inferPath = app[0].path;
    out.tfjsMsB1 = await inferenceLatencyMs(model, 1, latencyRuns, shape);
    out.tfjsMsBatch = await inferenceLatencyMs(model, batch, Math.max(1, Math.floor(latencyRuns / 4)), shape);
    try {
      const exp = exportTflite(model, { quant: 'none' });
      const n = 4;
      const x = Float32Array.from({ length: n * shape[0] * shape[1] * shape[2] }, Math.random);
      const v = await verifyTflite(exp.bytes, model, { x, y: new Int32Array(n), sampleShape: shape }, { latencyRuns });
      out.liteRtMsB1 = v.latencyMs;
      if (!v.passed) out.liteRtNote = `verification: ${v.reason}`;
      const expN = exportTflite(model, { quant: 'none', batch });
      const { timings } = await timeTfliteFiles([expN.bytes], { warmup: 2, minRuns: Math.max(3, Math.floor(latencyRuns / 4)), budgetMs: 20_000 });
      out.liteRtMsBatch = timings[0].medianMs;
    } catch (err) {
      out.liteRtNote = err instanceof Error ? err.message.split('\n')[0] : String(err);
    }
    out.peakRssMb = vmHwmMb();
  }
  model.dispose();
  console.log(JSON.stringify(out));
}

function runOurs(name: AnyNet, infer: boolean): OursResult | string {
  try {
    const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', name, ...(infer ? [] : ['--no-infer'])];
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
    return JSON.parse(out.trim().split('\n').pop() as string) as OursResult;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    return `failed: ${(e.stderr || e.message || String(err)).trim().split('\n').slice(-3).join(' | ')}`;
  }
}

const PYTHON = '/usr/bin/python3';

function runTorch(name: AnyNet, threads: number, inferOnly = false): TorchResult | string {
  const { batch, batches, warm, latencyRuns } = BUDGET[name];
  // Passive OpenMP waits, as Topiary's addon uses (src-main/node/native.ts): spinning collapses 2-thread runs on a shared box.
  const env = { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp', TORCH_THREADS: String(threads) };
  const args = [path.join(here, 'torch_train.py'), '--net', name, '--batch', String(batch), '--batches', String(batches), '--warm', String(warm), '--latency-runs', String(inferOnly ? Math.max(latencyRuns, 10) : latencyRuns), ...(inferOnly ? ['--infer-only'] : [])];
  try {
    const out = execFileSync(PYTHON, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out.trim().split('\n').pop() as string) as TorchResult;
  } catch (err) {
    return `PyTorch failed: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').pop()}`;
  }
}

const fmt = (n: number | undefined, d = 1): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d));

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--child');
  if (childAt >= 0 && process.argv.includes('--infer-only')) return childLatency(process.argv[childAt + 1] as AnyNet);
  if (childAt >= 0) return child(process.argv[childAt + 1] as AnyNet, !process.argv.includes('--no-infer'));
  const netsAt = process.argv.indexOf('--nets');
  const nets = netsAt >= 0 ? (process.argv[netsAt + 1].split(',') as AnyNet[]) : NETS;
  for (const n of nets) if (!BUDGET[n]) throw new Error(`unknown net ${n}; have ${NETS.join(', ')}`);
  if (process.argv.includes('--infer')) {
    const roundsAt = process.argv.indexOf('--rounds');
    return inferenceOnly(nets, roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5);
  }
  const pairsAt = process.argv.indexOf('--pairs');
  const started = new Date();
  console.log(`modern-nets: ${started.toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const lines: string[][] = [
    ['net', 'params', 'MACs', 'batch', 'ours/s', 'torch/s', 'x torch', 'pairs', 'RSS ours MB', 'RSS torch MB', 'b1 ms app', 'b1 tfjs', 'b1 LiteRT', 'b1 torch', 'bN ms app', 'bN tfjs', 'bN LiteRT', 'bN torch'],
  ];
  const notes: string[] = [];
  for (const name of nets) {
    const budget = BUDGET[name];
    // --pairs N sets the count for every net (more pairs than the budget's, too: a shared box needs them).
    const pairs = pairsAt >= 0 ? Math.max(1, Number(process.argv[pairsAt + 1])) : budget.pairs;
    const ratios: number[] = [];
    const oursRates: number[] = [];
    const torchRates: number[] = [];
    let first: OursResult | undefined;
    const torchFormats = new Set<string>();
    let torchBest: { t: TorchResult; b1: number; bN: number; rss: number } | undefined;
    for (let p = 0; p < pairs; p++) {
      const peers = [runTorch(name, 2), runTorch(name, 1)];
      const ok = peers.filter((t): t is TorchResult => typeof t !== 'string');
      if (ok.length === 0) notes.push(`${name}: ${String(peers[0])}`);
      // Inference and LiteRT once per net (first pair): they are not what the pairs are for.
      const ours = runOurs(name, p === 0);
      if (typeof ours === 'string') {
        notes.push(`${name}: ours ${ours}`);
        break;
      }
      first ??= ours;
      oursRates.push(ours.trainSamplesPerS);
      if (ok.length > 0) {
        const best = ok.reduce((a, b) => (b.train_samples_per_s > a.train_samples_per_s ? b : a));
        torchRates.push(best.train_samples_per_s);
        ratios.push(ours.trainSamplesPerS / best.train_samples_per_s);
        const b1 = Math.min(...ok.map((t) => t.infer_ms_b1));
        const bN = Math.min(...ok.map((t) => t.infer_ms_batch));
        const rss = Math.max(...ok.map((t) => t.peak_rss_mb));
        torchBest = torchBest ? { t: torchBest.t, b1: Math.min(torchBest.b1, b1), bN: Math.min(torchBest.bN, bN), rss: Math.max(torchBest.rss, rss) } : { t: best, b1, bN, rss };
        if (best.params !== ours.params) notes.push(`${name}: PARAMETER MISMATCH ours ${ours.params} vs PyTorch ${best.params}`);
        if (best.macs !== ours.macs) notes.push(`${name}: MAC MISMATCH ours ${ours.macs} vs PyTorch ${best.macs}`);
        torchFormats.add(`${best.threads}t ${best.train_format}`);
      }
      process.stderr.write(`${name} pair ${p + 1}/${pairs}: ours ${fmt(ours.trainSamplesPerS)} PyTorch ${fmt(torchRates[torchRates.length - 1])} samples/s\n`);
    }
    if (!first) continue;
    notes.push(`${name}: PyTorch's faster runs: ${[...torchFormats].join(', ') || '-'}`);
    notes.push(`${name}: in-app inference on ${first.inferPath ?? '-'}`);
    notes.push(`${name}: ${first.path}${first.memoryNote ? `; ${first.memoryNote}` : ''}${first.liteRtNote ? `; LiteRT: ${first.liteRtNote}` : ''}`);
    lines.push([
      name,
      String(first.params),
      String(first.macs),
      String(first.batch),
      fmt(median(oursRates)),
      torchRates.length ? fmt(median(torchRates)) : '-',
      ratios.length ? fmt(median(ratios), 2) : '-',
      ratios.map((r) => r.toFixed(2)).join('/') || '-',
      fmt(Math.max(first.peakRssMb), 0),
      fmt(torchBest?.rss, 0),
      fmt(first.inferMsB1, 2),
      fmt(first.tfjsMsB1, 2),
      fmt(first.liteRtMsB1, 2),
      fmt(torchBest?.b1, 2),
      fmt(first.inferMsBatch, 2),
      fmt(first.tfjsMsBatch, 2),
      fmt(first.liteRtMsBatch, 2),
      fmt(torchBest?.bN, 2),
    ]);
    // Each row as soon as its net is done (a long run under load can be read, or stopped, early).
    process.stderr.write(`${lines[0].join(' | ')}\n${lines[lines.length - 1].join(' | ')}\n`);
  }
  const widths = lines[0].map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  for (const l of lines) console.log(l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  console.log('x torch = median over pairs of ours/PyTorch training samples/s (PyTorch: faster of 1 and 2 threads; higher is better). bN = the net\'s batch.');
  console.log('Latency (median ms): app = what the app runs (measureLatency: the native forward pass where the graph step covers the net), tfjs = model.predict, LiteRT = the exported float32 .tflite (bN: a second file exported at batch N, as LiteRT.js cannot resize inputs), torch = eval + no_grad, faster memory format.');
  console.log('RSS = peak resident memory (VmHWM / ru_maxrss) of the process that trained and ran inference; ours includes tfjs, the wasm heap and LiteRT.');
  for (const n of notes) console.log(`  ${n}`);
  console.log(`done in ${((Date.now() - started.getTime()) / 1000).toFixed(0)} s, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

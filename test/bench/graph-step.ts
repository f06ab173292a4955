/**
 * The fused native graph step (native/train.c) against the tfjs step, through Topiary's own
 * fine-tuning loop (finetuneMasked, Adam, batch 64, no masks), on the nets of
 * test/fixtures/graph-nets.ts: the issue's 28x28x1 MobileNetV2-style net, ResNet-8 on 32x32x3 and
 * DS-CNN on 49x10x1, plus the two LeNets (chains, which must keep their speed).
 *
 * Run: npx tsx test/bench/graph-step.ts [--nets mobilenet,resnet8,dscnn,lenet-5,lenet-300-100]
 *      [--batches N] [--reps R] [--no-tfjs] [--torch] [--memory]
 * `--torch` also times the same nets in PyTorch (test/bench/graph_step_torch.py, Debian's
 * /usr/bin/python3 with OpenBLAS-openmp, see /work/shared/notes/benchmarks.md) between our runs.
 * `--memory` instead fine-tunes Keras' MobileNetV2-0.35 on 224x224x3 at batch 32 for a few steps
 * and prints the process's peak RSS (the issue's ceiling: 4 GB; activations live in the addon's
 * own memory, not the wasm heap).
 * Prints samples/s (median of the reps) per net and path, and the ratios. The machine is shared:
 * compare ratios from one run, not absolute numbers.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arraySplit, seededRandom, type DataSplit } from '../../src-main/engine/data';
import { finetuneMasked, type FinetuneOptions } from '../../src-main/engine/finetune/trainer';
import { initBackend } from '../../src-main/node/backend';
import { readFileSync } from 'node:fs';
import { DSCNN_49, dsCnn, kerasMobileNetV2, MOBILENET_28, mobileNetV2Like, RESNET8_32, resNetLike } from '../fixtures/graph-nets';
import { buildModel, median } from './bench-models';

const BATCH = 64;
const NETS: Record<string, { make: () => tf.LayersModel; shape: number[]; classes: number }> = {
  mobilenet: { make: () => mobileNetV2Like(MOBILENET_28), shape: [28, 28, 1], classes: 10 },
  resnet8: { make: () => resNetLike(RESNET8_32), shape: [32, 32, 3], classes: 10 },
  dscnn: { make: () => dsCnn(DSCNN_49), shape: [49, 10, 1], classes: 12 },
  'lenet-5': { make: () => buildModel('lenet-5'), shape: [28, 28, 1], classes: 10 },
  'lenet-300-100': { make: () => buildModel('lenet-300-100'), shape: [28, 28, 1], classes: 10 },
};

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const nets = arg('--nets', 'mobilenet,resnet8,dscnn,lenet-5,lenet-300-100').split(',');
const batches = Number(arg('--batches', '20'));
const reps = Number(arg('--reps', '3'));
const here = path.dirname(fileURLToPath(import.meta.url));

function split(n: number, per: number, classes: number): DataSplit {
  const rand = seededRandom(1);
  return arraySplit(Float32Array.from({ length: n * per }, rand), Int32Array.from({ length: n }, () => Math.floor(rand() * classes)), per);
}

/** Samples/s of `steps` timed steps after two warm-up ones, and which path ran them. */
async function throughput(make: () => tf.LayersModel, data: DataSplit, steps: number, fused: FinetuneOptions['fusedTrainer']): Promise<{ rate: number; path: string }> {
  const model = make();
  const warm = 2;
  let t0 = 0;
  let t1 = 0;
  const result = await finetuneMasked(model, data, { epochs: 1, batchSize: BATCH, learningRate: 1e-3, optimizer: 'adam', maxSamplesPerEpoch: BATCH * (steps + warm) }, {
    masks: new Map(),
    ...(fused === false ? { fusedTrainer: false } : {}),
    onProgress: (p) => {
      if (p.phase !== 'batch') return;
      if (p.batch === warm - 1) t0 = performance.now();
      t1 = performance.now();
    },
  });
  model.dispose();
  return { rate: (steps * BATCH) / ((t1 - t0) / 1000), path: result.fused.used ? (result.fused.note ?? 'fused') : `tfjs (${result.fused.note ?? 'no fused trainer'})` };
}

function torch(net: string): number | undefined {
  try {
    const out = execFileSync('/usr/bin/python3', [path.join(here, 'graph_step_torch.py'), net, String(batches)], {
      env: { ...process.env, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-openmp' },
      encoding: 'utf8',
    });
    return Number(JSON.parse(out.trim().split('\n').pop() ?? '{}').samples_per_s);
  } catch (err) {
    console.error(`pytorch ${net}: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

await initBackend({ force: 'wasm' });
if (process.argv.includes('--memory')) {
  const model = kerasMobileNetV2(0.35, [224, 224, 3], 10);
  const steps = 3;
  const data = split(32 * steps, 224 * 224 * 3, 10);
  const t0 = performance.now();
  const result = await finetuneMasked(model, data, { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: 'adam' }, { masks: new Map() });
  const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  console.log(`MobileNetV2-0.35 224x224x3, batch 32, ${steps} steps on ${result.fused.used ? result.fused.note : `tfjs (${result.fused.note})`}: ${((performance.now() - t0) / 1000).toFixed(1)} s, peak RSS ${peak ? (Number(peak[1]) / 2 ** 20).toFixed(2) : '?'} GiB, loss ${result.history[0].loss.toFixed(3)}`);
  model.dispose();
  process.exit(0);
}
console.log(`batch ${BATCH}, ${batches} timed steps, median of ${reps}; backend ${tf.getBackend()}`);
for (const name of nets) {
  const net = NETS[name];
  if (!net) throw new Error(`unknown net ${name} (one of ${Object.keys(NETS).join(', ')})`);
  const per = net.shape.reduce((a, b) => a * b, 1);
  const data = split(BATCH * (batches + 2), per, net.classes);
  const fused: number[] = [];
  const plain: number[] = [];
  const peer: number[] = [];
  let pathName = '';
  for (let r = 0; r < reps; r++) {
    const f = await throughput(net.make, data, batches, undefined);
    fused.push(f.rate);
    pathName = f.path;
    if (!process.argv.includes('--no-tfjs')) plain.push((await throughput(net.make, data, Math.max(3, Math.round(batches / 10)), false)).rate);
    if (process.argv.includes('--torch')) {
      const t = torch(name);
      if (t !== undefined) peer.push(t);
    }
  }
  const f = median(fused);
  const cells = [`${name.padEnd(14)} ${pathName}: ${f.toFixed(0)} samples/s`];
  if (plain.length) cells.push(`tfjs step ${median(plain).toFixed(0)} (x${(f / median(plain)).toFixed(1)})`);
  if (peer.length) cells.push(`pytorch ${median(peer).toFixed(0)} (ours/pytorch ${(f / median(peer)).toFixed(2)})`);
  console.log(cells.join(', '));
}

/**
 * Per-node CPU time of the fused native training step on one benchmark net (bench-models.ts):
 * runs `--steps` batch-64 steps through finetuneMasked with TOPIARY_TRAIN_PROFILE=1, so the addon
 * prints lane 0's forward and backward milliseconds per node when the trainer is freed (the first
 * two steps, which page-fault the lane buffers in, are left out of the profile), then samples/s.
 * Where the step's time goes, not a comparison: modern-nets.ts measures against PyTorch.
 * Run: npx tsx test/bench/train-profile.ts [--net resnet-8] [--steps 20]
 */
import { finetuneMasked } from '../../src-main/engine/finetune/trainer';
import { initBackend } from '../../src-main/node/backend';
import { buildNet, NET_INPUT, randomSplit, type AnyNet } from './bench-models';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
process.env.TOPIARY_TRAIN_PROFILE = '1';
const net = arg('--net', 'resnet-8') as AnyNet;
const steps = Number(arg('--steps', '20'));
const batch = 64;
const warm = 2;

await initBackend({ force: 'wasm' });
const { shape, classes } = NET_INPUT[net];
const model = buildNet(net);
let t0 = 0;
let t1 = 0;
const r = await finetuneMasked(model, randomSplit(batch * (steps + warm), 1, shape, classes), { epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: 'adam' }, {
  masks: new Map(),
  onProgress: (p) => {
    if (p.phase !== 'batch') return;
    if (p.batch === warm - 1) t0 = performance.now();
    t1 = performance.now();
  },
});
model.dispose();
console.log(`${net}: ${r.fused.used ? 'fused native step' : `tfjs step (${r.fused.note ?? ''})`}, ${((batch * (steps - 1)) / ((t1 - t0) / 1000)).toFixed(0)} samples/s over ${steps - 1} timed steps`);

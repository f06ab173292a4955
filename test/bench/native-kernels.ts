/**
 * The native addon's kernels alone, called directly (no tfjs, so no per-op overhead): GEMM GFLOP/s
 * on LeNet-300-100's first-layer products at 1 and 2 threads, and LeNet-5's convolutions (forward,
 * filter and input gradient) at batch 64. How this compares with the wasm kernels inside training
 * is speed.ts's job (rows `wasm` and `native`).
 * Run: npx tsx test/bench/native-kernels.ts (~10 s). Needs the addon (npm ci builds it).
 */
import { loadNativeAddon } from '../../src-main/node/native';
import { seededRandom } from '../../src-main/engine/data';
import { median } from './bench-models';

const { addon, status } = loadNativeAddon();
if (!addon) {
  console.log(`native addon not in use: ${status.reason}`);
  process.exit(0);
}
const rand = seededRandom(1);
const values = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);

/** Median ms of `f` over 5 rounds of `reps` calls, after a warm-up round. */
function ms(f: () => void, reps: number): number {
  const rounds: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) f();
    if (r > 0) rounds.push((performance.now() - t0) / reps);
  }
  return median(rounds);
}

const gflops = (macs: number, t: number) => ((2 * macs) / (t / 1000) / 1e9).toFixed(1);

console.log(`native addon ${status.isa}; batch 64; median of 5 rounds`);
for (const [m, n, k, ta, tb, what] of [
  [64, 300, 784, 0, 0, 'forward  x·W'],
  [784, 300, 64, 1, 0, 'dW = xᵀ·dy'],
  [64, 784, 300, 0, 1, 'dx = dy·Wᵀ'],
] as const) {
  const a = values(m * k);
  const b = values(k * n);
  const c = new Float32Array(m * n);
  const row: string[] = [];
  for (const threads of [1, 2]) {
    addon.setThreads(threads);
    const t = ms(() => addon.gemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n, 0, null, 0), 100);
    row.push(`native ${threads}t ${t.toFixed(3)} ms (${gflops(m * n * k, t)} GFLOP/s)`);
  }
  console.log(`gemm ${m}x${k}·${k}x${n} ${what}: ${row.join(' | ')}`);
}
addon.setThreads(status.threads ?? 1);
for (const [name, shape] of [
  ['conv1 28x28x1 5x5 ->6', [64, 28, 28, 1, 5, 5, 6, 24, 24, 1, 1, 1, 1, 0, 0]],
  ['conv2 12x12x6 5x5 ->16', [64, 12, 12, 6, 5, 5, 16, 8, 8, 1, 1, 1, 1, 0, 0]],
] as const) {
  const [bn, h, w, ci, fh, fw, co, oh, ow] = shape;
  const x = values(bn * h * w * ci);
  const f = values(fh * fw * ci * co);
  const dy = values(bn * oh * ow * co);
  const y = new Float32Array(dy.length);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(f.length);
  const s = [...shape];
  const fwd = ms(() => addon.conv2d(s, x, f, null, 1, y), 50);
  const filt = ms(() => addon.conv2dBackpropFilter(s, x, dy, dw), 50);
  const input = ms(() => addon.conv2dBackpropInput(s, dy, f, dx), 50);
  console.log(`${name} (${status.threads} threads): forward ${fwd.toFixed(3)} ms, filter gradient ${filt.toFixed(3)} ms, input gradient ${input.toFixed(3)} ms`);
}

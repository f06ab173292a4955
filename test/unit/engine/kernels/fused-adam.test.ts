import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FusedAdam, type StepOptimizer } from '../../../../src-main/engine/finetune/adam';
import { FUSED_ADAM, registerFusedAdam, WASM_FUSED_MAX_SIZE } from '../../../../src-main/engine/kernels/fused-adam';
import { unregisterNativeKernels } from '../../../../src-main/engine/kernels/native-kernels';
import { initBackend } from '../../../../src-main/node/backend';
import { randomValues } from './compare';

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
  // These are the wasm kernels' tests: take the native addon's kernels out of the way (this file only).
  unregisterNativeKernels();
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

// The last is above WASM_FUSED_MAX_SIZE, so on wasm it takes the tf-ops path.
const SHAPES = [[7, 5], [5], [3, 3, 2, 4], [260, 260]];

/** k Adam steps from the same start with the same (seeded, some zero) gradients; final weights. */
function run(make: () => StepOptimizer | tf.Optimizer, steps: number, tag: string): Float32Array[] {
  const vars = SHAPES.map((s, i) => tf.tidy(() => tf.variable(tf.tensor(randomValues(tf.util.sizeFromShape(s), 10 + i), s), true, `${tag}_${i}`)));
  const opt = make();
  for (let k = 0; k < steps; k++) {
    tf.tidy(() => {
      const grads: tf.NamedTensorMap = {};
      vars.forEach((v, i) => {
        // Every third entry has a zero gradient (a pruned weight): it must stay where it is.
        const g = randomValues(v.size, 100 * k + i).map((x, j) => (j % 3 === 0 ? 0 : x * (k + 1)));
        grads[v.name] = tf.tensor(g, v.shape);
      });
      // Two calls only for the types: tf.Optimizer declares NamedVariableMap, ours NamedTensorMap.
      if (opt instanceof tf.Optimizer) opt.applyGradients(grads);
      else opt.applyGradients(grads);
    });
  }
  opt.dispose();
  const out = vars.map((v) => v.dataSync().slice() as Float32Array);
  vars.forEach((v) => v.dispose());
  return out;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((w, i) => w.forEach((x, j) => (d = Math.max(d, Math.abs(x - b[i][j])))));
  return d;
}

describe('FusedAdam', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`matches tf.train.adam within 1e-5 after 6 steps on ${backend}, leaking no tensors`, async () => {
      await tf.setBackend(backend);
      const start = tf.memory().numTensors;
      const ref = run(() => tf.train.adam(0.01), 6, `ref_${backend}`);
      const ours = run(() => new FusedAdam(0.01), 6, `ours_${backend}`);
      expect(maxDiff(ours, ref)).toBeLessThan(1e-5);
      // The weights moved (by ~6 * lr), so the comparison is not vacuous.
      const init = SHAPES.map((s, i) => Float32Array.from(randomValues(tf.util.sizeFromShape(s), 10 + i)));
      expect(maxDiff(ours, init)).toBeGreaterThan(0.03);
      expect(tf.memory().numTensors).toBe(start);
    });
  }

  it('uses the one-kernel path on wasm and cpu, and tf ops elsewhere with the same result', async () => {
    registerFusedAdam();
    expect(260 * 260).toBeGreaterThan(WASM_FUSED_MAX_SIZE);
    expect(tf.getKernel(FUSED_ADAM, 'wasm')).toBeDefined();
    expect(tf.getKernel(FUSED_ADAM, 'cpu')).toBeDefined();
    await tf.setBackend('cpu');
    const fused = run(() => new FusedAdam(0.01, 0.8, 0.99), 4, 'fused');
    // Without the kernel (unregistered after the constructor registered it), tf ops do the update.
    const opt = new FusedAdam(0.01, 0.8, 0.99);
    const config = tf.getKernel(FUSED_ADAM, 'cpu') as tf.KernelConfig;
    tf.unregisterKernel(FUSED_ADAM, 'cpu');
    try {
      const ops = run(() => opt, 4, 'ops');
      expect(maxDiff(fused, ops)).toBeLessThan(1e-6);
    } finally {
      tf.registerKernel(config);
    }
  });
});

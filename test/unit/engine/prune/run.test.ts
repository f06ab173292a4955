import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../../../src-main/common/errors';
import { cloneModel } from '../../../../src-main/engine/finetune/clone';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { applyPlan } from '../../../../src-main/engine/prune/plan';
import { runPruning } from '../../../../src-main/engine/prune/run';
import type { PruneProgress } from '../../../../src-main/engine/prune/types';
import { kernelOf, mlp, syntheticDataset, zeros } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const LAYERS = ['fc1', 'fc2', 'out'];
const TOTAL = 16 * 12 + 12 * 8 + 8 * 3;
const totalZeros = (m: tf.LayersModel): number => LAYERS.reduce((a, l) => a + zeros(kernelOf(m, l)), 0);

describe('runPruning', () => {
  it('one-shot prune + Adam fine-tuning keeps the exact sparsity, improves accuracy and leaks nothing', async () => {
    const data = syntheticDataset([16], 3, 256, 256);
    const model = mlp();
    const start = tf.memory().numTensors;
    const cfg = validatePruneConfig({ sparsity: 0.75, finetune: { epochs: 3, batchSize: 32, learningRate: 0.02 } }, model);
    const prunedOnly = await cloneModel(model);
    const { plan, history } = await runPruning(model, data, cfg);
    expect(totalZeros(model)).toBe(Math.round(0.75 * TOTAL));
    expect(history).toHaveLength(3);
    applyPlan(prunedOnly, plan);
    expect(evaluateModel(model, data.test).accuracy).toBeGreaterThan(evaluateModel(prunedOnly, data.test).accuracy);
    prunedOnly.dispose();
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('a poly schedule ramps sparsity during training and ends at the target with masks held', async () => {
    const data = syntheticDataset([16], 3, 128, 32);
    const model = mlp();
    const cfg = validatePruneConfig(
      { sparsity: 0.8, scope: 'layer', schedule: { kind: 'poly', initialSparsity: 0.2, frequency: 2 }, finetune: { epochs: 3, batchSize: 32 } },
      model,
    );
    const seen: number[] = [];
    let lastZeros = 0;
    const { plan } = await runPruning(model, data, cfg, {
      onProgress: (p: PruneProgress) => {
        if (p.phase === 'prune') seen.push(p.sparsity);
        if (p.phase === 'batch') {
          // Sparsity never decreases between steps: pruned weights stay zero while training.
          const z = totalZeros(model);
          expect(z).toBeGreaterThanOrEqual(lastZeros);
          lastZeros = z;
        }
      },
    });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen[0]).toBeCloseTo(0.2, 1);
    expect(seen.every((s, i) => i === 0 || s >= seen[i - 1])).toBe(true);
    for (const l of LAYERS) expect(zeros(kernelOf(model, l))).toBe(Math.round(0.8 * kernelOf(model, l).length));
    expect(plan.steps.length).toBe(3 * seen.length);
    model.dispose();
  });

  it('iterative rounds, N:M, movement, taylor and distillation all finish with their pattern in place', async () => {
    const data = syntheticDataset([16], 3, 64, 16);
    const cases = [
      { sparsity: 0.7, schedule: { kind: 'iterative', rounds: 3 } },
      { granularity: 'nm', schedule: { kind: 'poly', initialSparsity: 0 } },
      { method: 'movement', sparsity: 0.6, schedule: { kind: 'poly', initialSparsity: 0, frequency: 1 } },
      { method: 'taylor', sparsity: 0.6, scope: 'layer' },
      { sparsity: 0.5, finetune: { epochs: 2, batchSize: 16, distill: { temperature: 2, alpha: 0.5 } } },
    ];
    for (const raw of cases) {
      const model = mlp();
      const start = tf.memory().numTensors;
      const cfg = validatePruneConfig({ finetune: { epochs: 2, batchSize: 16 }, ...raw }, model);
      const { plan } = await runPruning(model, data, cfg);
      const expected = cfg.granularity === 'nm' ? 0.5 : cfg.sparsity;
      expect(totalZeros(model)).toBe(Math.round(expected * TOTAL));
      expect(plan.achievedSparsity).toBeCloseTo(Math.round(expected * TOTAL) / TOTAL, 12);
      expect(tf.memory().numTensors).toBe(start);
      model.dispose();
    }
  });

  it('prunes without fine-tuning when epochs is 0', async () => {
    const data = syntheticDataset([16], 3, 16, 8);
    const model = mlp();
    const { history, plan } = await runPruning(model, data, validatePruneConfig({ sparsity: 0.5, finetune: { epochs: 0 } }, model));
    expect(history).toEqual([]);
    expect(plan.steps).toHaveLength(3);
    expect(totalZeros(model)).toBe(Math.round(0.5 * TOTAL));
    model.dispose();
  });

  it('cancels with CancelledError and releases its tensors', async () => {
    const data = syntheticDataset([16], 3, 256, 8);
    const model = mlp();
    const start = tf.memory().numTensors;
    const ctrl = new AbortController();
    const cfg = validatePruneConfig({ sparsity: 0.5, finetune: { epochs: 5, batchSize: 16, distill: { temperature: 2, alpha: 0.5 } } }, model);
    const run = runPruning(model, data, cfg, {
      signal: ctrl.signal,
      onProgress: (p) => p.phase === 'batch' && p.batch === 2 && ctrl.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('routes structured granularity to pruneStructured: a smaller model, fine-tuned, original untouched', async () => {
    const data = syntheticDataset([16], 3, 64, 16);
    const model = mlp();
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    const cfg = validatePruneConfig({ granularity: 'structured', sparsity: 0.5, scope: 'layer', schedule: { kind: 'iterative', rounds: 2 }, finetune: { epochs: 2, batchSize: 16 } }, model);
    const epochs: number[] = [];
    const res = await runPruning(model, data, cfg, { onProgress: (p) => p.phase === 'epoch' && epochs.push(p.epoch) });
    expect(res.model).not.toBe(model);
    expect(epochs).toEqual([0, 1]);
    expect(res.history.map((h) => h.epoch)).toEqual([0, 1]);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    const units = (name: string): number => (res.model.getLayer(name) as unknown as { units: number }).units;
    // Two rounds of 1 - sqrt(0.5) ~ 29% each: 12 -> 9 -> 7 and 8 -> 6 -> 5 (floor per group); the output keeps 3.
    expect([units('fc1'), units('fc2'), units('out')]).toEqual([7, 5, 3]);
    expect(res.plan.steps.map((s) => s.kind)).toEqual(['structured', 'structured']);
    expect(res.history).toHaveLength(2);
    expect(res.structured!.paramsAfter).toBeLessThan(res.structured!.paramsBefore);
    expect(() => validatePruneConfig({ granularity: 'structured', schedule: { kind: 'poly', initialSparsity: 0 } })).toThrow(/structured pruning rebuilds/);
    res.model.dispose();
    model.dispose();
  });
});

/** Regression in the engine: MSE/MAE fine-tuning keeps masks and learns; metrics; criteria use the task's loss. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { arraySplit, type Dataset } from '../../../../src-main/engine/data';
import { evaluateModel } from '../../../../src-main/engine/finetune/evaluate';
import type { FusedTrainerFactory } from '../../../../src-main/engine/finetune/fused-step';
import { finetuneMasked } from '../../../../src-main/engine/finetune/trainer';
import { importanceFor } from '../../../../src-main/engine/importance';
import { evaluate } from '../../../../src-main/engine/measure';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { runPruning } from '../../../../src-main/engine/prune/run';
import { prunableWeights } from '../../../../src-main/engine/prune/weights';
import { seededRandom } from '../../../../src-main/engine/data';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** y = 1 + 2 x0 - x1 + 0.5 x2 (+ small noise), x uniform in [0, 1)^4. */
function linearData(n: number, seed: number): { x: Float32Array; y: Float32Array } {
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * 4 }, () => rand());
  const y = Float32Array.from({ length: n }, (_, i) => 1 + 2 * x[i * 4] - x[i * 4 + 1] + 0.5 * x[i * 4 + 2] + 0.01 * (rand() - 0.5));
  return { x, y };
}

function regressor(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 16, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

function dataset(): Dataset {
  const tr = linearData(512, 1);
  const te = linearData(128, 2);
  return { name: 'lin', source: 'lin', sampleShape: [4], classNames: [], targetNames: ['y'], train: arraySplit(tr.x, tr.y, 4), test: arraySplit(te.x, te.y, 4), warnings: [] };
}

describe('regression fine-tuning and metrics', () => {
  it('prunes 50 %, fine-tunes with MSE (tfjs step), lowers MAE and keeps masks; the fused trainer steps aside', async () => {
    const ds = dataset();
    const model = regressor();
    const start = tf.memory().numTensors;
    const before = await evaluate(model, ds.test, { task: 'regression' });
    expect(before.task).toBe('regression');
    const fusedCalls: string[] = [];
    const factory: FusedTrainerFactory = () => {
      fusedCalls.push('called');
      return 'unused';
    };
    const { setDefaultFusedTrainer } = await import('../../../../src-main/engine/finetune/trainer');
    setDefaultFusedTrainer(factory);
    let note: string | undefined;
    try {
      const cfg = validatePruneConfig({ sparsity: 0.5, task: 'regression', finetune: { epochs: 6, batchSize: 32, learningRate: 0.02 } }, model);
      expect(cfg.finetune.loss).toBe('mse');
      const res = await runPruning(model, ds, cfg);
      expect(res.plan.achievedSparsity).toBeCloseTo(0.5, 2);
      // Same loop again directly, to read the fused note (runPruning does not return it).
      const r2 = await finetuneMasked(model, ds.train, { ...cfg.finetune, epochs: 1 }, { masks: new Map() });
      note = r2.fused.note;
    } finally {
      setDefaultFusedTrainer(undefined);
    }
    expect(fusedCalls).toEqual([]);
    expect(note).toMatch(/regression \(mse loss\) runs in tfjs/);
    const after = await evaluate(model, ds.test, { task: 'regression' });
    expect(after.mae as number).toBeLessThan((before.mae as number) * 0.5);
    expect(after.rmse as number).toBeGreaterThanOrEqual(after.mae as number);
    expect(after.r2 as number).toBeGreaterThan(before.r2 as number);
    expect(after.loss).toBeCloseTo((after.rmse as number) ** 2, 4);
    for (const w of prunableWeights(model)) {
      const v = w.variable.read().dataSync();
      expect(v.filter((x) => x === 0).length).toBeGreaterThan(0);
    }
    expect(tf.memory().numTensors).toBe(start);
    model.dispose();
  });

  it('data-parallel helpers step aside for a regressor, saying why', async () => {
    const ds = dataset();
    const model = regressor();
    let asked = 0;
    const res = await finetuneMasked(model, ds.train, { epochs: 1, batchSize: 64, learningRate: 0.01, optimizer: 'adam', task: 'regression', loss: 'mae' }, {
      masks: new Map(),
      fusedTrainer: false,
      gradientShards: async () => {
        asked++;
        return 'unused';
      },
    });
    expect(asked).toBe(0);
    expect(res.parallel).toEqual({ shards: 1, note: 'regression runs in one thread (helpers compute cross-entropy only)' });
    expect(Number.isFinite(res.history[0].loss)).toBe(true);
    model.dispose();
  });

  it('MAE, RMSE and R² are exact for a known linear model', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [1], units: 1, useBias: false, kernelInitializer: 'ones' })] });
    const x = new Float32Array([1, 2, 3, 4]);
    const y = new Float32Array([1, 2, 3, 6]); // errors 0, 0, 0, -2
    const r = await evaluate(m, arraySplit(x, y, 1), { task: 'regression' });
    expect(r.mae).toBeCloseTo(0.5, 6);
    expect(r.rmse).toBeCloseTo(1, 6);
    // SST around mean 3: 4 + 1 + 0 + 9 = 14; R² = 1 - 4/14.
    expect(r.r2).toBeCloseTo(1 - 4 / 14, 6);
    const q = evaluateModel(m, arraySplit(x, y, 1), { task: 'regression' });
    expect(q.accuracy).toBeCloseTo(1 - 4 / 14, 5);
    expect(q.loss).toBeCloseTo(1, 5);
    const mae = evaluateModel(m, arraySplit(x, y, 1), { task: 'regression', loss: 'mae' });
    expect(mae.loss).toBeCloseTo(0.5, 5);
    m.dispose();
  });

  it('k-output regression reads [n, k] targets', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2, useBias: false, kernelInitializer: 'identity' })] });
    const x = new Float32Array([1, 2, 3, 4]);
    const y = new Float32Array([1, 3, 3, 4]); // one error of 1 over 4 values
    const r = await evaluate(m, arraySplit(x, y, 2, 2), { task: 'regression' });
    expect(r.mae).toBeCloseTo(0.25, 6);
    expect(r.samples).toBe(2);
    m.dispose();
  });

  it('taylor scores differentiate the regression loss (cross-entropy cannot even be taken of a 1-unit output)', async () => {
    const ds = dataset();
    const model = regressor();
    const weights = prunableWeights(model);
    const scores = await importanceFor('taylor').scores(weights, { model, data: ds.train, batches: 2, batchSize: 32, task: 'regression', loss: 'mse' });
    const s = scores.get(weights[1].weightName) as Float32Array;
    expect(Math.max(...s)).toBeGreaterThan(0);
    await expect(importanceFor('taylor').scores(weights, { model, data: arraySplit(new Float32Array(4 * 64), new Int32Array(64), 4), batches: 2, batchSize: 32 })).rejects.toThrow(/depth/);
    model.dispose();
  });

  it('a regression loss for a classifier, and distillation of a regressor, are config errors', () => {
    expect(() => validatePruneConfig({ task: 'classification', finetune: { loss: 'mae' } })).toThrow(/finetune.loss "mae" is a regression loss/);
    expect(() => validatePruneConfig({ task: 'regression', finetune: { loss: 'huber' } })).toThrow(/finetune.loss must be one of mse, mae/);
    expect(() => validatePruneConfig({ task: 'regression', finetune: { distill: { temperature: 2, alpha: 0.5 } } })).toThrow(/does not apply to a regression model/);
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DivergenceGuard } from '../../../../src-main/engine/finetune/divergence';
import { finetuneMasked } from '../../../../src-main/engine/finetune/trainer';
import type { FinetuneConfig } from '../../../../src-main/engine/prune/types';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { pruneUnstructured } from '../../../../src-main/engine/prune/unstructured';
import { disposeAll, mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const ft = (over: Partial<FinetuneConfig> = {}): FinetuneConfig => ({ epochs: 2, batchSize: 16, learningRate: 0.01, optimizer: 'adam', ...over });

describe('DivergenceGuard', () => {
  it('a NaN or infinite loss has diverged at once', () => {
    expect(new DivergenceGuard().observe(Number.NaN)).toBe('the loss became NaN');
    expect(new DivergenceGuard().observe(Number.POSITIVE_INFINITY)).toBe('the loss became Infinity');
  });

  it('a loss above factor x its start diverges only after patience steps in a row; one spike does not', () => {
    const g = new DivergenceGuard({ factor: 10, patience: 3, floor: 0 });
    expect(g.observe(1)).toBeUndefined();
    expect(g.observe(50)).toBeUndefined();
    expect(g.observe(0.9)).toBeUndefined(); // the streak is broken
    expect(g.observe(50)).toBeUndefined();
    expect(g.observe(60)).toBeUndefined();
    expect(g.calm).toBe(false);
    expect(g.observe(70)).toMatch(/exploded: above 10x its starting value 1\.000 for 3 steps in a row \(now 70\.00\)/);
  });

  it('rebase (new masks) measures against the next loss; the floor keeps a lucky first batch from setting a tiny reference', () => {
    const g = new DivergenceGuard({ factor: 10, patience: 2, floor: 0 });
    g.observe(1);
    g.rebase();
    g.observe(20);
    expect(g.observe(30)).toBeUndefined();
    const floored = new DivergenceGuard({ factor: 10, patience: 2, floor: 0.2 });
    floored.observe(0.001);
    expect(floored.observe(0.5)).toBeUndefined();
    expect(floored.observe(0.5)).toBeUndefined();
    expect(floored.observe(3)).toBeUndefined();
    expect(floored.observe(3)).toMatch(/exploded/);
  });
});

describe('finetuneMasked stops a diverging run', () => {
  it('a huge learning rate: stops with the reason, gives back the best weights (finite, masks kept), frees its copies', async () => {
    const data = syntheticDataset([16], 3, 256, 64);
    const model = mlp();
    const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.5 }, model));
    const start = tf.memory().numTensors;
    const zeros = new Map([...masks].map(([k, m]) => [k, Array.from(m.dataSync()).flatMap((v, i) => (v === 0 ? [i] : []))]));
    const res = await finetuneMasked(model, data.train, ft({ epochs: 3, learningRate: 1e6, optimizer: 'sgd' }), { masks, seed: 1 });
    expect(res.diverged).toBeDefined();
    expect(res.diverged?.reason).toMatch(/the loss (became NaN|became Infinity|exploded)/);
    expect(res.diverged?.kept).toBe('before fine-tuning');
    expect(res.steps).toBeLessThan(3 * 16);
    for (const w of model.weights) expect(Array.from(w.read().dataSync()).every(Number.isFinite)).toBe(true);
    for (const w of model.trainableWeights) for (const i of zeros.get(w.name) ?? []) expect(Math.abs(w.read().dataSync()[i])).toBe(0);
    expect(tf.memory().numTensors).toBe(start);
    disposeAll(masks);
    model.dispose();
  });

  it('a sane run is not stopped, and divergence: false turns the check off', async () => {
    const data = syntheticDataset([16], 3, 128, 32);
    const model = mlp();
    const res = await finetuneMasked(model, data.train, ft({ epochs: 2 }), { masks: new Map(), seed: 2 });
    expect(res.diverged).toBeUndefined();
    expect(res.history).toHaveLength(2);
    const off = await finetuneMasked(model, data.train, ft({ epochs: 1, learningRate: 1e6, optimizer: 'sgd' }), { masks: new Map(), divergence: false });
    expect(off.diverged).toBeUndefined();
    model.dispose();
  });
});

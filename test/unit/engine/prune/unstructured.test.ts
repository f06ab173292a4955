import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { pruneUnstructured } from '../../../../src-main/engine/prune/unstructured';
import { convnet, disposeAll, kernelOf, mlp, zeros } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const models: tf.LayersModel[] = [];
afterEach(() => {
  for (const m of models.splice(0)) m.dispose();
});
const track = <T extends tf.LayersModel>(m: T): T => (models.push(m), m);

describe('pruneUnstructured', () => {
  it('reaches the requested sparsity exactly in every layer with layer scope', async () => {
    const model = track(mlp());
    const cfg = validatePruneConfig({ sparsity: 0.7, scope: 'layer' }, model);
    const { plan, masks } = await pruneUnstructured(model, cfg);
    for (const [layer, size] of [['fc1', 16 * 12], ['fc2', 12 * 8], ['out', 8 * 3]] as const) {
      expect(zeros(kernelOf(model, layer))).toBe(Math.round(0.7 * size));
    }
    expect(plan.steps.map((s) => s.kind === 'mask' && s.pruned)).toEqual([134, 67, 17]);
    disposeAll(masks);
  });

  it('reaches the requested sparsity exactly over all layers with global scope, layers differing', async () => {
    const model = track(mlp());
    const cfg = validatePruneConfig({ sparsity: 0.6, scope: 'global' }, model);
    const { plan, masks } = await pruneUnstructured(model, cfg);
    const total = 16 * 12 + 12 * 8 + 8 * 3;
    const z = ['fc1', 'fc2', 'out'].map((l) => zeros(kernelOf(model, l)));
    expect(z.reduce((a, b) => a + b)).toBe(Math.round(0.6 * total));
    expect(plan.achievedSparsity).toBeCloseTo(Math.round(0.6 * total) / total, 10);
    // One global threshold: every kept weight is at least as large as every pruned one.
    const steps = plan.steps.filter((s) => s.kind === 'mask');
    const maxPruned = Math.max(...steps.map((s) => s.scores.threshold));
    const keptMin = Math.min(...['fc1', 'fc2', 'out'].flatMap((l) => Array.from(kernelOf(model, l)).filter((v) => v !== 0).map(Math.abs)));
    expect(keptMin).toBeGreaterThanOrEqual(maxPruned);
    disposeAll(masks);
  });

  it('honours perLayer overrides and ignored layers', async () => {
    const model = track(mlp());
    const before = Array.from(kernelOf(model, 'out'));
    const cfg = validatePruneConfig({ sparsity: 0.5, scope: 'global', perLayer: { fc2: 0.25 }, ignore: ['out'] }, model);
    const { masks } = await pruneUnstructured(model, cfg);
    expect(zeros(kernelOf(model, 'fc2'))).toBe(24);
    expect(zeros(kernelOf(model, 'fc1'))).toBe(96);
    expect(Array.from(kernelOf(model, 'out'))).toEqual(before);
    expect(masks.size).toBe(2);
    disposeAll(masks);
  });

  it('breaks ties deterministically: equal weights are pruned lowest index first', async () => {
    const model = track(mlp());
    const fc1 = model.getLayer('fc1') as unknown as { kernel: tf.LayerVariable };
    tf.tidy(() => {
      fc1.kernel.write(tf.ones([16, 12]));
    });
    const cfg = validatePruneConfig({ sparsity: 0.25, scope: 'layer' }, model);
    const { masks } = await pruneUnstructured(model, cfg);
    const k = kernelOf(model, 'fc1');
    expect(zeros(k)).toBe(48);
    expect(Array.from(k.subarray(0, 48)).every((v) => v === 0)).toBe(true);
    expect(Array.from(k.subarray(48)).every((v) => v === 1)).toBe(true);
    disposeAll(masks);
  });

  it('zero sparsity is a no-op', async () => {
    const model = track(mlp());
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    const { masks, plan } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0 }, model));
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    expect(plan.achievedSparsity).toBe(0);
    disposeAll(masks);
  });

  it('keeps N of every M consecutive weights along the input dimension (Dense and Conv2D)', async () => {
    const model = track(convnet());
    const cfg = validatePruneConfig({ granularity: 'nm', nm: { n: 2, m: 4 } }, model);
    const { masks, plan } = await pruneUnstructured(model, cfg);
    // conv1 [3,3,4,8] and conv2 [1,1,8,4]: input axis 2; out [16,3] (flattened 2x2x4): input axis 0.
    const check = (layer: string, shape: number[], inAxis: number): void => {
      const k = kernelOf(model, layer);
      const size = shape[inAxis];
      const stride = shape.slice(inAxis + 1).reduce((a, b) => a * b, 1);
      const outer = shape.slice(0, inAxis).reduce((a, b) => a * b, 1);
      let groups = 0;
      for (let o = 0; o < outer; o++)
        for (let s = 0; s < stride; s++)
          for (let g = 0; g < size; g += 4) {
            let nz = 0;
            for (let j = 0; j < 4; j++) if (k[(o * size + g + j) * stride + s] !== 0) nz++;
            expect(nz).toBe(2);
            groups++;
          }
      expect(groups).toBe(k.length / 4);
    };
    check('conv1', [3, 3, 4, 8], 2);
    check('conv2', [1, 1, 8, 4], 2);
    check('out', [16, 3], 0);
    // Depthwise kernels have no input dimension to group and are left alone.
    expect(plan.steps.map((s) => s.kind === 'mask' && s.layer)).toEqual(['conv1', 'conv2', 'out']);
    expect(plan.achievedSparsity).toBe(0.5);
    disposeAll(masks);
  });

  it('N:M keeps the largest magnitudes of each group', async () => {
    const model = track(tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [8], useBias: false, name: 'd' })] }));
    tf.tidy(() => {
      (model.getLayer('d') as unknown as { kernel: tf.LayerVariable }).kernel.write(tf.tensor2d([0.1, -3, 2, 0.2, 5, 0.3, -0.4, 0.35], [8, 1]));
    });
    const { masks } = await pruneUnstructured(model, validatePruneConfig({ granularity: 'nm' }, model));
    expect(Array.from(kernelOf(model, 'd'))).toEqual([0, -3, 2, 0, 5, 0, -0.4, 0].map((v) => Math.fround(v)));
    disposeAll(masks);
  });

  it('a later round with previous masks keeps everything pruned before pruned', async () => {
    const model = track(mlp());
    const cfg = validatePruneConfig({ sparsity: 0.8, scope: 'layer', method: 'random', seed: 1 }, model);
    const first = await pruneUnstructured(model, cfg, { sparsity: 0.4 });
    const cfg2 = { ...cfg, seed: 2 };
    const second = await pruneUnstructured(model, cfg2, { sparsity: 0.8, masks: first.masks });
    for (const [name, m1] of first.masks) {
      const a = m1.dataSync();
      const b = second.masks.get(name)!.dataSync();
      for (let i = 0; i < a.length; i++) if (a[i] === 0) expect(b[i]).toBe(0);
    }
    expect(zeros(kernelOf(model, 'fc1'))).toBe(Math.round(0.8 * 192));
    disposeAll(first.masks);
    disposeAll(second.masks);
  });

  it('refuses a global threshold that would empty a layer', async () => {
    const model = track(mlp());
    tf.tidy(() => {
      (model.getLayer('fc2') as unknown as { kernel: tf.LayerVariable }).kernel.write(tf.fill([12, 8], 1e-6));
    });
    const cfg = validatePruneConfig({ sparsity: 0.5, scope: 'global' }, model);
    await expect(pruneUnstructured(model, cfg)).rejects.toThrow(/would prune every weight of layer "fc2"/);
    // LAMP makes the threshold layer-adaptive: the same model keeps weights in fc2.
    const { masks } = await pruneUnstructured(model, { ...cfg, method: 'lamp' });
    expect(zeros(kernelOf(model, 'fc2'))).toBeLessThan(96);
    disposeAll(masks);
  });

  it('leaves no tensors behind once the masks are disposed', async () => {
    const model = track(convnet());
    const start = tf.memory().numTensors;
    for (const method of ['magnitude', 'lamp', 'random'] as const) {
      const { masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.5, method }, model));
      disposeAll(masks);
    }
    expect(tf.memory().numTensors).toBe(start);
  });

  it('rejects structured granularity with a ConfigError', async () => {
    const model = track(mlp());
    await expect(pruneUnstructured(model, validatePruneConfig({ granularity: 'structured' }, model))).rejects.toBeInstanceOf(ConfigError);
  });
});

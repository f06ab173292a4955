import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { builtinProfile, parseProfile, type Profile } from '../../../../src-main/common/profiles';
import { seededRandom, type DataSplit } from '../../../../src-main/engine/data';
import { checkFit, searchFit } from '../../../../src-main/engine/fit';
import { pruneStructured } from '../../../../src-main/engine/prune/structured';
import { lenet5 } from '../../../../src-main/engine/models';

const mcu = builtinProfile('mcu-cortex-m4')!;
const tight = (ramBytes: number, extra: Partial<Profile> = {}): Profile =>
  parseProfile({ ...mcu, id: 'tiny-mcu', builtin: undefined, ramBytes, ...extra });

function noiseSplit(n: number, seed: number): DataSplit {
  const rand = seededRandom(seed);
  const x = Float32Array.from({ length: n * 784 }, () => rand());
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  return {
    size: n,
    take: (idx) => {
      const out = new Float32Array(idx.length * 784);
      const labels = new Int32Array(idx.length);
      for (let i = 0; i < idx.length; i++) {
        out.set(x.subarray(idx[i] * 784, (idx[i] + 1) * 784), i * 784);
        labels[i] = y[idx[i]];
      }
      return { x: out, y: labels };
    },
  };
}

describe('searchFit', () => {
  it('finds per-layer ratios that bring the arena under a RAM budget the unpruned model exceeds', async () => {
    const model = lenet5({ seed: 1 });
    const profile = tight(11_000);
    const start = tf.memory().numTensors;
    const plan = await searchFit(model, profile, { validation: noiseSplit(32, 1), evalLimit: 32, levels: [0.25, 0.5, 0.75] });
    expect(tf.memory().numTensors).toBe(start);
    expect(plan.baseline.fits).toBe(false);
    expect(plan.binding.map((b) => b.constraint)).toEqual(['ram']);
    expect(plan.feasible).toBe(true);
    expect(plan.best!.fits).toBe(true);
    expect(plan.best!.arenaBytes).toBeLessThanOrEqual(11_000);
    expect(plan.candidates.some((c) => !c.fits && c.level > 0)).toBe(true);
    expect(plan.pruneConfig).toMatchObject({ granularity: 'structured', method: 'magnitude', perLayer: plan.best!.perLayer });
    expect(plan.export).toEqual({ format: 'tflite', quant: 'int8' });

    // Replaying the per-layer ratios gives a model with exactly the measured size and arena.
    const replay = await pruneStructured(model, { sparsity: 0, perLayer: plan.best!.perLayer, scope: 'layer' });
    const { report } = await checkFit(replay.model, profile, { numericType: 'int8' });
    expect(report.arena!.totalBytes).toBe(plan.best!.arenaBytes);
    expect(report.sizeBytes).toBe(plan.best!.sizeBytes);
    replay.model.dispose();
    model.dispose();
  });

  it('says early that nothing fits when even maximal pruning misses the RAM budget', async () => {
    const model = lenet5({ seed: 2 });
    const seen: number[] = [];
    const plan = await searchFit(model, tight(8_000), { onCandidate: (c) => seen.push(c.index) });
    expect(plan.feasible).toBe(false);
    expect(plan.reason).toMatch(/nothing can fit tiny-mcu: even with 90 % of the channels .* ram: arena ~/);
    // Only the unpruned baseline was tried: no search ran.
    expect(seen).toEqual([0]);
    expect(plan.best).toBeNull();
    model.dispose();
  });

  it('says early that an unsupported op cannot be pruned away, naming the layer', async () => {
    const model = lenet5({ seed: 3 });
    const profile = tight(256 * 1024, { supportedOps: mcu.supportedOps.filter((o) => o !== 'MAX_POOL_2D') });
    const plan = await searchFit(model, profile);
    expect(plan.feasible).toBe(false);
    expect(plan.reason).toContain('pool1 (MaxPooling2D): MAX_POOL_2D');
    expect(plan.candidates).toHaveLength(1);
    model.dispose();
  });

  it('a model that already fits is kept unpruned', async () => {
    const model = lenet5({ seed: 4 });
    const plan = await searchFit(model, mcu);
    expect(plan.feasible).toBe(true);
    expect(plan.best!.level).toBe(0);
    expect(plan.best!.perLayer).toEqual({});
    model.dispose();
  });
});

describe('searchFit with sparse float32 weights', () => {
  it('tries unstructured LAMP sparsity when the runtime has DENSIFY, and the sparse file fits the storage budget', async () => {
    const { lenet300100 } = await import('../../../../src-main/engine/models');
    const desktop = builtinProfile('desktop-cpu')!;
    const profile = parseProfile({ ...desktop, id: 'small-disk', builtin: undefined, storageBytes: 600_000, numericTypes: { preferred: ['float32'], allowed: ['float32'] } });
    const model = lenet300100({ seed: 1 });
    const plan = await searchFit(model, profile, { levels: [0.3, 0.6], refine: 0, unstructured: [0.5, 0.8] });
    expect(plan.baseline.fits).toBe(false);
    const sparse = plan.candidates.filter((c) => c.allocation === 'unstructured');
    expect(sparse.length).toBeGreaterThan(0);
    const fit = sparse.find((c) => c.fits)!;
    expect(fit.sizeBytes).toBeLessThanOrEqual(600_000);
    // Unstructured pruning keeps every parameter slot; the CSR file is what shrinks.
    expect(fit.params).toBe(plan.baseline.params);
    expect(plan.feasible).toBe(true);
    model.dispose();
  });
});

describe('searchFit for a download budget', () => {
  it('measures gzip bytes, so unstructured zeros count, and finds a tfjs file under the budget', async () => {
    const { lenet300100 } = await import('../../../../src-main/engine/models');
    const web = builtinProfile('web-browser')!;
    const profile = parseProfile({ ...web, id: 'slow-web', builtin: undefined, storageBytes: 300_000, numericTypes: { preferred: ['float16'], allowed: ['float16'] } });
    const model = lenet300100({ seed: 2 });
    const plan = await searchFit(model, profile, { levels: [0.5], refine: 0, unstructured: [0.8] });
    expect(plan.baseline.gzipBytes!).toBeGreaterThan(300_000);
    const sparse = plan.candidates.find((c) => c.allocation === 'unstructured')!;
    expect(sparse.fits).toBe(true);
    expect(sparse.sizeBytes).toBeLessThanOrEqual(300_000);
    expect(plan.feasible).toBe(true);
    expect(plan.export!.format).toBe('tfjs');
    model.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { cloneModel } from '../../../../src-main/engine/finetune/clone';
import { decodeMask, encodeMask, fromBase64, toBase64 } from '../../../../src-main/engine/prune/bitset';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { applyPlan, masksFromPlan } from '../../../../src-main/engine/prune/plan';
import type { PruningPlan } from '../../../../src-main/engine/prune/types';
import { pruneUnstructured } from '../../../../src-main/engine/prune/unstructured';
import { convnet, disposeAll } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const bytesOf = (m: tf.LayersModel): Uint8Array[] => m.getWeights().map((w) => new Uint8Array((w.dataSync() as Float32Array).slice().buffer));

describe('pruning plans', () => {
  it('base64 bitsets round-trip masks of any length', () => {
    for (const n of [0, 1, 7, 8, 9, 23, 24, 100]) {
      const keep = Uint8Array.from({ length: n }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
      expect(decodeMask(encodeMask(keep), n)).toEqual(keep);
    }
    expect(toBase64(new TextEncoder().encode('topiary!'))).toBe('dG9waWFyeSE=');
    expect(fromBase64('dG9waWFyeSE=')).toEqual(new TextEncoder().encode('topiary!'));
    expect(fromBase64('not base64')).toBeNull();
  });

  it('replaying a stored plan on the original model reproduces the pruned weights bit-exactly', async () => {
    for (const granularity of ['unstructured', 'nm'] as const) {
      const model = convnet(11);
      const original = await cloneModel(model);
      const { plan, masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.73, granularity, method: 'lamp' }, model));
      disposeAll(masks);
      const stored = JSON.parse(JSON.stringify(plan)) as PruningPlan;
      applyPlan(original, stored);
      expect(bytesOf(original)).toEqual(bytesOf(model));
      model.dispose();
      original.dispose();
    }
  });

  it('masksFromPlan gives the masks in force, keyed by the target model weight names', async () => {
    const model = convnet(2);
    const other = await cloneModel(model);
    const { plan, masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.5 }, model));
    const recovered = masksFromPlan(other, plan);
    expect(recovered.size).toBe(masks.size);
    const ownNames = other.weights.map((w) => w.name);
    for (const name of recovered.keys()) expect(ownNames).toContain(name);
    const a = [...masks.values()].map((t) => Array.from(t.dataSync()));
    const b = [...recovered.values()].map((t) => Array.from(t.dataSync()));
    expect(b).toEqual(a);
    disposeAll(masks);
    disposeAll(recovered);
    model.dispose();
    other.dispose();
  });

  it('rejects a plan that does not fit the model with a ConfigError', async () => {
    const model = convnet(5);
    const { plan, masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.5 }, model));
    disposeAll(masks);
    const damaged = structuredClone(plan);
    const first = damaged.steps[0];
    if (first.kind === 'mask') first.mask = first.mask.slice(4);
    expect(() => applyPlan(model, damaged)).toThrow(ConfigError);
    const wrongLayer = structuredClone(plan);
    if (wrongLayer.steps[0].kind === 'mask') wrongLayer.steps[0].layer = 'nope';
    expect(() => applyPlan(model, wrongLayer)).toThrow(/layer "nope"/);
    const structured: PruningPlan = { ...plan, steps: [{ kind: 'structured', layer: 'conv1' }] };
    expect(() => applyPlan(model, structured)).toThrow(/structured/);
    model.dispose();
  });

  it('records per-step statistics that match the mask', async () => {
    const model = convnet(9);
    const { plan, masks } = await pruneUnstructured(model, validatePruneConfig({ sparsity: 0.4, scope: 'layer' }, model));
    for (const step of plan.steps) {
      if (step.kind !== 'mask') continue;
      const keep = decodeMask(step.mask, step.total)!;
      expect(keep.reduce((a, b) => a + (b ? 0 : 1), 0)).toBe(step.pruned);
      expect(step.sparsity).toBeCloseTo(step.pruned / step.total, 12);
      expect(step.scores.min).toBeLessThanOrEqual(step.scores.threshold);
      expect(step.scores.threshold).toBeLessThanOrEqual(step.scores.max);
    }
    disposeAll(masks);
    model.dispose();
  });
});

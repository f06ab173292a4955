import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { NothingToPruneError, PruneShortfallError } from '../../../../src-main/common/errors';
import { buildDependencyGraph } from '../../../../src-main/engine/graph/depgraph';
import { flattenModel } from '../../../../src-main/engine/models/flatten';
import { validatePruneConfig } from '../../../../src-main/engine/prune/config';
import { checkPrunable, checkUnstructuredResult, prunableGroups } from '../../../../src-main/engine/prune/feasibility';
import { runPruning } from '../../../../src-main/engine/prune/run';
import { teachableMachineModel } from '../../../fixtures/nested-models';
import { mlp, syntheticDataset } from './fixtures';
import { keepTensors } from '../../../support/tensor-leaks';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const onlyOutput = () => tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax', name: 'out' })] });

/** x(50) -> small Dense 2 -> concat with x -> out: the only prunable group is 2 channels beside a fixed path of 50. */
function smallBesideFixed(): tf.LayersModel {
  const x = tf.input({ shape: [50], name: 'x' });
  const small = tf.layers.dense({ units: 2, activation: 'relu', name: 'small' }).apply(x) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'cat' }).apply([x, small]) as tf.SymbolicTensor;
  return tf.model({ inputs: x, outputs: tf.layers.dense({ units: 3, activation: 'softmax', name: 'out' }).apply(cat) as tf.SymbolicTensor });
}

describe('pruning feasibility', () => {
  it('structured pruning with every group fixed is refused up front, naming why', () => {
    const m = onlyOutput();
    const cfg = validatePruneConfig({ granularity: 'structured', sparsity: 0.5 }, m);
    expect(() => checkPrunable(m, cfg)).toThrow(NothingToPruneError);
    expect(() => checkPrunable(m, cfg)).toThrow(/no prunable channel group: every group is fixed — .*feeds model output "out"/);
    // Nothing asked, nothing refused.
    expect(() => checkPrunable(m, validatePruneConfig({ granularity: 'structured', sparsity: 0 }, m))).not.toThrow();
    m.dispose();
  });

  it('runPruning refuses before any fine-tuning and leaks nothing', async () => {
    const m = onlyOutput();
    const data = syntheticDataset([4], 3, 64, 16);
    const start = tf.memory().numTensors;
    let progressed = 0;
    const cfg = validatePruneConfig({ granularity: 'structured', sparsity: 0.5, finetune: { epochs: 5, batchSize: 16 } }, m);
    await expect(runPruning(m, data, cfg, { onProgress: () => progressed++ })).rejects.toThrow(NothingToPruneError);
    expect(progressed).toBe(0);
    expect(tf.memory().numTensors).toBe(start);
    m.dispose();
  });

  it('a layer-scope sparsity that rounds every group down to 0 channels is refused', () => {
    const m = mlp();
    const cfg = validatePruneConfig({ granularity: 'structured', scope: 'layer', sparsity: 0.05 }, m);
    expect(() => checkPrunable(m, cfg)).toThrow(/would remove no channel: sparsity 0.05 per round of a group of at most 12 channels/);
    m.dispose();
  });

  it('structured pruning far short of its target fails after pruning, before fine-tuning, and frees the smaller model', async () => {
    const m = smallBesideFixed();
    const data = syntheticDataset([50], 3, 32, 8);
    const start = tf.memory().numTensors;
    let epochs = 0;
    const cfg = validatePruneConfig({ granularity: 'structured', scope: 'layer', sparsity: 0.5, finetune: { epochs: 2, batchSize: 16 } }, m);
    const err = await runPruning(m, data, cfg, { onProgress: (p) => void (p.phase === 'epoch' && epochs++) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PruneShortfallError);
    expect((err as Error).message).toMatch(/params 261 -> 207 and MACs 256 -> 203 \(20.7%, under half the target\); 1 group could be pruned/);
    expect((err as PruneShortfallError).exitCode).toBe(1);
    expect(epochs).toBe(0);
    expect(tf.memory().numTensors).toBe(start);
    m.dispose();
  });

  it('unstructured results under half of the target are a shortfall, at or above half are not', () => {
    expect(() => checkUnstructuredResult(0.2, 0.5)).toThrow(/achieved sparsity 20.0% .* target of 50.0%/);
    expect(() => checkUnstructuredResult(0.25, 0.5)).not.toThrow();
    expect(() => checkUnstructuredResult(0, 0)).not.toThrow();
  });

  it('the flattened Teachable-Machine model has prunable groups through its residual Adds, and a 50% structured run cuts it by more than half', async () => {
    keepTensors('disposing a nested tfjs model leaves its inner weights allocated');
    const nested = teachableMachineModel({ size: 16 });
    const flat = flattenModel(nested).model;
    const groups = prunableGroups(buildDependencyGraph(flat), {});
    expect(groups.map((g) => g.producers.join('+'))).toEqual(expect.arrayContaining(['Conv1+expanded_conv_project', 'block_1_project+block_2_project', 'dense_Dense1']));
    const data = syntheticDataset([16, 16, 3], 3, 16, 8);
    const cfg = validatePruneConfig({ granularity: 'structured', sparsity: 0.5, finetune: { epochs: 0 } }, flat);
    const res = await runPruning(flat, data, cfg);
    expect(res.structured!.paramsAfter).toBeLessThan(0.5 * res.structured!.paramsBefore);
    expect(res.structured!.macsAfter).toBeLessThan(0.5 * res.structured!.macsBefore);
    res.model.dispose();
    flat.dispose();
    nested.dispose();
  });
});

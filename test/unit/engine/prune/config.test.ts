import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { defaultPruneConfig, validatePruneConfig } from '../../../../src-main/engine/prune/types';
import { convnet, mlp } from './fixtures';

const model = mlp();
const conv = convnet();
afterAll(() => {
  model.dispose();
  conv.dispose();
});

function configError(raw: unknown, m?: tf.LayersModel): string {
  try {
    validatePruneConfig(raw, m);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('validatePruneConfig', () => {
  it('fills defaults that validate to themselves', () => {
    const d = defaultPruneConfig();
    expect(validatePruneConfig(d, model)).toEqual(d);
    expect(validatePruneConfig({}).method).toBe('magnitude');
  });

  it('rejects sparsity outside [0, 1)', () => {
    expect(configError({ sparsity: 1.2 })).toBe('sparsity must be in [0, 1), got 1.2');
    expect(configError({ sparsity: 1 })).toBe('sparsity must be in [0, 1), got 1');
    expect(configError({ sparsity: -0.1 })).toMatch(/sparsity must be in \[0, 1\)/);
    expect(configError({ perLayer: { fc1: 1.5 } })).toMatch(/perLayer.fc1 must be in \[0, 1\), got 1.5/);
  });

  it('rejects unknown methods, layer names and enum values', () => {
    expect(configError({ method: 'psychic' })).toMatch(/method must be one of magnitude, taylor/);
    expect(configError({ ignore: ['nope'] }, model)).toMatch(/ignore: unknown layer "nope"/);
    expect(configError({ perLayer: { nope: 0.5 } }, model)).toMatch(/perLayer: unknown layer "nope"/);
    expect(configError({ schedule: { kind: 'iterative', rounds: 0 } })).toMatch(/schedule.rounds must be a positive integer/);
    expect(configError({ finetune: { optimizer: 'rmsprop' } })).toMatch(/finetune.optimizer must be one of adam, sgd/);
  });

  it('rejects N:M whose M does not divide a layer input size', () => {
    // fc2's input size is 12 (divisible by 4 but not 8); fc1's is 16.
    expect(configError({ granularity: 'nm', nm: { n: 2, m: 8 } }, model)).toBe(
      'nm: M=8 does not divide the input size 12 of layer "fc2" (ignore it or pick another M)',
    );
    expect(configError({ granularity: 'nm', nm: { n: 4, m: 4 } })).toMatch(/nm.n must be an integer in \[1, 4\)/);
    expect(validatePruneConfig({ granularity: 'nm', nm: { n: 2, m: 8 }, ignore: ['fc2'] }, model).nm).toEqual({ n: 2, m: 8 });
  });

  it('rejects pruning everything or nothing', () => {
    expect(configError({ ignore: ['fc1', 'fc2', 'out'] }, model)).toMatch(/nothing to prune/);
    // out has 24 weights: 0.99 rounds to all 24.
    expect(configError({ scope: 'layer', sparsity: 0.99 }, model)).toMatch(/would prune every weight of layer "out"/);
    expect(configError({ granularity: 'unstructured', method: 'bn-scale' })).toMatch(/bn-scale .* granularity structured/);
  });

  it('takes roundTo for structured pruning only, as a positive integer', () => {
    expect(validatePruneConfig({ granularity: 'structured', roundTo: 8 }).roundTo).toBe(8);
    expect(configError({ granularity: 'unstructured', roundTo: 8 })).toMatch(/roundTo .* granularity structured, got unstructured/);
    expect(configError({ granularity: 'structured', roundTo: 0 })).toMatch(/roundTo must be a positive integer/);
  });

  it('accepts a full config and keeps its fields', () => {
    const cfg = validatePruneConfig(
      {
        method: 'lamp',
        sparsity: 0.8,
        scope: 'layer',
        perLayer: { conv1: 0.5 },
        schedule: { kind: 'poly', initialSparsity: 0.1, begin: 0, end: 50, frequency: 5 },
        finetune: { epochs: 1, batchSize: 8, learningRate: 0.01, optimizer: 'sgd', distill: { temperature: 2, alpha: 0.3 }, earlyStopping: { patience: 1, validationFraction: 0.2 } },
        seed: 3,
      },
      conv,
    );
    expect(cfg.schedule).toEqual({ kind: 'poly', initialSparsity: 0.1, begin: 0, end: 50, frequency: 5 });
    expect(cfg.finetune.distill).toEqual({ temperature: 2, alpha: 0.3 });
    expect(cfg.perLayer).toEqual({ conv1: 0.5 });
  });
});

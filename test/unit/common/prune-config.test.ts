import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { RunConfigSchema } from '../../../src-main/common/run-config';
import { PruneConfigInputSchema, defaultPruneConfig, parsePruneConfig, pruneConfigProblems } from '../../../src-main/common/prune-config';

describe('the prune config schema', () => {
  it('fills the defaults, and a default config parses to itself', () => {
    expect(parsePruneConfig({})).toEqual(defaultPruneConfig());
    expect(parsePruneConfig(defaultPruneConfig())).toEqual(defaultPruneConfig());
    expect(parsePruneConfig({ schedule: { kind: 'poly' }, sparsity: 0.8 }).schedule).toEqual({ kind: 'poly', initialSparsity: 0 });
  });

  it('names the field and the value in every message', () => {
    expect(pruneConfigProblems(5)).toEqual(['prune config must be an object, got 5']);
    expect(pruneConfigProblems({ schedule: { kind: 'linear' } })).toEqual(['schedule.kind must be one of oneshot, iterative, poly, got "linear"']);
    expect(pruneConfigProblems({ schedule: { kind: 'poly', begin: 5, end: 2 } })).toEqual(['schedule.end must be after schedule.begin, got begin 5, end 2']);
    expect(pruneConfigProblems({ nm: { n: 4, m: 4 } })).toEqual(['nm.n must be an integer in [1, 4), got 4']);
    expect(pruneConfigProblems({ ignore: 'fc1' })).toEqual(['ignore must be an array of layer names, got "fc1"']);
    expect(pruneConfigProblems({ finetune: { distill: 3 } })).toEqual(['finetune.distill must be {temperature, alpha}, got 3']);
    expect(pruneConfigProblems({ seed: 1.5 })).toEqual(['seed must be an integer, got 1.5']);
  });

  it('lists every problem at once for the wizard, and joins them in the ConfigError', () => {
    expect(pruneConfigProblems({ sparsity: 1.2, finetune: { epochs: -1 } })).toEqual([
      'sparsity must be in [0, 1), got 1.2',
      'finetune.epochs must be a non-negative integer, got -1',
    ]);
    expect(() => parsePruneConfig({ sparsity: 1.2, finetune: { epochs: -1 } })).toThrow(ConfigError);
    expect(() => parsePruneConfig({ sparsity: 1.2, finetune: { epochs: -1 } })).toThrow('sparsity must be in [0, 1), got 1.2; finetune.epochs must be');
  });

  it('checks the loss against the task', () => {
    expect(pruneConfigProblems({ task: 'regression', finetune: { loss: 'huber' } })).toEqual(['finetune.loss must be one of mse, mae, got "huber"']);
    expect(pruneConfigProblems({ task: 'classification', finetune: { loss: 'mae' } })[0]).toMatch(/"mae" is a regression loss/);
    expect(parsePruneConfig({ task: 'regression' }).finetune).toMatchObject({ task: 'regression', loss: 'mse' });
  });

  it('the contract checks what a front door sends but fills nothing in, so the run stores what was asked', () => {
    expect(PruneConfigInputSchema.parse({ sparsity: 0.3, custom: 1 })).toEqual({ sparsity: 0.3, custom: 1 });
    const bad = RunConfigSchema.safeParse({ model: 'demo', data: 'demo', prune: { sparsity: 1.2 } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0].path).toEqual(['prune', 'sparsity']);
    expect(RunConfigSchema.parse({ model: 'demo', data: 'demo' }).prune).toEqual({});
  });
});

describe('an emptied field (the wizard sends null)', () => {
  it('is refused by name, not filled with the default', () => {
    expect(pruneConfigProblems({ sparsity: null })).toEqual(['sparsity must be in [0, 1), got null']);
    expect(pruneConfigProblems({ finetune: { epochs: null } })).toEqual(['finetune.epochs must be a non-negative integer, got null']);
  });
});

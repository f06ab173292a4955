import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { parsePayload } from '../../../src-main/common/contract';
import {
  describeTrainingBackend,
  GPU_MEMORY_LIMIT_MIB,
  resolveTrainingBackend,
  salvageSettings,
  SettingsPatchSchema,
  SettingsSchema,
} from '../../../src-main/common/settings';

describe('settings schema', () => {
  it('an empty file is all defaults: auto, 2048 MiB', () => {
    expect(SettingsSchema.parse({})).toEqual({ trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 });
    expect(GPU_MEMORY_LIMIT_MIB.default).toBe(2048);
  });

  it('keeps valid fields and names each invalid one with its value, using its default', () => {
    const r = salvageSettings({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 10 });
    expect(r.settings).toEqual({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 2048 });
    expect(r.given).toEqual({ trainingBackend: 'webgl' });
    expect(r.problems).toEqual(['gpuMemoryLimitMiB must be at least 64 MiB, got 10']);
    expect(r.byField).toEqual({ gpuMemoryLimitMiB: 'must be at least 64 MiB, got 10' });
  });

  it('refuses a limit above 256 GiB, a fractional one, a string, and an unknown backend', () => {
    expect(salvageSettings({ gpuMemoryLimitMiB: 300_000 }).problems).toEqual(['gpuMemoryLimitMiB must be at most 262144 MiB (256 GiB), got 300000']);
    expect(salvageSettings({ gpuMemoryLimitMiB: 100.5 }).problems[0]).toMatch(/^gpuMemoryLimitMiB must be a whole number of MiB from 64 to 262144, got 100.5$/);
    expect(salvageSettings({ gpuMemoryLimitMiB: '2048' }).problems[0]).toMatch(/^gpuMemoryLimitMiB must be a whole number .*, got "2048"$/);
    expect(salvageSettings({ trainingBackend: 'cuda' }).problems).toEqual(['trainingBackend must be one of auto, cpu, webgpu, webgl, got "cuda"']);
  });

  it('a file that is not an object is reported as such', () => {
    expect(salvageSettings([1]).problems).toEqual(['must be a JSON object, got an array']);
    expect(salvageSettings(null).problems).toEqual(['must be a JSON object, got null']);
    expect(salvageSettings(3).settings).toEqual({ trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 });
  });

  it('a patch keeps fields it leaves out (no defaults) and refuses unknown fields', () => {
    expect(SettingsPatchSchema.parse({ gpuMemoryLimitMiB: 512 })).toEqual({ gpuMemoryLimitMiB: 512 });
    expect(SettingsPatchSchema.parse({})).toEqual({});
    expect(() => parsePayload('updateSettings', { gpuMemoryLimitMB: 512 })).toThrow(/gpuMemoryLimitMB/);
    expect(() => parsePayload('updateSettings', { trainingBackend: 'metal' })).toThrow(/must be one of auto, cpu, webgpu, webgl/);
  });
});

describe('resolveTrainingBackend', () => {
  it('without TOPIARY_BACKEND or a setting it is auto, from the default', () => {
    expect(resolveTrainingBackend({}, {})).toEqual({ choice: 'auto', source: 'default' });
    expect(resolveTrainingBackend(undefined, { TOPIARY_BACKEND: '' })).toEqual({ choice: 'auto', source: 'default' });
  });

  it('the settings file decides when the variable is unset or auto', () => {
    expect(resolveTrainingBackend({ trainingBackend: 'webgpu' }, {})).toEqual({ choice: 'webgpu', source: 'settings' });
    expect(resolveTrainingBackend({ trainingBackend: 'cpu' }, { TOPIARY_BACKEND: ' Auto ' })).toEqual({ choice: 'cpu', source: 'settings' });
    // An explicit auto in the file is the user's choice, said as such.
    expect(resolveTrainingBackend({ trainingBackend: 'auto' }, {})).toEqual({ choice: 'auto', source: 'settings' });
  });

  it('TOPIARY_BACKEND overrides the settings, case-insensitively', () => {
    expect(resolveTrainingBackend({ trainingBackend: 'cpu' }, { TOPIARY_BACKEND: 'WebGL' })).toEqual({ choice: 'webgl', source: 'env', env: 'WebGL' });
    expect(resolveTrainingBackend({ trainingBackend: 'webgl' }, { TOPIARY_BACKEND: 'CPU' })).toEqual({ choice: 'cpu', source: 'env', env: 'CPU' });
  });

  it("a Node compute backend in TOPIARY_BACKEND keeps training in the Node worker, and the line says which", () => {
    const r = resolveTrainingBackend({ trainingBackend: 'webgl' }, { TOPIARY_BACKEND: 'wasm' });
    expect(r).toEqual({ choice: 'cpu', source: 'env', env: 'wasm' });
    expect(describeTrainingBackend(r, { trainingBackend: 'webgl' })).toBe("cpu: the Node worker on wasm (TOPIARY_BACKEND=wasm overrides the settings' webgl)");
    expect(resolveTrainingBackend({}, { TOPIARY_BACKEND: 'tensorflow-gpu' }).choice).toBe('cpu');
  });

  it('an invalid TOPIARY_BACKEND is a ConfigError naming the variable, every allowed value and the value given', () => {
    const act = () => resolveTrainingBackend({ trainingBackend: 'webgl' }, { TOPIARY_BACKEND: 'Metal' });
    expect(act).toThrow(ConfigError);
    expect(act).toThrow('TOPIARY_BACKEND must be one of auto, tensorflow-gpu, tensorflow, wasm, cpu, webgpu, webgl; got "Metal"');
  });

  it('describes where the choice came from', () => {
    expect(describeTrainingBackend({ choice: 'webgl', source: 'settings' })).toBe('webgl (settings.json)');
    expect(describeTrainingBackend({ choice: 'auto', source: 'default' })).toBe('auto (default)');
    expect(describeTrainingBackend({ choice: 'webgpu', source: 'env', env: 'webgpu' }, { trainingBackend: 'auto' })).toBe("webgpu (TOPIARY_BACKEND=webgpu overrides the settings' auto)");
  });
});

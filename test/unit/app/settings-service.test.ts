import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { SettingsService } from '../../../src-main/app/settings-service';

let home: string;
let file: string;
beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-settings-'));
  file = path.join(home, 'settings.json');
});
afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

const noEnv = {};

describe('SettingsService', () => {
  it('without a file every setting is its default and nothing is written by reading', () => {
    const s = new SettingsService(home);
    expect(s.file).toBe(file);
    expect(s.read()).toEqual({ trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 });
    expect(s.view(noEnv)).toEqual({ file, settings: { trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 }, training: { choice: 'auto', source: 'default' }, trainingLine: 'auto (default)' });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('update writes the whole file, keeps fields the patch leaves out, and reads back', () => {
    const s = new SettingsService(home);
    s.update({ gpuMemoryLimitMiB: 4096 }, noEnv);
    const view = s.update({ trainingBackend: 'webgl' }, noEnv);
    expect(view.settings).toEqual({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 4096 });
    expect(view.training).toEqual({ choice: 'webgl', source: 'settings' });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 4096 });
    expect(new SettingsService(home).read()).toEqual({ trainingBackend: 'webgl', gpuMemoryLimitMiB: 4096 });
    // Atomic: the temporary file was renamed away; nothing else is left in the data folder.
    expect(fs.readdirSync(home)).toEqual(['settings.json']);
  });

  it('the training backend a run gets: TOPIARY_BACKEND over the file over auto; a damaged field does not count; an unknown variable is refused', () => {
    const s = new SettingsService(home);
    expect(s.trainingBackend(noEnv)).toBe('auto');
    s.update({ trainingBackend: 'webgl' }, noEnv);
    expect(s.trainingBackend(noEnv)).toBe('webgl');
    expect(s.trainingBackend({ TOPIARY_BACKEND: 'WebGPU' })).toBe('webgpu');
    expect(s.trainingBackend({ TOPIARY_BACKEND: 'wasm' })).toBe('cpu');
    expect(() => s.trainingBackend({ TOPIARY_BACKEND: 'metal' })).toThrow(/TOPIARY_BACKEND must be one of .*got "metal"/);
    fs.writeFileSync(file, JSON.stringify({ trainingBackend: 'cuda', gpuMemoryLimitMiB: 1024 }));
    expect(s.trainingBackend(noEnv)).toBe('auto');
    expect(s.gpuMemoryLimitBytes()).toBe(1024 * 2 ** 20);
    // Whether a GPU window is wanted: as a run decides, but an unknown variable opens none (each run fails with why).
    expect(s.windowBackend({ TOPIARY_BACKEND: 'webgl' })).toBe('webgl');
    expect(s.windowBackend({ TOPIARY_BACKEND: 'metal' })).toBe('cpu');
  });

  it('creates the data folder when it does not exist yet', () => {
    const nested = path.join(home, 'new', 'home');
    new SettingsService(nested).update({ gpuMemoryLimitMiB: 512 }, noEnv);
    expect(JSON.parse(fs.readFileSync(path.join(nested, 'settings.json'), 'utf8')).gpuMemoryLimitMiB).toBe(512);
  });

  it('a file that is not JSON: read() is a ConfigError naming the file; view() reports it and uses the defaults', () => {
    fs.writeFileSync(file, '{"trainingBackend": "webgl",');
    const s = new SettingsService(home);
    let err: unknown;
    try {
      s.read();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).file).toBe(file);
    expect((err as Error).message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not valid JSON`));
    const view = s.view(noEnv);
    expect(view.settings).toEqual({ trainingBackend: 'auto', gpuMemoryLimitMiB: 2048 });
    expect(view.problem).toContain(`${file}: not valid JSON`);
    expect(view.training).toEqual({ choice: 'auto', source: 'default' });
  });

  it('a field out of range names the file, the field and the value, and keeps the other fields', () => {
    fs.writeFileSync(file, JSON.stringify({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 1_000_000 }));
    const s = new SettingsService(home);
    expect(() => s.read()).toThrow(`${file}: gpuMemoryLimitMiB must be at most 262144 MiB (256 GiB), got 1000000`);
    const view = s.view(noEnv);
    expect(view.settings).toEqual({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 2048 });
    expect(view.training).toEqual({ choice: 'webgpu', source: 'settings' });
    expect(view.problem).toContain('gpuMemoryLimitMiB');
  });

  it('saving over a damaged file fixes it and keeps the damaged one beside it as settings.json.bad', () => {
    fs.writeFileSync(file, JSON.stringify({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 'lots' }));
    const view = new SettingsService(home).update({ gpuMemoryLimitMiB: 1024 }, noEnv);
    expect(view.problem).toBeUndefined();
    expect(view.settings).toEqual({ trainingBackend: 'webgpu', gpuMemoryLimitMiB: 1024 });
    expect(JSON.parse(fs.readFileSync(`${file}.bad`, 'utf8')).gpuMemoryLimitMiB).toBe('lots');
  });

  it('an unreadable settings path (a folder) is reported, not thrown, and a save says why it failed', () => {
    fs.mkdirSync(file);
    const s = new SettingsService(home);
    const view = s.view(noEnv);
    expect(view.problem).toMatch(new RegExp(`settings.json: cannot be read \\(EISDIR`));
    expect(view.settings.gpuMemoryLimitMiB).toBe(2048);
    expect(() => s.update({ gpuMemoryLimitMiB: 256 }, noEnv)).toThrow(/settings\.json: could not save the settings/);
    // The failed save left no temporary file behind.
    expect(fs.readdirSync(home)).toEqual(['settings.json']);
  });

  it('update refuses an invalid value and leaves the file as it was', () => {
    const s = new SettingsService(home);
    s.update({ gpuMemoryLimitMiB: 4096 }, noEnv);
    expect(() => s.update({ gpuMemoryLimitMiB: 1 } as never, noEnv)).toThrow(ConfigError);
    expect(s.read().gpuMemoryLimitMiB).toBe(4096);
  });

  it('a symlink planted at the settings path is replaced, never written through', () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-outside-'));
    try {
      const target = path.join(outside, 'victim.json');
      fs.writeFileSync(target, 'keep me');
      fs.symlinkSync(target, file);
      new SettingsService(home).update({ trainingBackend: 'cpu' }, noEnv);
      expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
      expect(fs.lstatSync(file).isSymbolicLink()).toBe(false);
      expect(JSON.parse(fs.readFileSync(file, 'utf8')).trainingBackend).toBe('cpu');
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it('TOPIARY_BACKEND overrides the file in the view; an invalid one is reported as trainingError', () => {
    const s = new SettingsService(home);
    s.update({ trainingBackend: 'cpu' }, noEnv);
    const over = s.view({ TOPIARY_BACKEND: 'webgl' });
    expect(over.training).toEqual({ choice: 'webgl', source: 'env', env: 'webgl' });
    expect(over.trainingLine).toBe("webgl (TOPIARY_BACKEND=webgl overrides the settings' cpu)");
    const bad = s.view({ TOPIARY_BACKEND: 'metal' });
    expect(bad.training).toBeUndefined();
    expect(bad.trainingError).toMatch(/^TOPIARY_BACKEND must be one of auto, .*; got "metal"$/);
    expect(bad.settings.trainingBackend).toBe('cpu');
  });
});

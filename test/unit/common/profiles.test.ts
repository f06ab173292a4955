import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import {
  BUILTIN_PROFILES,
  BUILTIN_PROFILE_IDS,
  PROFILE_CLASSES,
  builtinProfile,
  parseProfile,
  parseProfileJson,
} from '../../../src-main/common/profiles';

const valid = () => {
  const { builtin: _b, ...p } = builtinProfile('mcu-cortex-m4')!;
  return { ...p, id: 'my-board' };
};

describe('built-in profiles', () => {
  it.each(BUILTIN_PROFILES.map((p) => [p.id, p] as const))('%s validates after a JSON round trip and cites sources', (_id, p) => {
    const again = parseProfile(JSON.parse(JSON.stringify(p)));
    expect(again).toEqual(p);
    expect(p.sources.length).toBeGreaterThan(0);
    for (const t of p.numericTypes.preferred) expect(p.numericTypes.allowed).toContain(t);
  });

  it('cover every device class exactly once', () => {
    expect(BUILTIN_PROFILES.map((p) => p.class).sort()).toEqual([...PROFILE_CLASSES].sort());
    expect(new Set(BUILTIN_PROFILE_IDS).size).toBe(BUILTIN_PROFILES.length);
  });

  it('the microcontroller is 256 KB RAM, 1 MB flash, int8 only, without DENSIFY', () => {
    const mcu = builtinProfile('mcu-cortex-m4')!;
    expect(mcu.ramBytes).toBe(256 * 1024);
    expect(mcu.storageBytes).toBe(1024 * 1024);
    expect(mcu.numericTypes.allowed).toEqual(['int8']);
    expect(mcu.runtime).toBe('tflite-micro');
    expect(mcu.supportedOps).toContain('CONV_2D');
    expect(mcu.supportedOps).not.toContain('DENSIFY');
  });

  it('builtinProfile returns a copy that cannot change the built-in data', () => {
    const a = builtinProfile('web-browser')!;
    a.ramBytes = 1;
    expect(builtinProfile('web-browser')!.ramBytes).not.toBe(1);
    expect(builtinProfile('no-such')).toBeUndefined();
  });
});

describe('profile validation', () => {
  it('invalid JSON text is a ConfigError naming the file', () => {
    expect(() => parseProfileJson('{"id": "x",', '/tmp/board.json')).toThrow(ConfigError);
    expect(() => parseProfileJson('{"id": "x",', '/tmp/board.json')).toThrow(/\/tmp\/board\.json: not valid JSON/);
  });

  it('a bad field is a ConfigError naming the field', () => {
    expect(() => parseProfile({ ...valid(), ramBytes: -5 }, 'board.json')).toThrow(/board\.json: invalid profile: ramBytes: ramBytes must be > 0/);
    expect(() => parseProfile({ ...valid(), class: 'toaster' })).toThrow(ConfigError);
    expect(() => parseProfile({ ...valid(), runtime: 'onnx' })).toThrow(/runtime/);
  });

  it('a preferred numeric type must be allowed', () => {
    expect(() => parseProfile({ ...valid(), numericTypes: { preferred: ['float16'], allowed: ['int8'] } })).toThrow(
      /numericTypes\.preferred: preferred type float16 is not in numericTypes\.allowed/,
    );
  });

  it('unknown keys are refused (a typo must not silently drop a budget)', () => {
    expect(() => parseProfile({ ...valid(), ramBytez: 1000 })).toThrow(/ramBytez/);
  });

  it('a tfjs runtime cannot allow full int8 and needs the tfjs export format', () => {
    const web = builtinProfile('web-browser')!;
    expect(() => parseProfile({ ...web, numericTypes: { preferred: ['int8'], allowed: ['int8'] } })).toThrow(/no full-integer int8/);
    expect(() => parseProfile({ ...web, exportFormats: ['tflite'] })).toThrow(/needs export format tfjs/);
  });

  it('storageMeasure defaults to raw', () => {
    const { storageMeasure: _s, ...rest } = valid();
    expect(parseProfile(rest).storageMeasure).toBe('raw');
  });
});

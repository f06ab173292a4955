import { describe, expect, it } from 'vitest';
import { builtinProfile, parseProfile } from '../../../src-main/common/profiles';
import { formProblems, fromForm, toForm } from '../../../src-renderer/profiles/form';

describe('profile editor form', () => {
  const base = builtinProfile('mcu-cortex-m4')!;

  it('shows budgets in KiB and writes them back in bytes, keeping everything else', () => {
    const form = toForm(base);
    expect(form.ramKiB).toBe(256);
    expect(form.storageKiB).toBe(1024);
    form.ramKiB = 128;
    form.latencyTargetMs = 40;
    const saved = parseProfile(fromForm(base, form));
    expect(saved.ramBytes).toBe(128 * 1024);
    expect(saved.latencyTargetMs).toBe(40);
    expect(saved.supportedOps).toEqual(base.supportedOps);
    expect(saved.builtin).toBeUndefined();
    expect(formProblems(base, form)).toEqual({});
  });

  it('names the field of an emptied or out-of-range budget, as ProfileSchema refuses it', () => {
    const form = toForm(base);
    form.ramKiB = null;
    form.latencyTargetMs = -1;
    const problems = formProblems(base, form);
    expect(problems.ramKiB).toBe('Enter a value: the field is empty.');
    expect(problems.latencyTargetMs).toBe('latencyTargetMs must be > 0');
    expect(problems.storageKiB).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { CancelledError, ConfigError, DatasetFormatError, RemoteError, RunPhaseError, fromErrorInfo, toErrorInfo } from '../../../src-main/common/errors';
import { NotFoundError } from '../../../src-main/store/errors';

/** What a front door sees of an error: everything toErrorInfo keeps, the stack aside. */
const seen = (err: unknown) => ({ ...toErrorInfo(err), stack: undefined });

describe('errors across a thread boundary (toErrorInfo, then fromErrorInfo)', () => {
  it('a named error comes back as its own class with file and exit code', () => {
    const back = fromErrorInfo(toErrorInfo(new DatasetFormatError('labels.idx: magic 2049 expected, got 7', { file: 'labels.idx' })));
    expect(back).toBeInstanceOf(DatasetFormatError);
    expect(seen(back)).toEqual({ name: 'DatasetFormatError', message: 'labels.idx: magic 2049 expected, got 7', file: 'labels.idx', exitCode: 2, stack: undefined });
  });

  it('an error class this side cannot construct keeps its name and exit code', () => {
    const back = fromErrorInfo(toErrorInfo(new NotFoundError('no run abc123')));
    expect(back).toBeInstanceOf(RemoteError);
    expect(seen(back)).toEqual(seen(new NotFoundError('no run abc123')));
  });

  it('a phase error that took its cause name keeps the exit code of the cause', () => {
    const original = new RunPhaseError('finetune', 'fine-tuning failed (epoch 1): bad label', new ConfigError('bad label'));
    const back = fromErrorInfo(toErrorInfo(original));
    expect(seen(back)).toEqual(seen(original));
    expect(seen(back).exitCode).toBe(2);
  });

  it('a plain error stays plain (no exit code invented) and keeps the original stack', () => {
    const original = new TypeError('x is not a function');
    const back = fromErrorInfo(toErrorInfo(original));
    expect(back).not.toBeInstanceOf(ConfigError);
    expect(seen(back)).toEqual({ name: 'TypeError', message: 'x is not a function', stack: undefined });
    expect(back.stack).toBe(original.stack);
  });

  it('a cancellation is a CancelledError again', () => {
    expect(fromErrorInfo(toErrorInfo(new CancelledError('evaluation cancelled')))).toBeInstanceOf(CancelledError);
  });
});

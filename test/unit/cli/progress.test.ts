import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress } from '../../../src-main/cli/progress';

describe('createProgress (plain lines, not a terminal)', () => {
  let lines: string[];
  let ci: string | undefined;
  beforeEach(() => {
    ci = process.env.CI;
    process.env.CI = '1'; // plain lines even when the test runner's stderr is a terminal
    vi.useFakeTimers();
    vi.setSystemTime(new Date(100_000));
    lines = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
  });

  it('the first update has an ETA when the caller says when the work began', () => {
    // 1 of 8 steps took 10 s: 7 more take 70 s.
    const bar = createProgress('finetune', 90_000);
    bar.update(1, 8, 'epoch 1');
    expect(lines).toEqual(['finetune: 1/8 (10%) ETA 70s epoch 1\n']);
  });

  it('times from its creation by default, and prints one line per tenth', () => {
    const bar = createProgress('baseline');
    bar.update(0, 10);
    vi.setSystemTime(new Date(104_000));
    bar.update(2, 10);
    bar.update(2.5, 10);
    expect(lines).toEqual(['baseline: 0/10 (0%) \n', 'baseline: 2/10 (20%) ETA 16s \n']);
  });
});

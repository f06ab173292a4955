import { describe, expect, it } from 'vitest';
import { locateJsonError, parseJsonWithPosition } from '../../../../src-main/node/models/json-error';

describe('locateJsonError', () => {
  it('accepts what JSON.parse accepts', () => {
    for (const text of ['{}', ' [1, -2.5e3, "a\\u00e9\\n", true, false, null, {"k": []}] ', '"x"', '0']) {
      expect(locateJsonError(text)).toBeUndefined();
      expect(parseJsonWithPosition(text).ok).toBe(true);
    }
  });

  it('points at the first offending character', () => {
    expect(locateJsonError('{"a": 1,\n "b": }')).toMatchObject({ position: 15, line: 2, column: 7, problem: "expected a value, found '}'" });
    expect(locateJsonError('[1, 2')).toMatchObject({ position: 5, problem: "expected ',' or ']', found end of text" });
    expect(locateJsonError('{"a": 01}')).toMatchObject({ position: 7 });
    expect(locateJsonError('{a: 1}')).toMatchObject({ position: 1, problem: "expected a property name in double quotes, found 'a'" });
    expect(locateJsonError('"\\x"')).toMatchObject({ position: 2, problem: 'expected a valid escape, found \'x\'' });
    expect(locateJsonError('[1] x')).toMatchObject({ position: 4, problem: "expected end of text, found 'x'" });
  });

  it('parseJsonWithPosition reports line and column', () => {
    const r = parseJsonWithPosition('{\n  "a": tru\n}');
    expect(r).toEqual({ ok: false, message: "malformed JSON at line 2, column 11 (position 12): expected 'true', found '\n'" });
  });
});

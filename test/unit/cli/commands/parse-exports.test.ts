import { describe, expect, it } from 'vitest';
import { parseExports } from '../../../../src-main/cli/commands/prune';

describe('--export list', () => {
  it('reads format:quant items, and :dense / :sparse for the tflite weights\u2019 storage', () => {
    expect(parseExports('tflite:int8,tfjs:uint8,tflite')).toEqual([
      { format: 'tflite', quant: 'int8' },
      { format: 'tfjs', quant: 'uint8' },
      { format: 'tflite', quant: 'none' },
    ]);
    expect(parseExports('tflite:int8:dense,tflite:none:sparse')).toEqual([
      { format: 'tflite', quant: 'int8', sparse: 'never' },
      { format: 'tflite', quant: 'none', sparse: 'always' },
    ]);
  });

  it('names the item it cannot read', () => {
    expect(() => parseExports('tfjs:uint8:dense')).toThrow(/tflite:<quant>:dense .* got "tfjs:uint8:dense"/);
    expect(() => parseExports('tflite:int8:csr')).toThrow(/got "tflite:int8:csr"/);
    expect(() => parseExports('onnx')).toThrow(/got "onnx"/);
  });
});

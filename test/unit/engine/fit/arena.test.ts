import { describe, expect, it } from 'vitest';
import { arenaEstimate } from '../../../../src-main/engine/fit/arena';
import type { TfliteInfo, TfliteTensorInfo } from '../../../../src-main/engine/export/tflite';

const noOverhead = { baseBytes: 0, perTensorBytes: 0, perOpBytes: 0, perQuantChannelBytes: 0 };

function tensor(name: string, shape: number[], dtype: TfliteTensorInfo['dtype'], buffer = 0, scale: number[] = []): TfliteTensorInfo {
  return { name, shape, dtype, buffer, scale, zeroPoint: scale.map(() => 0), quantizedDimension: 0, sparse: false };
}

/** A graph from tensors and ops; buffer 1 (non-empty) marks constants. */
function graph(tensors: TfliteTensorInfo[], ops: [string, number[], number[]][], inputs: number[], outputs: number[]): TfliteInfo {
  return {
    version: 3,
    description: '',
    operatorCodes: [],
    tensors,
    inputs,
    outputs,
    operators: ops.map(([op, i, o]) => ({ opcodeIndex: 0, op, inputs: i, outputs: o, optionsType: 0 })),
    buffers: [
      { offset: -1, length: 0 },
      { offset: 16, length: 64 },
    ],
  };
}

describe('arenaEstimate', () => {
  it('a chain peaks at the largest input + output pair, int8 at 1 byte per element', () => {
    // in(100 int8) -> A(400) -> B(50) -> out(10)
    const g = graph(
      [tensor('in', [1, 100], 'int8'), tensor('a', [1, 400], 'int8'), tensor('b', [1, 50], 'int8'), tensor('out', [1, 10], 'int8'), tensor('w', [400, 100], 'int8', 1)],
      [
        ['FULLY_CONNECTED', [0, 4], [1]],
        ['FULLY_CONNECTED', [1, 4], [2]],
        ['FULLY_CONNECTED', [2, 4], [3]],
      ],
      [0],
      [3],
    );
    const a = arenaEstimate(g, noOverhead, ['fc1', 'fc2', 'fc3']);
    expect(a.activationBytes).toBe(500);
    expect(a.peakAt).toEqual({ index: 0, op: 'FULLY_CONNECTED', layer: 'fc1' });
    expect(a.totalBytes).toBe(500);
  });

  it('a skip connection keeps its tensor alive until the op that reads it', () => {
    // x(float32 10) -> A(10) -> B(10) -> ADD(x, B)
    const g = graph(
      [tensor('x', [1, 10], 'float32'), tensor('a', [1, 10], 'float32'), tensor('b', [1, 10], 'float32'), tensor('y', [1, 10], 'float32')],
      [
        ['RELU', [0], [1]],
        ['RELU', [1], [2]],
        ['ADD', [0, 2], [3]],
      ],
      [0],
      [3],
    );
    // At op 1: x (still needed), a, b alive = 3 * 40 bytes.
    expect(arenaEstimate(g, noOverhead).activationBytes).toBe(120);
  });

  it('adds runtime overhead per tensor, per op and per quantized output channel', () => {
    const g = graph(
      [tensor('in', [1, 4], 'int8'), tensor('out', [1, 3], 'int8'), tensor('w', [3, 4], 'int8', 1, [0.1, 0.2, 0.3])],
      [['FULLY_CONNECTED', [0, 2], [1]]],
      [0],
      [1],
    );
    const a = arenaEstimate(g, { baseBytes: 1000, perTensorBytes: 10, perOpBytes: 100, perQuantChannelBytes: 8 });
    expect(a.activationBytes).toBe(7);
    expect(a.overheadBytes).toBe(1000 + 3 * 10 + 100 + 3 * 8);
    expect(a.totalBytes).toBe(7 + a.overheadBytes);
  });
});

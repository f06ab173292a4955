/**
 * A minimal TFLite FlatBuffer reader: enough to inspect what the writer produced (tests, the
 * verifier's I/O quantization, size reports). It reads fields by schema slot, like the writer.
 */
import * as flatbuffers from 'flatbuffers';
import { ModelFormatError } from '../../../common/errors';
import { DTYPE_BY_CODE, FILE_IDENTIFIER, OP_NAMES, type DType } from './schema';

export interface TfliteTensorInfo {
  name: string;
  shape: number[];
  dtype: DType | `type${number}`;
  buffer: number;
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
  sparse: boolean;
}

/** Conv2DOptions / DepthwiseConv2DOptions fields (schema defaults applied). */
export interface TfliteConvOptions {
  padding: 'same' | 'valid';
  strideW: number;
  strideH: number;
  dilationW: number;
  dilationH: number;
  /** DepthwiseConv2DOptions only (1 for CONV_2D). */
  depthMultiplier: number;
}

export interface TfliteInfo {
  version: number;
  description: string;
  operatorCodes: { deprecatedBuiltinCode: number; builtinCode: number; name: string }[];
  tensors: TfliteTensorInfo[];
  inputs: number[];
  outputs: number[];
  operators: { opcodeIndex: number; op: string; inputs: number[]; outputs: number[]; optionsType: number; conv?: TfliteConvOptions }[];
  /** Byte offset in the file and length of each buffer's data (offset -1 when empty). */
  buffers: { offset: number; length: number }[];
}

class Table {
  constructor(
    readonly bb: flatbuffers.ByteBuffer,
    readonly pos: number,
  ) {}
  private off(slot: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * slot);
  }
  int8(slot: number, def = 0): number {
    const o = this.off(slot);
    return o ? this.bb.readInt8(this.pos + o) : def;
  }
  int32(slot: number, def = 0): number {
    const o = this.off(slot);
    return o ? this.bb.readInt32(this.pos + o) : def;
  }
  string(slot: number): string {
    const o = this.off(slot);
    return o ? (this.bb.__string(this.pos + o) as string) : '';
  }
  table(slot: number): Table | undefined {
    const o = this.off(slot);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : undefined;
  }
  /** [start, length] of a vector field. */
  vector(slot: number): [number, number] {
    const o = this.off(slot);
    if (!o) return [0, 0];
    return [this.bb.__vector(this.pos + o), this.bb.__vector_len(this.pos + o)];
  }
  ints(slot: number): number[] {
    const [s, n] = this.vector(slot);
    return Array.from({ length: n }, (_, i) => this.bb.readInt32(s + 4 * i));
  }
  floats(slot: number): number[] {
    const [s, n] = this.vector(slot);
    return Array.from({ length: n }, (_, i) => this.bb.readFloat32(s + 4 * i));
  }
  longs(slot: number): number[] {
    const [s, n] = this.vector(slot);
    return Array.from({ length: n }, (_, i) => Number(this.bb.readInt64(s + 8 * i)));
  }
  tables(slot: number): Table[] {
    const [s, n] = this.vector(slot);
    return Array.from({ length: n }, (_, i) => new Table(this.bb, this.bb.__indirect(s + 4 * i)));
  }
}

/** Padding, strides, dilations (and depth multiplier) of a CONV_2D or DEPTHWISE_CONV_2D, by schema slot. */
function convOptions(op: string, t: Table | undefined): { conv?: TfliteConvOptions } {
  if (op !== 'CONV_2D' && op !== 'DEPTHWISE_CONV_2D') return {};
  const dw = op === 'DEPTHWISE_CONV_2D';
  // Conv2DOptions: padding, stride_w, stride_h, fused_activation_function, dilation_w_factor, dilation_h_factor.
  // DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, fused_activation_function, dilation_w_factor, dilation_h_factor.
  return {
    conv: {
      padding: (t?.int8(0) ?? 0) === 1 ? 'valid' : 'same',
      strideW: t?.int32(1) ?? 0,
      strideH: t?.int32(2) ?? 0,
      depthMultiplier: dw ? (t?.int32(3) ?? 0) : 1,
      dilationW: t?.int32(dw ? 5 : 4, 1) ?? 1,
      dilationH: t?.int32(dw ? 6 : 5, 1) ?? 1,
    },
  };
}

/**
 * Reads the structure of a .tflite file (first subgraph). Throws ModelFormatError naming `file`.
 * @example const info = readTflite(bytes); info.operators.map((o) => o.op)
 */
export function readTflite(bytes: Uint8Array, file = '<tflite bytes>'): TfliteInfo {
  if (bytes.length < 8) throw new ModelFormatError(`${file}: ${bytes.length} bytes is too short for a TFLite file`);
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!bb.__has_identifier(FILE_IDENTIFIER)) {
    throw new ModelFormatError(`${file}: missing the "${FILE_IDENTIFIER}" file identifier at byte 4`);
  }
  try {
    const model = new Table(bb, bb.readInt32(0));
    const sg = model.tables(2)[0];
    if (!sg) throw new ModelFormatError(`${file}: model has no subgraph`);
    const operatorCodes = model.tables(1).map((c) => {
      const deprecatedBuiltinCode = c.int8(0);
      const builtinCode = c.int32(3);
      const code = Math.max(deprecatedBuiltinCode, builtinCode);
      return { deprecatedBuiltinCode, builtinCode, name: OP_NAMES[code] ?? `op${code}` };
    });
    const tensors = sg.tables(0).map((t): TfliteTensorInfo => {
      const q = t.table(4);
      const code = t.int8(1);
      return {
        name: t.string(3),
        shape: t.ints(0),
        dtype: DTYPE_BY_CODE[code] ?? `type${code}`,
        buffer: t.int32(2),
        scale: q ? q.floats(2) : [],
        zeroPoint: q ? q.longs(3) : [],
        quantizedDimension: q ? q.int32(6) : 0,
        sparse: t.table(6) !== undefined,
      };
    });
    const operators = sg.tables(3).map((o) => {
      const opcodeIndex = o.int32(0);
      const op = operatorCodes[opcodeIndex]?.name ?? '?';
      return { opcodeIndex, op, inputs: o.ints(1), outputs: o.ints(2), optionsType: o.int8(3), ...convOptions(op, o.table(4)) };
    });
    const buffers = model.tables(4).map((b) => {
      const [s, n] = b.vector(0);
      return { offset: n ? s : -1, length: n };
    });
    return {
      version: model.int32(0),
      description: model.string(3),
      operatorCodes,
      tensors,
      inputs: sg.ints(1),
      outputs: sg.ints(2),
      operators,
      buffers,
    };
  } catch (err) {
    if (err instanceof ModelFormatError) throw err;
    throw new ModelFormatError(`${file}: malformed TFLite FlatBuffer (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}

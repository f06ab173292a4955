/**
 * Serializes an IrGraph to TFLite FlatBuffer bytes with the npm `flatbuffers` Builder, writing
 * the schema's tables directly (fields in schema slot order). Every constant gets its own buffer;
 * buffers[0] is the empty sentinel that activation tensors point at.
 */
import * as flatbuffers from 'flatbuffers';
import type { IrGraph, IrOp, IrTensor } from './ir';
import { BUFFER_ALIGN, FILE_IDENTIFIER, Op, OptionsType, Padding, SCHEMA_VERSION, SparseIndexType, TensorType } from './schema';

type Builder = flatbuffers.Builder;

function intVector(b: Builder, values: ArrayLike<number>): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]);
  return b.endVector();
}

function floatVector(b: Builder, values: ArrayLike<number>): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]);
  return b.endVector();
}

function longVector(b: Builder, values: ArrayLike<number>): number {
  b.startVector(8, values.length, 8);
  for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]));
  return b.endVector();
}

function offsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

/** A byte vector whose first element lands on a 16-byte boundary of the finished file. */
function alignedBytes(b: Builder, bytes: Uint8Array): number {
  b.prep(BUFFER_ALIGN, bytes.length);
  return b.createByteVector(bytes);
}

/** Smallest index vector type that holds every value (the reader accepts all three). */
function sparseIndexVector(b: Builder, values: Int32Array): { type: number; offset: number } {
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  let type: number;
  let vec: number;
  if (max < 256) {
    type = SparseIndexType.Uint8Vector;
    b.startVector(1, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addInt8(values[i]);
    vec = b.endVector();
  } else if (max < 65536) {
    type = SparseIndexType.Uint16Vector;
    b.startVector(2, values.length, 4);
    for (let i = values.length - 1; i >= 0; i--) b.addInt16(values[i]);
    vec = b.endVector();
  } else {
    type = SparseIndexType.Int32Vector;
    vec = intVector(b, values);
  }
  b.startObject(1);
  b.addFieldOffset(0, vec, 0);
  return { type, offset: b.endObject() };
}

function dimensionMetadata(b: Builder, dense: number | undefined, csr?: { segments: Int32Array; indices: Int32Array }): number {
  const seg = csr ? sparseIndexVector(b, csr.segments) : undefined;
  const idx = csr ? sparseIndexVector(b, csr.indices) : undefined;
  b.startObject(6);
  b.addFieldInt8(0, csr ? 1 : 0, 0);
  if (dense !== undefined) b.addFieldInt32(1, dense, 0);
  if (seg && idx) {
    b.addFieldInt8(2, seg.type, 0);
    b.addFieldOffset(3, seg.offset, 0);
    b.addFieldInt8(4, idx.type, 0);
    b.addFieldOffset(5, idx.offset, 0);
  }
  return b.endObject();
}

function sparsityParameters(b: Builder, t: IrTensor): number {
  const sp = t.sparse;
  if (!sp) return 0;
  // Every dimension but the last is dense (for a [out, 1, 1, in] filter: out, 1, 1); the last is CSR.
  const dims = [...t.shape.slice(0, -1).map((d) => dimensionMetadata(b, d)), dimensionMetadata(b, undefined, sp)];
  const order = intVector(b, t.shape.map((_, i) => i));
  const dimVec = offsetVector(b, dims);
  b.startObject(3);
  b.addFieldOffset(0, order, 0);
  b.addFieldOffset(2, dimVec, 0);
  return b.endObject();
}

function quantization(b: Builder, t: IrTensor): number {
  const q = t.quant;
  if (!q) return 0;
  const scale = floatVector(b, q.scale);
  const zp = longVector(b, q.zeroPoint);
  b.startObject(7);
  b.addFieldOffset(2, scale, 0);
  b.addFieldOffset(3, zp, 0);
  b.addFieldInt32(6, q.dim, 0);
  return b.endObject();
}

function tensorTable(b: Builder, t: IrTensor, buffer: number): number {
  const name = b.createString(t.name);
  const shape = intVector(b, t.shape);
  const quant = quantization(b, t);
  const sparsity = sparsityParameters(b, t);
  b.startObject(10);
  b.addFieldOffset(0, shape, 0);
  b.addFieldInt8(1, TensorType[t.dtype], -1);
  b.addFieldInt32(2, buffer, -1);
  b.addFieldOffset(3, name, 0);
  if (quant) b.addFieldOffset(4, quant, 0);
  if (sparsity) b.addFieldOffset(6, sparsity, 0);
  b.addFieldInt8(8, 1, 0); // has_rank: every shape here is known
  return b.endObject();
}

const pad = (p: 'same' | 'valid'): number => (p === 'same' ? Padding.SAME : Padding.VALID);

/** Writes an op's BuiltinOptions table; returns [union type, offset]. */
function builtinOptions(b: Builder, op: IrOp): [number, number] {
  const o = op.options;
  switch (o.kind) {
    case 'conv':
      b.startObject(7);
      b.addFieldInt8(0, pad(o.padding), -1);
      b.addFieldInt32(1, o.strides[1], -1);
      b.addFieldInt32(2, o.strides[0], -1);
      b.addFieldInt8(3, o.act, -1);
      b.addFieldInt32(4, o.dilations[1], -1);
      b.addFieldInt32(5, o.dilations[0], -1);
      return [OptionsType.Conv2DOptions, b.endObject()];
    case 'dwconv':
      b.startObject(7);
      b.addFieldInt8(0, pad(o.padding), -1);
      b.addFieldInt32(1, o.strides[1], -1);
      b.addFieldInt32(2, o.strides[0], -1);
      b.addFieldInt32(3, o.multiplier, -1);
      b.addFieldInt8(4, o.act, -1);
      b.addFieldInt32(5, o.dilations[1], -1);
      b.addFieldInt32(6, o.dilations[0], -1);
      return [OptionsType.DepthwiseConv2DOptions, b.endObject()];
    case 'pool':
      b.startObject(6);
      b.addFieldInt8(0, pad(o.padding), -1);
      b.addFieldInt32(1, o.strides[1], -1);
      b.addFieldInt32(2, o.strides[0], -1);
      b.addFieldInt32(3, o.filter[1], -1);
      b.addFieldInt32(4, o.filter[0], -1);
      b.addFieldInt8(5, o.act, -1);
      return [OptionsType.Pool2DOptions, b.endObject()];
    case 'fc':
      b.startObject(5);
      b.addFieldInt8(0, o.act, -1);
      b.addFieldInt8(2, o.keepNumDims ? 1 : 0, -1);
      return [OptionsType.FullyConnectedOptions, b.endObject()];
    case 'softmax':
      b.startObject(1);
      b.addFieldFloat32(0, o.beta, -1); // the schema default is 0.0, which would flatten every output
      return [OptionsType.SoftmaxOptions, b.endObject()];
    case 'concat':
      b.startObject(2);
      b.addFieldInt32(0, o.axis, -1);
      b.addFieldInt8(1, o.act, -1);
      return [OptionsType.ConcatenationOptions, b.endObject()];
    case 'add':
      b.startObject(2);
      b.addFieldInt8(0, o.act, -1);
      return [OptionsType.AddOptions, b.endObject()];
    case 'mul':
      b.startObject(1);
      b.addFieldInt8(0, o.act, -1);
      return [OptionsType.MulOptions, b.endObject()];
    case 'sub':
      b.startObject(1);
      b.addFieldInt8(0, o.act, -1);
      return [OptionsType.SubOptions, b.endObject()];
    case 'leakyRelu':
      b.startObject(1);
      b.addFieldFloat32(0, o.alpha, -1);
      return [OptionsType.LeakyReluOptions, b.endObject()];
    case 'transposeConv':
      b.startObject(3);
      b.addFieldInt8(0, pad(o.padding), -1);
      b.addFieldInt32(1, o.strides[1], -1);
      b.addFieldInt32(2, o.strides[0], -1);
      return [OptionsType.TransposeConvOptions, b.endObject()];
    case 'resizeNearest':
      // align_corners and half_pixel_centers false: output pixel i reads input floor(i * in / out),
      // which for an integer factor repeats each pixel, as Keras UpSampling2D (nearest) does.
      b.startObject(2);
      return [OptionsType.ResizeNearestNeighborOptions, b.endObject()];
    case 'reshape': {
      const shape = intVector(b, o.newShape);
      b.startObject(1);
      b.addFieldOffset(0, shape, 0);
      return [OptionsType.ReshapeOptions, b.endObject()];
    }
    case 'reducer':
      b.startObject(1);
      b.addFieldInt8(0, o.keepDims ? 1 : 0, -1);
      return [OptionsType.ReducerOptions, b.endObject()];
    case 'none': {
      const empty: Partial<Record<string, number>> = {
        PAD: OptionsType.PadOptions,
        DEQUANTIZE: OptionsType.DequantizeOptions,
        QUANTIZE: OptionsType.QuantizeOptions,
        DENSIFY: OptionsType.DensifyOptions,
        TRANSPOSE: OptionsType.TransposeOptions,
        MAXIMUM: OptionsType.MaximumMinimumOptions,
        MINIMUM: OptionsType.MaximumMinimumOptions,
        HARD_SWISH: OptionsType.HardSwishOptions,
      };
      const type = empty[op.op];
      if (type === undefined) return [0, 0];
      b.startObject(0);
      return [type, b.endObject()];
    }
  }
}

/** Drops tensors no op, input or output refers to (e.g. left behind by activation fusion). */
function compact(g: IrGraph): { tensors: IrTensor[]; remap: (i: number) => number } {
  const used = new Set<number>([...g.inputs, ...g.outputs]);
  for (const op of g.ops) for (const i of [...op.inputs, ...op.outputs]) if (i >= 0) used.add(i);
  const map = new Map<number, number>();
  const tensors: IrTensor[] = [];
  g.tensors.forEach((t, i) => {
    if (used.has(i)) {
      map.set(i, tensors.length);
      tensors.push(t);
    }
  });
  return { tensors, remap: (i) => (i < 0 ? i : (map.get(i) as number)) };
}

/**
 * Serializes a graph whose constants already carry `bytes`.
 * @returns the .tflite file bytes and how many tensors it holds
 */
export function writeTflite(g: IrGraph, description = 'Topiary TFLite export'): { bytes: Uint8Array; tensors: number } {
  const b = new flatbuffers.Builder(1024 + g.tensors.reduce((n, t) => n + (t.bytes?.length ?? 0), 0));
  const { tensors, remap } = compact(g);

  const bufferOffsets: number[] = [];
  b.startObject(3);
  bufferOffsets.push(b.endObject()); // buffers[0]: the empty sentinel
  const tensorBuffer = tensors.map((t) => {
    if (!t.bytes) return 0;
    const data = alignedBytes(b, t.bytes);
    b.startObject(3);
    b.addFieldOffset(0, data, 0);
    bufferOffsets.push(b.endObject());
    return bufferOffsets.length - 1;
  });

  const tensorOffsets = tensors.map((t, i) => tensorTable(b, t, tensorBuffer[i]));

  const opNames = [...new Set(g.ops.map((o) => o.op))];
  const opCodeOffsets = opNames.map((name) => {
    const code = Op[name];
    b.startObject(4);
    b.addFieldInt8(0, Math.min(code, 127), -1);
    b.addFieldInt32(2, 1, -1);
    b.addFieldInt32(3, code, -1);
    return b.endObject();
  });

  const opOffsets = g.ops.map((op) => {
    const inputs = intVector(b, op.inputs.map(remap));
    const outputs = intVector(b, op.outputs.map(remap));
    const [optType, opt] = builtinOptions(b, op);
    b.startObject(13);
    b.addFieldInt32(0, opNames.indexOf(op.op), -1);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (optType !== 0) {
      b.addFieldInt8(3, optType, 0);
      b.addFieldOffset(4, opt, 0);
    }
    return b.endObject();
  });

  const sgTensors = offsetVector(b, tensorOffsets);
  const sgInputs = intVector(b, g.inputs.map(remap));
  const sgOutputs = intVector(b, g.outputs.map(remap));
  const sgOps = offsetVector(b, opOffsets);
  const sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgInputs, 0);
  b.addFieldOffset(2, sgOutputs, 0);
  b.addFieldOffset(3, sgOps, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();

  // A serving_default signature names the I/O, so runtimes that address tensors by name
  // (LiteRT's CompiledModel, the Interpreter's signature runner) see the Keras names.
  const tensorMaps = (ids: number[]): number =>
    offsetVector(
      b,
      ids.map((i) => {
        const name = b.createString(g.tensors[i].name);
        b.startObject(2);
        b.addFieldOffset(0, name, 0);
        b.addFieldInt32(1, remap(i), -1);
        return b.endObject();
      }),
    );
  const sigInputs = tensorMaps(g.inputs);
  const sigOutputs = tensorMaps(g.outputs);
  const sigKey = b.createString('serving_default');
  b.startObject(5);
  b.addFieldOffset(0, sigInputs, 0);
  b.addFieldOffset(1, sigOutputs, 0);
  b.addFieldOffset(2, sigKey, 0);
  b.addFieldInt32(4, 0, -1);
  const signatures = offsetVector(b, [b.endObject()]);

  const opCodes = offsetVector(b, opCodeOffsets);
  const subgraphs = offsetVector(b, [subgraph]);
  const desc = b.createString(description);
  const buffers = offsetVector(b, bufferOffsets);
  b.startObject(8);
  b.addFieldInt32(0, SCHEMA_VERSION, -1);
  b.addFieldOffset(1, opCodes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, desc, 0);
  b.addFieldOffset(4, buffers, 0);
  b.addFieldOffset(7, signatures, 0);
  const model = b.endObject();
  b.finish(model, FILE_IDENTIFIER);
  return { bytes: b.asUint8Array().slice(), tensors: tensors.length };
}

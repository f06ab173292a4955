/**
 * The exporter's intermediate graph: TFLite tensors and operators as plain data, before they are
 * serialized. Lowering (layers -> ops), quantization passes and the FlatBuffer writer all work on it.
 */
import type { ActCode, DType, OpName } from './schema';

export interface QuantParams {
  scale: number[];
  zeroPoint: number[];
  /** Axis the per-channel scales run along; 0 when per-tensor. */
  dim: number;
}

/** CSR encoding of a 2-D constant: row pointers and column indices (SparsityParameters). */
export interface SparseCsr {
  rows: number;
  segments: Int32Array;
  indices: Int32Array;
}

export interface IrTensor {
  name: string;
  shape: number[];
  dtype: DType;
  /** Float constant as computed from the model (before quantization). */
  value?: Float32Array;
  /** Integer constant (shapes, axes, paddings, quantized biases). */
  intValue?: Int32Array;
  /** Serialized little-endian bytes; set by the quantization passes or by `finalizeBytes`. */
  bytes?: Uint8Array;
  quant?: QuantParams;
  sparse?: SparseCsr;
  /** What a constant is for; decides how each numeric mode stores it. */
  role?: 'weight' | 'bias' | 'param' | 'index';
  /** Axis of output channels for per-channel quantization of a weight. */
  channelAxis?: number;
}

export type OpOptions =
  | { kind: 'none' }
  | { kind: 'conv'; padding: 'same' | 'valid'; strides: [number, number]; dilations: [number, number]; act: ActCode }
  | { kind: 'dwconv'; padding: 'same' | 'valid'; strides: [number, number]; dilations: [number, number]; multiplier: number; act: ActCode }
  | { kind: 'pool'; padding: 'same' | 'valid'; strides: [number, number]; filter: [number, number]; act: ActCode }
  | { kind: 'fc'; act: ActCode; keepNumDims: boolean }
  | { kind: 'softmax'; beta: number }
  | { kind: 'concat'; axis: number; act: ActCode }
  | { kind: 'add'; act: ActCode }
  | { kind: 'mul'; act: ActCode }
  | { kind: 'sub'; act: ActCode }
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'transposeConv'; padding: 'same' | 'valid'; strides: [number, number] }
  | { kind: 'resizeNearest' }
  | { kind: 'reshape'; newShape: number[] }
  | { kind: 'reducer'; keepDims: boolean };

export interface IrOp {
  op: OpName;
  inputs: number[];
  outputs: number[];
  options: OpOptions;
  /** Keras layer the op came from ('' for ops added at the graph edges). */
  layer: string;
}

export class IrGraph {
  tensors: IrTensor[] = [];
  ops: IrOp[] = [];
  inputs: number[] = [];
  outputs: number[] = [];
  notes: string[] = [];

  addTensor(t: IrTensor): number {
    this.tensors.push(t);
    return this.tensors.length - 1;
  }

  /** An activation (non-constant) tensor. */
  activation(name: string, shape: number[], dtype: DType = 'float32'): number {
    return this.addTensor({ name, shape: [...shape], dtype });
  }

  constFloat(name: string, shape: number[], value: Float32Array, role: IrTensor['role'], channelAxis?: number): number {
    return this.addTensor({ name, shape: [...shape], dtype: 'float32', value, role, channelAxis });
  }

  constInt(name: string, shape: number[], value: Int32Array): number {
    return this.addTensor({ name, shape: [...shape], dtype: 'int32', intValue: value, role: 'index' });
  }

  addOp(op: OpName, inputs: number[], outputs: number[], options: OpOptions, layer: string): void {
    this.ops.push({ op, inputs, outputs, options, layer });
  }

  isConst(i: number): boolean {
    const t = this.tensors[i];
    return t.value !== undefined || t.intValue !== undefined || t.bytes !== undefined;
  }

  /** Ops that read tensor `i`. */
  consumers(i: number): IrOp[] {
    return this.ops.filter((o) => o.inputs.includes(i));
  }

  producer(i: number): IrOp | undefined {
    return this.ops.find((o) => o.outputs.includes(i));
  }
}

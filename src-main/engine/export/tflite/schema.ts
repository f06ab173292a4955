/**
 * The slice of the TFLite FlatBuffer schema (tensorflow/compiler/mlir/lite/schema/schema.fbs,
 * version 3) that the exporter writes and reads. Field slots are the schema's declaration order;
 * a union field takes two slots (its `_type` byte, then its value).
 */

/** BuiltinOperator enum values. */
export const Op = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  PAD: 34,
  TRANSPOSE: 39,
  MEAN: 40,
  SUB: 41,
  PRELU: 54,
  MAXIMUM: 55,
  MINIMUM: 57,
  TRANSPOSE_CONV: 67,
  REDUCE_MAX: 82,
  RESIZE_NEAREST_NEIGHBOR: 97,
  LEAKY_RELU: 98,
  ELU: 111,
  QUANTIZE: 114,
  HARD_SWISH: 117,
  DENSIFY: 124,
} as const;
export type OpName = keyof typeof Op;
export type OpCode = (typeof Op)[OpName];

export const OP_NAMES: Record<number, OpName> = Object.fromEntries(
  Object.entries(Op).map(([name, code]) => [code, name as OpName]),
) as Record<number, OpName>;

/** TensorType enum values. */
export const TensorType = { float32: 0, float16: 1, int32: 2, uint8: 3, int8: 9 } as const;
export type DType = keyof typeof TensorType;
export const DTYPE_BYTES: Record<DType, number> = { float32: 4, float16: 2, int32: 4, uint8: 1, int8: 1 };
export const DTYPE_BY_CODE: Record<number, DType> = { 0: 'float32', 1: 'float16', 2: 'int32', 3: 'uint8', 9: 'int8' };

/** ActivationFunctionType enum values. */
export const Act = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;
export type ActCode = (typeof Act)[keyof typeof Act];

/** Padding enum values. */
export const Padding = { SAME: 0, VALID: 1 } as const;

/** BuiltinOptions union member indices (1-based; 0 = NONE). */
export const OptionsType = {
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  ConcatenationOptions: 10,
  AddOptions: 11,
  ReshapeOptions: 17,
  MulOptions: 21,
  PadOptions: 22,
  TransposeOptions: 26,
  ReducerOptions: 27,
  SubOptions: 28,
  DequantizeOptions: 38,
  MaximumMinimumOptions: 39,
  TransposeConvOptions: 49,
  ResizeNearestNeighborOptions: 74,
  LeakyReluOptions: 75,
  QuantizeOptions: 89,
  HardSwishOptions: 91,
  DensifyOptions: 99,
} as const;

/** SparseIndexVector union member indices. */
export const SparseIndexType = { Int32Vector: 1, Uint16Vector: 2, Uint8Vector: 3 } as const;

export const SCHEMA_VERSION = 3;
export const FILE_IDENTIFIER = 'TFL3';
/** Constant buffers start on 16-byte boundaries (schema: `force_align: 16`), so mmap readers can use them in place. */
export const BUFFER_ALIGN = 16;

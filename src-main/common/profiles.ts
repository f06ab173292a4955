/**
 * Device profiles: where a model must run, as validated data. A profile states the budgets a model
 * must meet (tensor-arena RAM, model-file size, latency), the numeric types and ops its runtime
 * accepts, and where each number comes from. Built-ins ship here; users add their own as JSON.
 *
 * Also the shapes of a fit report (profile vs model), shared by services, CLI and renderer.
 */
import { z } from 'zod';
import { ConfigError } from './errors';

export const PROFILE_CLASSES = ['mcu', 'edge', 'mobile', 'desktop', 'web'] as const;
export const NUMERIC_TYPES = ['float32', 'float16', 'dynamic-int8', 'int8'] as const;
export const PROFILE_RUNTIMES = ['tflite-micro', 'tflite', 'tfjs', 'edgetpu'] as const;
export const PROFILE_EXPORT_FORMATS = ['tflite', 'tfjs'] as const;

export type ProfileClass = (typeof PROFILE_CLASSES)[number];
export type NumericType = (typeof NUMERIC_TYPES)[number];
export type ProfileRuntime = (typeof PROFILE_RUNTIMES)[number];

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive(`${what} must be > 0`);
const nonNegativeInt = z.number().int().nonnegative();

/** What the runtime itself keeps in the arena besides activations (see engine/fit/arena.ts). */
export const RuntimeOverheadSchema = z.strictObject({
  /** Fixed bytes: interpreter/allocator bookkeeping. */
  baseBytes: nonNegativeInt,
  /** Per tensor of the graph (tensor structs). */
  perTensorBytes: nonNegativeInt,
  /** Per operator (node structs, op data). */
  perOpBytes: nonNegativeInt,
  /** Per output channel of a per-channel quantized weight (int32 multiplier + shift). */
  perQuantChannelBytes: nonNegativeInt,
});
export type RuntimeOverhead = z.infer<typeof RuntimeOverheadSchema>;

export const ProfileSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'id must be 1-64 characters of a-z, 0-9, ".", "_", "-", starting with a letter or digit'),
    name: z.string().min(1, 'name is required').max(200),
    class: z.enum(PROFILE_CLASSES),
    description: z.string().max(2000).optional(),
    /** Tensor-arena budget: activations plus what the runtime keeps, in bytes. */
    ramBytes: positive('ramBytes').int(),
    /** Model-file budget (flash, app bundle, download), in bytes. */
    storageBytes: positive('storageBytes').int(),
    /** Which size counts against storageBytes: the file as stored, or gzip (what a web server sends). */
    storageMeasure: z.enum(['raw', 'gzip']).default('raw'),
    latencyTargetMs: positive('latencyTargetMs'),
    /** Multiply-accumulates per second the runtime sustains, for latency estimates. */
    referenceMacsPerSecond: positive('referenceMacsPerSecond'),
    /** In order of preference; each must also be allowed. */
    numericTypes: z.strictObject({
      preferred: z.array(z.enum(NUMERIC_TYPES)).min(1, 'numericTypes.preferred needs at least one type'),
      allowed: z.array(z.enum(NUMERIC_TYPES)).min(1, 'numericTypes.allowed needs at least one type'),
    }),
    runtime: z.enum(PROFILE_RUNTIMES),
    /** TFLite builtin op names (e.g. CONV_2D); for the tfjs runtime, Keras layer classes. */
    supportedOps: z.array(z.string().min(1)).min(1, 'supportedOps needs at least one op'),
    exportFormats: z.array(z.enum(PROFILE_EXPORT_FORMATS)).min(1, 'exportFormats needs at least one format'),
    threads: z.number().int().positive(),
    /**
     * Structured pruning keeps channel counts multiples of this (`--round-to`), so kept widths fill
     * the runtime's SIMD lanes; absent: no rounding.
     */
    channelMultiple: z.number().int().min(1).max(256).optional(),
    runtimeOverhead: RuntimeOverheadSchema,
    /** Where the numbers come from. Built-ins say so; user profiles may leave it empty. */
    sources: z.array(z.strictObject({ field: z.string().min(1), note: z.string().min(1), url: z.string().optional() })).default([]),
    builtin: z.boolean().optional(),
  })
  .superRefine((p, ctx) => {
    for (const t of p.numericTypes.preferred) {
      if (!p.numericTypes.allowed.includes(t)) {
        ctx.addIssue({ code: 'custom', path: ['numericTypes', 'preferred'], message: `preferred type ${t} is not in numericTypes.allowed` });
      }
    }
    const needs = p.runtime === 'tfjs' ? 'tfjs' : 'tflite';
    if (!p.exportFormats.includes(needs)) {
      ctx.addIssue({ code: 'custom', path: ['exportFormats'], message: `runtime ${p.runtime} needs export format ${needs}` });
    }
    if (p.runtime === 'tfjs' && p.numericTypes.allowed.includes('int8')) {
      ctx.addIssue({ code: 'custom', path: ['numericTypes', 'allowed'], message: 'runtime tfjs has no full-integer int8 kernels; use dynamic-int8 (8-bit weights)' });
    }
  });

export type Profile = z.infer<typeof ProfileSchema>;
export type ProfileInput = z.input<typeof ProfileSchema>;

/**
 * Validates a parsed profile; throws ConfigError naming `where` (a file, or "profile") and each bad field.
 * @example parseProfile(JSON.parse(text), '/home/me/board.json')
 */
export function parseProfile(raw: unknown, where = 'profile'): Profile {
  const r = ProfileSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ConfigError(`${where}: invalid profile: ${problems}`);
  }
  return r.data;
}

/** Parses profile JSON text; bad JSON and bad fields are both ConfigErrors naming `where`. */
export function parseProfileJson(text: string, where = 'profile'): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  return parseProfile(raw, where);
}

// ---------------------------------------------------------------------------------------------
// Built-in profiles. Every number is an approximation for a class of device, not a spec sheet for
// one product; `sources` says what each one rests on. Users should duplicate and adjust.

/** Ops of TFLite Micro's op resolver that the exporter can emit (no DENSIFY: TFLM has no sparse kernels). */
const TFLM_OPS = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEQUANTIZE', 'FULLY_CONNECTED',
  'LOGISTIC', 'MAX_POOL_2D', 'MEAN', 'MUL', 'PAD', 'QUANTIZE', 'RELU', 'RELU6', 'RESHAPE', 'SOFTMAX', 'TANH',
  // tflite-micro's MicroMutableOpResolver has kernels for these too (AddElu, AddHardSwish, ...).
  'ELU', 'HARD_SWISH', 'LEAKY_RELU', 'MAXIMUM', 'MINIMUM', 'PRELU', 'REDUCE_MAX', 'RESIZE_NEAREST_NEIGHBOR', 'SUB',
  'TRANSPOSE', 'TRANSPOSE_CONV',
];
/** Edge TPU compiler's supported ops (Coral docs) that the exporter emits; QUANTIZE/DEQUANTIZE run at the graph edges. */
const EDGETPU_OPS = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'FULLY_CONNECTED', 'LOGISTIC',
  'MAX_POOL_2D', 'MEAN', 'MUL', 'PAD', 'QUANTIZE', 'DEQUANTIZE', 'RELU', 'RELU6', 'RESHAPE', 'SOFTMAX', 'TANH',
  'MAXIMUM', 'MINIMUM', 'PRELU', 'REDUCE_MAX', 'RESIZE_NEAREST_NEIGHBOR', 'SUB', 'TRANSPOSE', 'TRANSPOSE_CONV',
];
/** Full TFLite builtin kernels (tensorflow/lite/kernels/register.cc) for the ops the exporter emits. */
const TFLITE_OPS = [...TFLM_OPS, 'DENSIFY'];
/** Keras layer classes tfjs-layers deserializes (the ones Topiary's models use). */
const TFJS_LAYERS = [
  'InputLayer', 'Dense', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv1D', 'MaxPooling2D', 'AveragePooling2D',
  'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'MaxPooling1D', 'AveragePooling1D', 'Flatten', 'Reshape', 'Dropout',
  'Activation', 'ReLU', 'Softmax', 'BatchNormalization', 'LayerNormalization', 'Add', 'Multiply', 'Concatenate',
  'ZeroPadding2D', 'UpSampling2D', 'Rescaling', 'Embedding', 'LSTM', 'GRU', 'SimpleRNN', 'LeakyReLU', 'ELU', 'PReLU',
];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const builtin = (p: ProfileInput): Profile => parseProfile({ ...p, builtin: true }, `built-in profile ${p.id}`);

export const BUILTIN_PROFILES: readonly Profile[] = Object.freeze([
  builtin({
    id: 'mcu-cortex-m4',
    name: 'Microcontroller (Cortex-M4F, 256 KiB RAM, 1 MiB flash)',
    class: 'mcu',
    description: 'nRF52840 / STM32F4-class board running TensorFlow Lite Micro with CMSIS-NN kernels. Full int8 only.',
    ramBytes: 256 * KiB,
    storageBytes: 1 * MiB,
    latencyTargetMs: 100,
    referenceMacsPerSecond: 32e6,
    numericTypes: { preferred: ['int8'], allowed: ['int8'] },
    runtime: 'tflite-micro',
    supportedOps: TFLM_OPS,
    exportFormats: ['tflite'],
    threads: 1,
    channelMultiple: 4,
    runtimeOverhead: { baseBytes: 4 * KiB, perTensorBytes: 32, perOpBytes: 64, perQuantChannelBytes: 8 },
    sources: [
      { field: 'channelMultiple', note: "CMSIS-NN's int8 kernels work on 4 channels at a time (32-bit SIMD, 4 int8 lanes)." },
      { field: 'ramBytes, storageBytes', note: 'nRF52840 product specification: 256 KB RAM, 1 MB flash (STM32F4 parts range 128-384 KB / 512 KB-2 MB). The whole SRAM is the budget here; a real application needs some of it for itself.', url: 'https://docs.nordicsemi.com/bundle/ps_nrf52840/page/keyfeatures_html5.html' },
      { field: 'referenceMacsPerSecond', note: 'Approximation: 64 MHz x ~0.5 int8 MAC/cycle with CMSIS-NN SIMD (SMLAD does 2 MACs/cycle at peak; memory traffic halves that or worse).', url: 'https://arxiv.org/abs/1801.06601' },
      { field: 'supportedOps, numericTypes', note: 'TFLite Micro op resolver (micro_mutable_op_resolver.h); CMSIS-NN optimised kernels are int8 only; no DENSIFY (no sparse tensors).', url: 'https://github.com/tensorflow/tflite-micro/blob/main/tensorflow/lite/micro/micro_mutable_op_resolver.h' },
      { field: 'runtimeOverhead', note: 'Approximation of TFLM arena bookkeeping (TfLiteEvalTensor/node structs, per-channel int32 multiplier+shift). Measure a real build with RecordingMicroAllocator.', url: 'https://github.com/tensorflow/tflite-micro/blob/main/tensorflow/lite/micro/docs/memory_management.md' },
      { field: 'latencyTargetMs', note: 'A typical keyword-spotting / sensor-classification budget (10 inferences a second).' },
    ],
  }),
  builtin({
    id: 'edge-coral',
    name: 'Edge box (Raspberry Pi 4 + Coral Edge TPU)',
    class: 'edge',
    description: 'Raspberry Pi 4 host with a Coral USB Accelerator. The Edge TPU runs fully int8-quantized models; parameters beyond its on-chip SRAM stream from the host.',
    ramBytes: 512 * MiB,
    storageBytes: 8 * MiB,
    latencyTargetMs: 20,
    referenceMacsPerSecond: 2e11,
    numericTypes: { preferred: ['int8'], allowed: ['int8'] },
    runtime: 'edgetpu',
    supportedOps: EDGETPU_OPS,
    exportFormats: ['tflite'],
    threads: 4,
    channelMultiple: 8,
    runtimeOverhead: { baseBytes: 1 * MiB, perTensorBytes: 256, perOpBytes: 512, perQuantChannelBytes: 8 },
    sources: [
      { field: 'channelMultiple', note: "Cortex-A72 NEON: XNNPACK's fp32 GEMM micro-kernels tile 8 output channels; int8 16." },
      { field: 'storageBytes', note: 'Coral docs: the Edge TPU has roughly 8 MB of SRAM to cache parameters; larger models still run but stream weights over USB (slow).', url: 'https://coral.ai/docs/edgetpu/compiler/#parameter-data-caching' },
      { field: 'numericTypes, supportedOps', note: 'Coral docs "TensorFlow models on the Edge TPU": full integer quantization required; supported op list. QUANTIZE/DEQUANTIZE at the edges run on the host CPU.', url: 'https://coral.ai/docs/edgetpu/models-intro/' },
      { field: 'referenceMacsPerSecond', note: 'Approximation: 4 TOPS peak = 2e12 MAC/s; ~10 % sustained on small models behind USB.', url: 'https://coral.ai/products/accelerator' },
      { field: 'ramBytes', note: 'Raspberry Pi 4 ships with 1-8 GB; 512 MiB is a conservative share for one model.', url: 'https://www.raspberrypi.com/products/raspberry-pi-4-model-b/specifications/' },
    ],
  }),
  builtin({
    id: 'mobile-midrange',
    name: 'Mid-range phone (TFLite, float16 or int8)',
    class: 'mobile',
    description: 'A mid-range Android phone (Cortex-A76/A55 class) running TFLite with XNNPACK on the CPU.',
    ramBytes: 256 * MiB,
    storageBytes: 50 * MiB,
    latencyTargetMs: 30,
    referenceMacsPerSecond: 1e10,
    numericTypes: { preferred: ['float16', 'int8'], allowed: ['float16', 'dynamic-int8', 'int8', 'float32'] },
    runtime: 'tflite',
    supportedOps: TFLITE_OPS,
    exportFormats: ['tflite'],
    threads: 4,
    channelMultiple: 8,
    runtimeOverhead: { baseBytes: 2 * MiB, perTensorBytes: 256, perOpBytes: 512, perQuantChannelBytes: 8 },
    sources: [
      { field: 'channelMultiple', note: "ARM NEON: XNNPACK's fp32 GEMM micro-kernels tile 8 output channels (4x8, 6x8)." },
      { field: 'numericTypes', note: 'TFLite post-training quantization guide: float16 halves size with GPU delegate support, int8 for CPU/NPUs.', url: 'https://ai.google.dev/edge/litert/models/post_training_quantization' },
      { field: 'referenceMacsPerSecond', note: 'Approximation: ~10 GMAC/s for XNNPACK on 4 threads of a mid-range SoC (published MobileNet v2 timings: ~300 MMAC in ~30 ms).', url: 'https://ai.google.dev/edge/litert/models/measurement' },
      { field: 'storageBytes, ramBytes', note: 'Approximation: a comfortable share of an app download and of app memory on a 4-6 GB phone.' },
    ],
  }),
  builtin({
    id: 'desktop-cpu',
    name: 'Desktop CPU (TFLite or tfjs, float32)',
    class: 'desktop',
    description: 'An x86-64 desktop with AVX2 running TFLite/XNNPACK (or tfjs-node).',
    ramBytes: 2 * GiB,
    storageBytes: 500 * MiB,
    latencyTargetMs: 10,
    referenceMacsPerSecond: 1e11,
    numericTypes: { preferred: ['float32'], allowed: ['float32', 'float16', 'dynamic-int8', 'int8'] },
    runtime: 'tflite',
    supportedOps: TFLITE_OPS,
    exportFormats: ['tflite', 'tfjs'],
    threads: 8,
    channelMultiple: 8,
    runtimeOverhead: { baseBytes: 4 * MiB, perTensorBytes: 256, perOpBytes: 512, perQuantChannelBytes: 8 },
    sources: [
      { field: 'channelMultiple', note: "AVX2: 8 float32 lanes per register; XNNPACK's x86 fp32 GEMM kernels tile 8 or 16 output channels." },
      { field: 'referenceMacsPerSecond', note: 'Approximation: 8 cores x AVX2 FMA sustain ~100 GMAC/s on conv-heavy float32 graphs.' },
      { field: 'supportedOps', note: 'Full TFLite builtin op set (tensorflow/lite/kernels/register.cc), DENSIFY included.', url: 'https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/core/kernels/register.cc' },
    ],
  }),
  builtin({
    id: 'web-browser',
    name: 'Web browser (tfjs, 5 MiB download)',
    class: 'web',
    description: 'tfjs in a browser tab (WebGL or WASM backend); the model is downloaded on page load, so the gzip size is the budget.',
    ramBytes: 512 * MiB,
    storageBytes: 5 * MiB,
    storageMeasure: 'gzip',
    latencyTargetMs: 50,
    referenceMacsPerSecond: 2e9,
    numericTypes: { preferred: ['float16', 'dynamic-int8'], allowed: ['float32', 'float16', 'dynamic-int8'] },
    runtime: 'tfjs',
    supportedOps: TFJS_LAYERS,
    exportFormats: ['tfjs'],
    threads: 1,
    channelMultiple: 4,
    runtimeOverhead: { baseBytes: 8 * MiB, perTensorBytes: 128, perOpBytes: 0, perQuantChannelBytes: 0 },
    sources: [
      { field: 'channelMultiple', note: "WebAssembly SIMD128: 4 float32 lanes; XNNPACK's wasmsimd GEMM kernels tile 8 output channels." },
      { field: 'storageBytes', note: 'Approximation: web performance budgets keep a page\'s heavy assets to a few MB on mobile connections; 5 MB gzip is a generous budget for a model.', url: 'https://web.dev/articles/performance-budgets-101' },
      { field: 'numericTypes', note: 'tfjs weight quantization: float16 or uint8/uint16 affine weights dequantized on load ("dynamic-int8" maps to uint8 weights); kernels run in float32.', url: 'https://github.com/tensorflow/tfjs/tree/master/tfjs-converter#optional-quantization' },
      { field: 'referenceMacsPerSecond', note: 'Approximation: tfjs WASM SIMD single thread ~2 GMAC/s on a laptop.', url: 'https://blog.tensorflow.org/2020/09/supercharging-tensorflowjs-webassembly.html' },
      { field: 'ramBytes, runtimeOverhead', note: 'tfjs keeps every weight as a float32 tensor after loading, plus its own backend state (approximation).' },
    ],
  }),
]);

export const BUILTIN_PROFILE_IDS: readonly string[] = BUILTIN_PROFILES.map((p) => p.id);

export function isBuiltinProfileId(id: string): boolean {
  return BUILTIN_PROFILE_IDS.includes(id);
}

/** A deep copy of a built-in (callers may mutate it), or undefined. */
export function builtinProfile(id: string): Profile | undefined {
  const p = BUILTIN_PROFILES.find((b) => b.id === id);
  return p ? (JSON.parse(JSON.stringify(p)) as Profile) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Fit reports

export type ConstraintName = 'storage' | 'ram' | 'ops' | 'numeric' | 'latency';

export interface ConstraintResult {
  constraint: ConstraintName;
  passed: boolean;
  /** What the model needs (bytes, ms, count of unsupported ops); null when it could not be measured. */
  value: number | null;
  budget: number;
  /** budget - value (positive = room left). */
  margin: number | null;
  /** margin / budget. */
  marginFraction: number | null;
  unit: 'bytes' | 'ms' | 'ops' | 'type';
  /** True when `value` is an estimate rather than a measurement (latency from MACs, arena from the graph). */
  estimate: boolean;
  detail: string;
}

export interface UnsupportedOp {
  layer: string;
  className: string;
  ops: string[];
  reason: string;
}

export interface ArenaEstimate {
  /** Peak bytes of activation tensors alive at once over the op sequence. */
  activationBytes: number;
  /** Runtime bookkeeping per the profile's runtimeOverhead. */
  overheadBytes: number;
  /** Weights the runtime copies into RAM (tfjs: every weight as float32); 0 when weights stay in the file/flash. */
  weightBytes: number;
  totalBytes: number;
  /** The op (index, name, layer) at which the peak occurs. */
  peakAt: { index: number; op: string; layer: string } | null;
}

export interface FitReport {
  profileId: string;
  profileName: string;
  format: 'tflite' | 'tfjs';
  numericType: NumericType;
  fits: boolean;
  constraints: ConstraintResult[];
  unsupportedOps: UnsupportedOp[];
  sizeBytes: number | null;
  gzipBytes: number | null;
  arena: ArenaEstimate | null;
  params: number;
  macs: number;
  latency: {
    /** MACs / referenceMacsPerSecond: an estimate for the profile's device. */
    estimateMs: number;
    /** Measured median batch-1 latency of the exported file on this host (LiteRT / tfjs), when measured. */
    hostMs: number | null;
    hostRuntime: string | null;
  };
  notes: string[];
}

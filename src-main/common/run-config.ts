/**
 * What a run is asked to do, as the wizard, the CLI and stored history see it. Stored verbatim with
 * the run so it can be replayed. The `prune` part is checked field by field here by the shared
 * PruneConfigInputSchema; the engine (validatePruneConfig) adds what needs the model.
 */
import { z } from 'zod';
import { INPUT_SCALES, RESIZE_MODES } from './input-prep';
import { PruneConfigInputSchema } from './prune-config';
import type { CurvePoint } from './contract/records';

export const QUANT_MODES = ['none', 'float16', 'dynamic-int8', 'int8'] as const;
export const TFJS_QUANT_MODES = ['none', 'float16', 'uint8', 'uint16'] as const;
export const EXPORT_FORMATS = ['tflite', 'tfjs'] as const;

export const ExportRequestSchema = z.object({
  format: z.enum(EXPORT_FORMATS),
  /** tflite: none|float16|dynamic-int8|int8; tfjs: none|float16|uint8|uint16 (int8 maps to uint8). */
  quant: z.enum([...QUANT_MODES, 'uint8', 'uint16']).default('none'),
  /** Samples of the test split used for verification. */
  verifySamples: z.number().int().positive().max(100_000).default(1000),
  /**
   * tflite float32 and int8: weights stored CSR + DENSIFY 'auto' (default: when smaller), 'never',
   * 'always'. int8 sparse layers run on LiteRT's builtin kernels, not XNNPACK: smaller, slower.
   */
  sparse: z.enum(['auto', 'never', 'always']).optional(),
});
export type ExportRequest = z.infer<typeof ExportRequestSchema>;

export const RunConfigSchema = z.object({
  /** Model spec: `demo`, a tfjs folder or model.json, a .h5/.keras file, or `run:<id>` (derive). */
  model: z.string().min(1, 'model is required'),
  /**
   * Dataset spec: `demo`, `fashion-mnist`, `idx:DIR`, `npz:FILE`, `images:DIR`, `csv:FILE`
   * (`csv:FILE#target=age` names the target column; `#target=a,b` several regression targets).
   */
  data: z.string().min(1, 'data is required'),
  name: z.string().max(200).optional(),
  profile: z.string().optional(),
  parentRunId: z.string().optional(),
  /**
   * What the model predicts: `classification` (accuracy, cross-entropy) or `regression` (MAE / RMSE /
   * R², MSE or MAE loss: `prune.finetune.loss`). Absent: read from the model's output layer
   * (engine/task.ts inferTask); the run records what was used.
   */
  task: z.enum(['classification', 'regression']).optional(),
  /**
   * The prune config as asked (method, granularity, sparsity, scope, schedule, finetune...): every
   * field is checked here, defaults are filled in when the run starts (common/prune-config.ts).
   */
  prune: PruneConfigInputSchema.default({}),
  /** Per-layer sensitivity scan of the original model before pruning (accuracy vs sparsity). */
  sensitivity: z.boolean().default(true),
  /** Test samples used for before/after accuracy (all when absent). */
  evalLimit: z.number().int().positive().optional(),
  latencyRuns: z.number().int().positive().max(1000).default(20),
  /**
   * Time for each .tflite export's speedup receipt (its LiteRT latency vs the parent model's,
   * interleaved until the medians are stable), in ms; 0 skips receipts.
   */
  receiptBudgetMs: z.number().int().min(0).max(120_000).default(3000),
  /** Exports made and verified when the run ends. */
  exports: z.array(ExportRequestSchema).default([]),
  seed: z.number().int().default(42),
  /**
   * Range 8-bit inputs are mapped to (see common/input-prep.ts). `auto` is resolved against the
   * model when the run loads, and the run is recorded with the resolved value.
   */
  inputScale: z.enum(INPUT_SCALES).default('auto'),
  /** How image folders are fitted to the model's input height and width. */
  resize: z.enum(RESIZE_MODES).default('crop'),
});
export type RunConfig = z.infer<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;

/** Progress of a run, streamed to every front door. */
export interface RunProgress {
  runId: string;
  phase: 'load' | 'baseline' | 'sensitivity' | 'prune' | 'finetune' | 'final' | 'export' | 'verify' | 'done';
  /** Work done and total within the phase. */
  done: number;
  total: number;
  /** Overall fraction 0..1 across phases, and the estimate of seconds left. */
  fraction: number;
  etaSeconds: number | null;
  epoch?: number;
  loss?: number;
  accuracy?: number;
  valAccuracy?: number;
  sparsity?: number;
  /** Kernel sparsity per prunable layer, sent when a pruning step has been applied. */
  layerSparsity?: Record<string, number>;
  message?: string;
  /** The training-curve point recorded with this event (fine-tuning), as stored with the run. */
  curve?: CurvePoint;
}

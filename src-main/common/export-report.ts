/**
 * The report stored with every export (`report.json` in the bundle folder) and shown by the UI.
 * Plain JSON only: no Dates, no typed arrays, no NaN. `parseExportReport` validates untrusted input
 * (a report.json read back from disk, a payload from another process).
 */
import { z } from 'zod';
import { ConfigError } from './errors';

export const EXPORT_REPORT_VERSION = 1;

const finite = z.number();
const count = z.number().int().nonnegative();

/** A metric set such as `{accuracy: 0.91, params: 61706, nonZeros: 6170, latencyMs: 0.8}`; null = not measured. */
export const MetricSetSchema = z.record(z.string(), finite.nullable());

/** One per-layer row (a subset of the analyzer's LayerAnalysis, plus the pre-pruning counts). */
export const ExportLayerRowSchema = z.object({
  name: z.string(),
  className: z.string(),
  outputShape: z.array(z.number().int().nullable()).optional(),
  params: count,
  nonZeros: count,
  /** 1 - nonZeros / params; 0 for weightless layers. */
  sparsity: z.number().min(0).max(1),
  macs: count.optional(),
  paramsBefore: count.optional(),
  nonZerosBefore: count.optional(),
});

/** A metric over time, e.g. accuracy per fine-tune epoch or sparsity per pruning step. */
export const MetricSeriesSchema = z.object({
  name: z.string(),
  /** Label of the x axis, e.g. `epoch` or `step`. */
  x: z.string().default('step'),
  points: z.array(z.object({ x: finite, y: finite })),
});

/** What an independent runtime measured when it ran the exported artifact. */
export const VerificationSchema = z.object({
  /** e.g. `litert 2.5.3 (wasm)` or `tfjs 4.22.0 (cpu)`. */
  runtime: z.string(),
  /** Test samples compared. */
  samples: count,
  /** max |exported output - in-app output| over all samples and outputs. */
  maxAbsDiff: finite,
  /** Fraction of samples whose arg-max class agrees with the in-app model, in [0, 1]; null for a regressor. */
  top1Agreement: z.number().min(0).max(1).nullable(),
  /** The exported artifact's own accuracy on those samples, in [0, 1]; null without labels or for a regressor. */
  accuracy: z.number().min(0).max(1).nullable(),
  /** What the model predicts; absent in reports written before regression was known (= classification). */
  task: z.enum(['classification', 'regression']).optional(),
  /** mean |exported output - in-app output| over all samples and outputs. */
  meanAbsDiff: finite.optional(),
  /** Regression: the exported artifact's MAE against the targets, and the in-app model's (null without targets). */
  mae: finite.nullable().optional(),
  referenceMae: finite.nullable().optional(),
  /**
   * Regression: the scale the pass thresholds are relative to (the targets' standard deviation, or
   * the reference outputs' without targets), and the rule applied, in words.
   */
  scale: finite.optional(),
  rule: z.string().optional(),
  /** Mean latency of one sample in the runtime. */
  latencyMs: z.number().nonnegative().nullable(),
  passed: z.boolean(),
  /** Why it failed (or a note when it passed); null when there is nothing to say. */
  reason: z.string().nullable(),
});

export const ExportReportSchema = z.object({
  version: z.literal(EXPORT_REPORT_VERSION),
  /** ISO 8601 time the export was made. */
  createdAt: z.string(),
  app: z.object({ name: z.string(), version: z.string() }),
  tfjsVersion: z.string(),
  /** Compute backend the in-app model ran on (cpu, wasm, tensorflow, ...). */
  backend: z.string().optional(),
  source: z.object({
    /** What the user picked: `demo`, a path, or `run:<id>`. */
    spec: z.string(),
    runId: z.string().optional(),
    name: z.string().optional(),
    sha256: z.string().optional(),
  }),
  format: z.enum(['tflite', 'tfjs']),
  /** tflite: none|float16|dynamic-int8|int8; tfjs: none|float16|uint8|uint16. */
  quant: z.string(),
  /** The export options as given (shard size, calibration data, sparse encoding, ...). */
  config: z.record(z.string(), z.unknown()).default({}),
  /** Bytes of the model files (not the report): on disk and after gzip. */
  sizes: z.object({ rawBytes: count, gzipBytes: count, baselineRawBytes: count.optional() }),
  /** tfjs: the weight shards as a browser downloads them, each compressed on its own (gzip -9, brotli -q 11), and their sum. */
  download: z
    .object({
      rawBytes: count,
      gzipBytes: count,
      brotliBytes: count,
      files: z.array(z.object({ name: z.string(), rawBytes: count, gzipBytes: count, brotliBytes: count })),
    })
    .optional(),
  /** tflite: zeros in the file's weight filters, counted in the file (sparse tensors' left-out elements included). */
  weightZeros: z.object({ weights: count, zeros: count, implicitZeros: count, sparseTensors: count }).optional(),
  metrics: z.object({ before: MetricSetSchema, after: MetricSetSchema }),
  series: z.array(MetricSeriesSchema).default([]),
  layers: z.array(ExportLayerRowSchema).default([]),
  verification: VerificationSchema.nullable(),
  /** The bundle's model files with sizes and sha256, filled in by the bundle writer. */
  files: z.array(z.object({ name: z.string(), bytes: count, sha256: z.string() })).optional(),
});

export type MetricSet = z.infer<typeof MetricSetSchema>;
export type ExportLayerRow = z.infer<typeof ExportLayerRowSchema>;
export type MetricSeries = z.infer<typeof MetricSeriesSchema>;
export type Verification = z.infer<typeof VerificationSchema>;
/** The report as stored (all defaults filled in). */
export type ExportReport = z.infer<typeof ExportReportSchema>;
/** What a producer may hand in (defaulted fields optional). */
export type ExportReportInput = z.input<typeof ExportReportSchema>;

/**
 * Validates and normalizes a report; throws a ConfigError listing every problem with its JSON path
 * (`layers.2.sparsity: Too big: expected number to be <=1`).
 * @example const report = parseExportReport(JSON.parse(text));
 */
export function parseExportReport(value: unknown): ExportReport {
  const r = ExportReportSchema.safeParse(value);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new ConfigError(`invalid export report: ${problems.join('; ')}`);
}

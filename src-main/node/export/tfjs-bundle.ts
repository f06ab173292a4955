/**
 * One call for the services: export a LayersModel as a tfjs folder, verify it with stock tfjs on
 * test samples, and write the bundle (model.json + shards, report.json, report.html).
 */
import * as tf from '@tensorflow/tfjs';
import type { ExportReportInput, Verification } from '../../common/export-report';
import { EXPORT_REPORT_VERSION } from '../../common/export-report';
import { exportTfjs, sizeReport, tfjsFolderFiles, verifyTfjsExport, type TfjsQuant } from '../../engine/export/tfjs';
import { writeExportBundle, type WrittenBundle } from './bundle';

/** Report fields the caller knows (source, app, metrics, layers, series, config); the rest is filled in here. */
export type TfjsReportContext = Omit<ExportReportInput, 'version' | 'format' | 'quant' | 'sizes' | 'verification' | 'tfjsVersion' | 'files' | 'createdAt'> & {
  createdAt?: string;
};

export interface TfjsBundleOptions {
  quant: TfjsQuant;
  shardBytes?: number;
  overwrite?: boolean;
  /** Test samples (and class labels) to verify on; without them the report says "not verified". */
  verify?: { x: tf.Tensor; labels?: ArrayLike<number> };
  report: TfjsReportContext;
}

/**
 * Exports, verifies and writes a tfjs bundle at `dir`. A failed verification still writes the
 * bundle (the report shows FAILED and why); the caller decides what that means (CLI exit code 1).
 * @example const r = await exportTfjsBundle(model, '/out/lenet-tfjs-u8', { quant: 'uint8', verify: { x, labels }, report: ctx });
 */
export async function exportTfjsBundle(
  model: tf.LayersModel,
  dir: string,
  opts: TfjsBundleOptions,
): Promise<WrittenBundle & { verification: Verification | null }> {
  const out = await exportTfjs(model, { quant: opts.quant, shardBytes: opts.shardBytes });
  const files = tfjsFolderFiles(out);
  const sizes = sizeReport(files.map((f) => f.bytes));
  // The float32 export is the baseline a quantized size is compared with.
  const baselineRawBytes =
    opts.quant === 'none' ? sizes.rawBytes : sizeReport(tfjsFolderFiles(await exportTfjs(model, { quant: 'none', shardBytes: opts.shardBytes })).map((f) => f.bytes)).rawBytes;
  const verification = opts.verify ? await verifyTfjsExport(model, out, opts.verify.x, { labels: opts.verify.labels }) : null;
  const { createdAt, config, ...context } = opts.report;
  const report: ExportReportInput = {
    ...context,
    version: EXPORT_REPORT_VERSION,
    createdAt: createdAt ?? new Date().toISOString(),
    tfjsVersion: tf.version.tfjs,
    format: 'tfjs',
    quant: opts.quant,
    config: { shardBytes: opts.shardBytes ?? null, ...config },
    sizes: { ...sizes, baselineRawBytes },
    verification,
  };
  const written = await writeExportBundle(dir, { files, report }, { overwrite: opts.overwrite });
  return { ...written, verification };
}

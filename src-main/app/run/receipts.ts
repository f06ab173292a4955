/**
 * Speedup receipts: the parent (unpruned) model exported the same way as each .tflite export, and
 * both files timed interleaved in LiteRT, beside the MACs, params and file-size ratios, with a
 * verdict where they disagree (see engine/measure/receipt.ts).
 */
import fs from 'node:fs';
import type * as tf from '@tensorflow/tfjs';
import type { ExportRequest } from '../../common/run-config';
import type { TfliteQuant } from '../../engine/export/tflite';
import { checkSparseEligibility } from '../../engine/export/tflite/sparse-check';
import { speedVerdict, type ModelCost, type SpeedReceipt } from '../../engine/measure/receipt';
import { timeTfliteFiles } from '../../node/verify/litert-latency';
import { exportTfliteFor } from '../export-service';
import type { RunContext } from './context';

/** The parent model's .tflite bytes for every tflite export the run will make, by quant. */
export function parentTflites(model: tf.LayersModel, requests: readonly ExportRequest[], dataset: Parameters<typeof exportTfliteFor>[2], log: RunContext['log']): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const req of requests) {
    if (req.format !== 'tflite' || out.has(req.quant)) continue;
    try {
      out.set(req.quant, exportTfliteFor(model, req.quant as TfliteQuant, dataset, req.sparse).bytes);
    } catch (err) {
      // The pruned model's export will fail the same way and say so; the receipt is just skipped.
      log('warn', `no speedup receipt for tflite ${req.quant}: the parent model did not export (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return out;
}

/** One receipt per verified .tflite export whose parent exported too, in export order. */
export async function receiptsPhase(
  ctx: RunContext,
  artifacts: readonly { format: string; quant: string; status: string; path: string }[],
  parentFiles: ReadonlyMap<string, Uint8Array>,
  o: { parent: ModelCost; pruned: ModelCost; granularity: string; keptWidths: number[] },
): Promise<SpeedReceipt[]> {
  const receipts: SpeedReceipt[] = [];
  for (const artifact of artifacts) {
    const parentBytes = parentFiles.get(artifact.quant);
    if (artifact.format !== 'tflite' || !parentBytes) continue;
    if (artifact.status !== 'ok') {
      ctx.log('warn', `no speedup receipt for tflite ${artifact.quant}: its verification failed`);
      continue;
    }
    // done = total: the verify phase already reached its end with the last export's verification.
    ctx.progress({ phase: 'verify', done: 1, total: 1, message: `speedup receipt: tflite ${artifact.quant}` }, true);
    const receipt = await speedReceipt(parentBytes, fs.readFileSync(artifact.path), artifact.quant, { ...o, budgetMs: ctx.config.receiptBudgetMs, signal: ctx.signal });
    receipts.push(receipt);
    ctx.log('info', `speedup receipt (tflite ${artifact.quant}): ${receipt.verdict}`);
    ctx.checkCancel();
  }
  return receipts;
}

/** Times the parent's and the pruned model's files interleaved in LiteRT and writes the receipt. */
async function speedReceipt(
  parentBytes: Uint8Array,
  prunedBytes: Uint8Array,
  quant: string,
  o: { parent: ModelCost; pruned: ModelCost; granularity: string; keptWidths: number[]; budgetMs: number; signal?: AbortSignal },
): Promise<SpeedReceipt> {
  const t = await timeTfliteFiles([parentBytes, prunedBytes], { budgetMs: o.budgetMs, signal: o.signal });
  const [pt, ct] = t.timings;
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
  const ratios = {
    latency: ratio(ct.medianMs, pt.medianMs),
    macs: ratio(o.pruned.macs, o.parent.macs),
    nonZeroMacs: ratio(o.pruned.nonZeroMacs, o.parent.nonZeroMacs),
    params: ratio(o.pruned.params, o.parent.params),
    nonZeros: ratio(o.pruned.nonZeros, o.parent.nonZeros),
    bytes: ratio(prunedBytes.length, parentBytes.length),
  };
  const unstable = pt.unstable || ct.unstable;
  const check = checkSparseEligibility(prunedBytes);
  const failed = check.rules.filter((r) => !r.passed).map((r) => ({ id: r.id, detail: r.detail, ...(r.fix ? { fix: r.fix } : {}) }));
  const sparseFailures = failed.map((r) => r.detail);
  const { agrees, verdict } = speedVerdict({ ratios, granularity: o.granularity, keptWidths: o.keptWidths, parentMs: pt.medianMs, unstable, sparseFailures });
  return {
    format: 'tflite',
    quant,
    runtime: t.runtime,
    batch: 1,
    threads: t.threads,
    xnnpack: t.xnnpack,
    xnnpackOffNote: t.xnnpackOffNote,
    parent: { ...o.parent, bytes: parentBytes.length, latency: pt },
    pruned: { ...o.pruned, bytes: prunedBytes.length, latency: ct },
    ratios,
    unstable,
    agrees,
    verdict,
    loadAverage: t.loadAverage,
    sparseInference: { eligible: check.eligible, failed },
  };
}

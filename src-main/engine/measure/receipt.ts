/**
 * Speedup receipts: the measured latency of an exported file next to the MACs and parameter
 * ratios the pruning promised, both against the parent (dense) model exported and timed the same
 * way in the same run, with a verdict when they disagree and the likely cause. Pure: the timing
 * itself is done by the caller (node/verify/litert-latency.ts for .tflite files).
 */
import type { ModelAnalysis } from '../analyze';
import type { ModelCost, SpeedReceipt } from '../../common/contract/receipts';

export type { ModelCost, ReceiptSide, SpeedReceipt } from '../../common/contract/receipts';




/** Params, non-zeros, dense and non-zero MACs of an analysed model. */
export function modelCost(a: ModelAnalysis): ModelCost {
  let nonZeroMacs = 0;
  for (const l of a.layers) nonZeroMacs += l.macs * (1 - (l.kernelSparsity ?? 0));
  return { params: a.params, nonZeros: a.nonZeros, macs: a.macs, nonZeroMacs };
}

/** `-50%`, `+3%`, `±0%` for a ratio (0.5, 1.03, 1). */
export function percentChange(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  const p = Math.round((ratio - 1) * 100);
  return p === 0 ? '±0%' : `${p > 0 ? '+' : ''}${p}%`;
}

export interface VerdictInput {
  ratios: SpeedReceipt['ratios'];
  /** How the model was pruned (`unstructured`, `nm`, `structured`). */
  granularity: string;
  /** Output widths of the pruned model's Conv2D/Dense layers (the structured case). */
  keptWidths?: number[];
  /** Parent latency in ms: a very small model is dominated by fixed per-call cost. */
  parentMs: number;
  unstable: boolean;
  /** The sparse-eligibility check's failed rules, when it ran (see engine/export/tflite/sparse-check.ts). */
  sparseFailures?: string[];
}

/** Below this per-call latency the runtime's fixed cost (tensor copies, op dispatch) is a large share. */
const SMALL_MODEL_MS = 0.5;

/**
 * Says whether latency followed the MACs, and if not, the likely cause. "Agrees" means the file
 * saved at least half the fraction of time that pruning removed from the MACs it can skip
 * (non-zero MACs for sparse pruning, dense MACs for structured).
 * @example speedVerdict({ ratios: { latency: 0.97, macs: 0.5, nonZeroMacs: 0.5, ... }, granularity: 'structured', ... }).verdict
 *   // 'MACs -50%, latency -3%: ...'
 */
export function speedVerdict(v: VerdictInput): { agrees: boolean; verdict: string } {
  const sparse = v.granularity !== 'structured';
  const macsRatio = sparse ? v.ratios.nonZeroMacs : v.ratios.macs;
  const label = sparse ? 'non-zero MACs' : 'MACs';
  const head = `${label} ${percentChange(macsRatio)}, latency ${percentChange(v.ratios.latency)}`;
  const tail = v.unstable ? ' (timing unstable on this machine: its CI missed the target; rerun when the machine is quieter)' : '';
  const saved = 1 - macsRatio;
  const gained = 1 - v.ratios.latency;
  if (saved < 0.1) {
    if (gained < -0.1) return { agrees: false, verdict: `${head}: the file is slower with about the same work; compare the op lists (an extra DENSIFY or QUANTIZE costs time)${tail}` };
    return { agrees: true, verdict: `${head}: little work was removed, latency is about the same${tail}` };
  }
  if (gained >= saved / 2) return { agrees: true, verdict: `${head}: latency follows the MACs${tail}` };
  let cause: string;
  if (sparse && v.ratios.macs > 0.9) {
    cause = 'the runtime does not use unstructured sparsity: XNNPACK multiplies the zeros like any other weight';
    if (v.sparseFailures?.length) cause += `; its sparse path is off for this file (${v.sparseFailures.slice(0, 2).join('; ')})`;
    else if (v.sparseFailures) cause = 'the file meets XNNPACK\'s sparse-inference rules, yet latency did not follow: the runtime build may not enable sparse inference, or the 1x1 convolutions are a small share of the time';
    else cause += ' (its sparse path covers only 1x1 convolutions in NCHW-compatible graphs, stored sparse)';
    if (v.sparseFailures?.length !== 0) cause += '; structured pruning removes work any runtime skips';
  } else if (v.parentMs < SMALL_MODEL_MS) {
    cause = `the model is so small (${v.parentMs.toFixed(3)} ms a call) that the runtime's fixed per-call cost (tensor copies, op dispatch) dominates`;
  } else {
    const odd = (v.keptWidths ?? []).filter((w) => w % 4 !== 0);
    cause = odd.length
      ? `kept widths ${[...new Set(odd)].slice(0, 4).join(', ')} are not multiples of the SIMD width (4-16 lanes), so kernels run partly-filled tails; try --round-to 8`
      : 'the removed MACs were not in the layers that bound latency (memory-bound layers, pooling, activations) or the runtime pads channels back up';
  }
  return { agrees: false, verdict: `${head}: ${cause}${tail}` };
}

/**
 * Speedup receipts as runs record them (summary.receipts): the measured latency of an exported file
 * beside the MACs and parameter ratios, against the parent model timed the same way in the same run.
 * Built by engine/measure/receipt.ts; read by the CLI, the run detail and `runs show --json`.
 */

export interface StableTiming {
  medianMs: number;
  /** Interquartile range (p75 - p25), in ms. */
  iqrMs: number;
  /** Median absolute deviation from the median, in ms. */
  madMs: number;
  p25Ms: number;
  p75Ms: number;
  minMs: number;
  runs: number;
  /** Half-width of the distribution-free 95% CI of the median, as a fraction of the median. */
  ciRel: number;
  /** True when the budget ran out before ciRel reached the target. */
  unstable: boolean;
}

/**
 * One latency figure of a run, with what was timed: the in-app tfjs model, or the exported file in
 * LiteRT. Timed by warming up, then repeating until the median's CI is within the target
 * (engine/measure/stable.ts); `unstable` when the budget ran out first.
 */
export interface LatencyFigure extends StableTiming {
  /** In words, for people: `in-app tfjs model, batch 1`, `exported .tflite (int8) in LiteRT, batch 1`. */
  measured: string;
  batch: number;
  /** What ran the calls: `tfjs`, the fused native forward's label, or the LiteRT runtime. */
  runtime: string;
}

/** A run's latency before and after pruning (summary.latency). */
export interface RunLatency {
  /** The model in the app (tfjs), measured at the start and at the end of the run. */
  inApp: { before: LatencyFigure; after: LatencyFigure };
  /** The same at batch 64 (throughput), with a smaller budget: large models take a second a call. */
  inAppBatch?: { before: LatencyFigure; after: LatencyFigure };
  /**
   * The exported file in LiteRT, parent vs pruned timed interleaved (the first speedup receipt):
   * the device-relevant number. Null when the run made no .tflite receipt.
   */
  exported: { quant: string; before: LatencyFigure; after: LatencyFigure } | null;
}

/** What a model costs on paper. */
export interface ModelCost {
  params: number;
  nonZeros: number;
  /** Dense multiply-accumulates per sample (what a runtime that ignores zeros executes). */
  macs: number;
  /** MACs with each layer's share scaled by its kernels' non-zero fraction (what sparse kernels could execute). */
  nonZeroMacs: number;
}

export interface ReceiptSide extends ModelCost {
  /** Size of the exported file in bytes. */
  bytes: number;
  latency: StableTiming;
}

export interface SpeedReceipt {
  format: 'tflite';
  quant: string;
  /** e.g. `litert 2.5.3 (wasm, XNNPACK)`. */
  runtime: string;
  batch: 1;
  threads: number;
  /** XNNPACK state of the timed runs. */
  xnnpack: 'on' | 'off';
  /** Why no XNNPACK-off timing exists, when it does not. */
  xnnpackOffNote: string | null;
  parent: ReceiptSide;
  pruned: ReceiptSide;
  /** pruned / parent. */
  ratios: { latency: number; macs: number; nonZeroMacs: number; params: number; nonZeros: number; bytes: number };
  /** Either timing missed its CI target within the budget. */
  unstable: boolean;
  /** False when latency fell much less than the MACs did (or rose). */
  agrees: boolean;
  verdict: string;
  /** 1-minute load average of the machine while timing (null where unknown). */
  loadAverage: number | null;
  /** XNNPACK's sparse-inference rules checked on the pruned file (engine/export/tflite/sparse-check.ts). */
  sparseInference?: { eligible: boolean; failed: { id: string; detail: string; fix?: string }[] };
}

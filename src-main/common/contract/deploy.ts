/**
 * What a run's deployed artifact says: the size of the file the run's profile ships (its headline
 * size), the fit verdict of each exported file against the profile's budgets, and the per-layer
 * structure before and after pruning (width, params, MACs). Computed by the app (the run pipeline
 * stores the verdict in the run's summary JSON; the history service adds the rest when it reads a
 * run); the renderer and the CLI only display these.
 */
import type { FitReport } from '../profiles';

/** The size a run is judged by: its shipped file's, or the in-memory float32 size when nothing shipped. */
export interface ShippedSize {
  /** Headline bytes: the shipped file's length, else `inMemoryBytes`; null when neither is known. */
  bytes: number | null;
  /** `export`: an exported file's length; `in-memory`: float32 weights + topology (no export). */
  source: 'export' | 'in-memory';
  /** The shipped file's format and quantization (`tflite` / `int8`); null for in-memory. */
  format: string | null;
  quant: string | null;
  /** The pruned model's in-memory float32 size (weights + topology), second to the file's. */
  inMemoryBytes: number | null;
  /** Short label for the headline, e.g. `int8 .tflite` or `in-memory float32 (no export)`. */
  label: string;
  /** Why this file: which profile ships what, or that the run made no export. */
  reason: string;
}

/** One exported (or, without an export, freshly exported) file judged against the run's profile. */
export interface FileFitVerdict {
  format: 'tflite' | 'tfjs';
  quant: string;
  /** True: judged from the run's artifact on disk; false: a fresh export made only for the check. */
  exported: boolean;
  /** Artifact path when exported. */
  path: string | null;
  /** Whether this is the file the profile ships (the headline size's file). */
  shipped: boolean;
  report: FitReport;
  /** What to change to make it fit (or, when it fits, where the tightest margin is). */
  advice: string[];
}

/** A run's "does it fit my device?" verdict, stored in its summary as `fit`. */
export interface RunFitVerdict {
  profileId: string;
  profileName: string;
  /** The shipped file's verdict (false when no file could be judged). */
  fits: boolean;
  files: FileFitVerdict[];
  notes: string[];
}

/** A layer before and after pruning: output width (units / filters / channels), params, MACs. */
export interface LayerStructureRow {
  layer: string;
  className: string;
  /** `units` (Dense, RNNs), `filters` (convolutions), `channels` (others); null without a width. */
  unit: 'units' | 'filters' | 'channels' | null;
  widthBefore: number | null;
  widthAfter: number | null;
  paramsBefore: number | null;
  paramsAfter: number | null;
  macsBefore: number | null;
  macsAfter: number | null;
  nonZerosAfter: number | null;
  /** Kernel sparsity after pruning (zeros within the kept weights). */
  sparsityAfter: number | null;
  /** Weights kept: nonZerosAfter / paramsBefore (structured removal and zeros both count); null without params. */
  keptFraction: number | null;
  /** The layer is gone after pruning. */
  removed: boolean;
}

/** Per-layer output widths recorded by the run pipeline in the summary (`summary.widths`). */
export type LayerWidths = Record<string, { before: number | null; after: number | null }>;

/**
 * What the run history returns: comparisons, Pareto frontiers, exports, bundle import/export and
 * deletion reports (built by src-main/app/history/).
 */
import type { CurvePoint, Json, JsonObject, MetricPoint, RunDetail, RunFilter, RunHead, RunStatus, RunSummary } from './records';

/** One config key whose value differs between the compared runs. */
export interface ConfigDiffRow {
  /** Dotted path, e.g. `schedule.epochs`. */
  key: string;
  /** One value per run (null where the run lacks the key; see `missing`). */
  values: (Json | null)[];
  /** Indexes of runs that do not have this key at all. */
  missing: number[];
}

export interface MetricComparisonRow {
  name: string;
  values: (number | null)[];
  /** value - baseline value; null where either is missing. The baseline's own delta is 0. */
  deltas: (number | null)[];
  /** deltas / |baseline|; null where the baseline is 0 or missing. */
  relative: (number | null)[];
}

export interface SeriesOverlay {
  phase: string;
  name: string;
  runs: { runId: string; points: MetricPoint[] }[];
}

export interface LayerComparisonRow {
  layer: string;
  className: string;
  /** `after` sparsity per run; null where the run has no such layer. */
  sparsity: (number | null)[];
  nonZeros: (number | null)[];
}

export interface RunComparison {
  runs: RunHead[];
  /**
   * Index into `runs` of the baseline that deltas are measured against: the one asked for, else the
   * first finished (`done`) run, else the first.
   */
  baseline: number;
  /** Indexes into `runs` of runs that did not finish (failed, interrupted...): shown, labelled, never the default baseline. */
  unfinished: number[];
  config: ConfigDiffRow[];
  /** How many config keys are identical in every run (hidden from `config`). */
  identicalConfigKeys: number;
  metrics: MetricComparisonRow[];
  series: SeriesOverlay[];
  layers: LayerComparisonRow[];
  /** Each run's training curves, in the order of `runs`. */
  curves: { runId: string; points: CurvePoint[] }[];
}

export interface ParetoObjective {
  /** A final metric name (`accuracy`, `sizeBytes`, `latencyMs`...). */
  metric: string;
  direction: 'max' | 'min';
}

export interface ParetoPoint {
  runId: string;
  values: number[];
}

export interface ParetoResult {
  objectives: ParetoObjective[];
  /** Non-dominated runs, best first by the first objective. */
  frontier: (ParetoPoint & { run: RunHead })[];
  /** Runs that had every objective. */
  considered: number;
  /** Runs matching the filter that were not considered: unfinished ones, and finished ones lacking (or NaN for) an objective. */
  skipped: number;
  /**
   * Runs matching the filter left out because they did not finish, by status: only `done` runs are
   * results (a run killed in epoch 2 has partial metrics, not a result).
   */
  unfinished: { status: RunStatus; runs: number }[];
  /** Every considered point, when asked for (for scatter plots), with the run's name to label it. */
  points?: (ParetoPoint & { onFrontier: boolean; name?: string | null })[];
}

export interface ExportedRun extends RunHead {
  config: JsonObject;
  versions: JsonObject;
  summary: RunSummary | null;
  /** Metric histories: one entry per phase/name, points as [step, epoch, value, timeMs]. */
  metrics: { phase: string; name: string; points: [number, number | null, number | null, number][] }[];
}

export interface RunsExport {
  format: 'topiary-runs';
  version: 1;
  exportedAt: string;
  filter: RunFilter;
  runs: ExportedRun[];
}

/** The bundle file: runs with everything needed to recreate them elsewhere. */
export interface RunBundle {
  format: 'topiary-run-bundle';
  version: 1;
  exportedAt: string;
  host: string;
  runs: { run: RunDetail; artifactFiles: (string | null)[] }[];
}

export interface BundleExportResult {
  /** The bundle JSON written (`<dir>/bundle.json`, or the .json file given). */
  file: string;
  runs: string[];
  artifactsCopied: number;
  /** Artifact paths that were not on disk (their rows travel, their files do not). */
  artifactsMissing: string[];
}

export interface BundleImportResult {
  imported: string[];
  /** Runs already in this history (same UUID). */
  skipped: string[];
  artifactsCopied: number;
}

export interface DeleteResult {
  runId: string;
  artifactsDeleted: string[];
  /** Artifact files left on disk (deletion not asked for, or already gone). */
  artifactsKept: string[];
  /**
   * Artifact paths that deletion was asked for but refused: they do not lie inside this run's own
   * folder (`<runsDir>/<runId>/`, symlinks followed), so they are not Topiary's to remove.
   */
  artifactsRefused: { path: string; reason: string }[];
}

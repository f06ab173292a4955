/**
 * Run records: the plain, JSON-serializable shapes the experiment store reads and writes, and that
 * `listRuns`, `getRun` and the history commands return. Nothing here imports anything but types, so they cross
 * worker and IPC boundaries unchanged (src-main/store/types.ts re-exports them for the store).
 */
import type { LayerStructureRow, RunFitVerdict, ShippedSize } from './deploy';

/** Any JSON value stored in a TEXT column (configs, versions, plans, verification results). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const RUN_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses a run never leaves once reached (finishedAt is set when entering one). */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['done', 'failed', 'cancelled', 'interrupted'];

export type LayerPhase = 'before' | 'after';
export type ArtifactStatus = 'ok' | 'failed' | 'unverified';

// ---------------------------------------------------------------------------------------------
// Inputs (writer)

export interface ModelInput {
  /** Where it came from: `demo`, a folder, a .h5 path. */
  source: string;
  /** sha256 of the model's content; the identity used to deduplicate and to merge bundles. */
  sha256: string;
  /** e.g. `tfjs-layers`, `keras-h5`, `keras-v3`. */
  format: string;
  /** Total parameter count. */
  params: number;
  name?: string;
  bytes?: number;
  /** Anything else worth keeping (input shape, layer count...). */
  meta?: JsonObject;
}

export interface DatasetInput {
  /** `demo`, `fashion-mnist`, `idx:DIR`, ... */
  source: string;
  /** Content hash when known; datasets without one are identified by their source string. */
  sha256?: string | null;
  sampleShape: number[];
  classNames: string[];
  trainSize: number;
  testSize: number;
}

export interface ProfileInput {
  id: string;
  name?: string;
  /** The profile's JSON definition, when the caller has it. */
  definition?: JsonObject | null;
}

/** Identity of the process that owns a running run, so a later start can tell whether it died. */
export interface ProcessOwner {
  pid: number;
  host: string;
  /** Distinguishes this process from a later one that reuses its pid (boot id + start time on Linux). */
  startToken: string | null;
}

export interface RunInput {
  /** Validated run config; stored verbatim. */
  config: JsonObject;
  modelId: string;
  datasetId?: string | null;
  profileId?: string | null;
  parentRunId?: string | null;
  /** Compute backend name (`tensorflow`, `wasm`, `cpu`...). */
  backend: string;
  /** App and library versions, e.g. `{ app: '0.1.0', tfjs: '4.22.0', node: '20.19.0' }`. */
  versions: JsonObject;
  /** What the run does: `prune`, `finetune`, `export`, `fit`, `evaluate`... */
  kind: string;
  /** The method within that kind (`magnitude`, `taylor`...); null when not applicable. */
  method?: string | null;
  /** Default `running` (startedAt = now); `queued` leaves startedAt empty until it runs. */
  status?: 'queued' | 'running';
  name?: string | null;
  /** Supply a fixed id (bundles, tests); default crypto.randomUUID(). */
  id?: string;
  /** Default: the current process. */
  owner?: ProcessOwner;
}

export interface MetricInput {
  step: number;
  epoch?: number | null;
  /** `baseline`, `train`, `val`, `test`, `final`... */
  phase: string;
  name: string;
  /** NaN is kept (a diverged loss is worth recording); it reads back as NaN. */
  value: number;
  /** ms since epoch; default now. */
  time?: number;
}

export interface LayerResultInput {
  layer: string;
  className: string;
  params: number;
  nonZeros: number;
  macs: number;
  sparsity: number;
  sensitivity?: Json;
  phase: LayerPhase;
}

export interface ArtifactInput {
  path: string;
  /** `tflite`, `tfjs`... */
  format: string;
  /** `none`, `float16`, `dynamic-int8`, `int8`. */
  quant: string;
  bytes: number;
  sha256: string;
  verification: Json | null;
  status: ArtifactStatus;
  reason?: string | null;
}

/**
 * What a run ended with. `before`/`after` hold flat numeric metrics (accuracy, sizeBytes,
 * latencyMs, params, macs...); `after` values become the run's final metrics used by filters,
 * compare and Pareto. Other keys are kept as-is.
 */
export interface RunSummary {
  before?: Record<string, number>;
  after?: Record<string, number>;
  [key: string]: Json | Record<string, number> | undefined;
}

// ---------------------------------------------------------------------------------------------
// Records (reader)

export interface ModelRecord {
  id: string;
  source: string;
  sha256: string;
  format: string;
  params: number;
  name: string | null;
  bytes: number | null;
  meta: JsonObject | null;
  createdAt: string;
}

export interface DatasetRecord {
  id: string;
  source: string;
  sha256: string | null;
  sampleShape: number[];
  classNames: string[];
  trainSize: number;
  testSize: number;
  createdAt: string;
}

export interface ProfileRecord {
  id: string;
  name: string;
  definition: JsonObject | null;
  updatedAt: string;
}

/** One row of a run list: everything needed for a table, without the heavy parts. */
export interface RunHead {
  id: string;
  name: string | null;
  kind: string;
  method: string | null;
  status: RunStatus;
  error: string | null;
  modelId: string;
  modelSource: string;
  modelName: string | null;
  datasetId: string | null;
  datasetSource: string | null;
  profileId: string | null;
  parentRunId: string | null;
  backend: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** finishedAt - startedAt, or null while unfinished. */
  durationMs: number | null;
  tags: string[];
  note: string | null;
  /** Final metrics (summary.after, else the last point of each series). */
  final: Record<string, number>;
  /** The size of the file the run ships (history list and show add it; the store does not). */
  shipped?: ShippedSize;
}

export interface MetricPoint {
  step: number;
  epoch: number | null;
  value: number;
  time: number;
}

export interface MetricSeries {
  phase: string;
  name: string;
  points: MetricPoint[];
}

/**
 * One point of a run's training curves, taken every few optimizer steps during fine-tuning (see
 * src-main/app/curve-sampler.ts), so a run has a few hundred points at most whatever its length.
 */
export interface CurvePoint {
  /** Optimizer step, 1-based, counted across epochs. */
  step: number;
  /** Fractional epoch: 0.5 is half way through the first epoch, 1 its end. */
  epoch: number;
  /** Milliseconds since the run started. */
  wallMs: number;
  /**
   * Values by name: `loss` and `accuracy` (`r2` for a regressor) averaged over the steps since the
   * previous point, `sparsity` and `lr` as they were at the point; `valLoss` and `valAccuracy` at
   * an epoch's end when the run holds data out. Values that are not finite numbers are left out.
   */
  values: Record<string, number>;
}

export interface LayerResultRecord extends Omit<LayerResultInput, 'sensitivity'> {
  sensitivity: Json | null;
}

export interface ArtifactRecord extends ArtifactInput {
  id: string;
  runId: string;
  reason: string | null;
  createdAt: string;
}

/** Everything about one run. */
export interface RunDetail extends RunHead {
  config: JsonObject;
  versions: JsonObject;
  summary: RunSummary | null;
  plan: Json | null;
  owner: ProcessOwner | null;
  /** Where an imported run came from. */
  origin: JsonObject | null;
  updatedAt: string;
  model: ModelRecord;
  dataset: DatasetRecord | null;
  profile: ProfileRecord | null;
  childRunIds: string[];
  metrics: MetricSeries[];
  layers: LayerResultRecord[];
  artifacts: ArtifactRecord[];
  /** The fit verdict of the run's exported files against its profile (summary.fit; history show adds it). */
  fit?: RunFitVerdict | null;
  /** Per-layer width, params and MACs before -> after (history show adds it). */
  structure?: LayerStructureRow[];
  /** Training curves, in step order (empty for runs recorded before curves were kept). */
  curves: CurvePoint[];
}

// ---------------------------------------------------------------------------------------------
// Queries

export type ComparisonOp = '>=' | '<=' | '>' | '<' | '=';

export interface MetricThreshold {
  /** A final metric name, e.g. `accuracy`. */
  name: string;
  op: ComparisonOp;
  value: number;
}

/** A timestamp: Date, ms since epoch, or an ISO-8601 string. */
export type TimeInput = Date | number | string;

export interface RunFilter {
  /** Model id, or a substring of its source or name. */
  model?: string;
  /** Dataset id, or a substring of its source. */
  dataset?: string;
  profile?: string;
  kind?: string;
  method?: string;
  status?: RunStatus | RunStatus[];
  /** Runs carrying every one of these tags. */
  tag?: string | string[];
  /** createdAt >= since. */
  since?: TimeInput;
  /** createdAt < until. */
  until?: TimeInput;
  metrics?: MetricThreshold[];
  /** Only these run ids (used by export and compare). */
  ids?: string[];
  /**
   * Free text: every word (or "quoted phrase") must appear, in any case, in the run's name, tags,
   * note, model, dataset, method, kind or profile.
   */
  text?: string;
}

/** Sort keys: a column, or `metric:NAME` for a final metric (runs without it sort last). */
export type RunSortKey = 'created' | 'started' | 'finished' | 'duration' | 'status' | 'method' | 'kind' | 'name' | 'profile' | `metric:${string}`;

export interface RunQuery extends RunFilter {
  sort?: RunSortKey;
  direction?: 'asc' | 'desc';
  /** Page size, default 50, at most 1000. */
  limit?: number;
  offset?: number;
}

export interface RunPage {
  total: number;
  offset: number;
  limit: number;
  items: RunHead[];
}

/**
 * What each command returns. Results are plain TypeScript types, not zod schemas: the services that
 * build them are typed against these, so the compiler already proves every front door gets this
 * shape, and nothing parses a reply (a schema would run on no input, or re-check large trusted
 * objects such as a model analysis on every call). Zod is kept for what crosses a trust boundary:
 * command payloads (commands.ts), and files read back from disk (run bundles, profiles).
 */
import type { ConstraintName, FitReport, NumericType, Profile, ProfileClass, ProfileRuntime } from '../profiles';
import type { InputScale, ResizeMode } from '../input-prep';
import type { ArtifactInput, RunDetail, RunPage } from './records';
import type { DeleteResult, ParetoResult, RunComparison } from './history';
import type { SettingsView } from './settings';

// ---------------------------------------------------------------------------------------------
// getInfo

export interface NativeStatus {
  /** Whether the addon loaded (and, for the wasm backend, now runs its products and convolutions). */
  loaded: boolean;
  /** The .node file tried. */
  path: string;
  /** Instruction set its kernels dispatched to (avx512f+fma, avx2+fma, generic, neon) and its thread count. */
  isa?: string;
  threads?: number;
  /** Why it is not in use. */
  reason?: string;
}

export const BACKEND_NAMES = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

export type BackendChoice = (typeof BACKEND_NAMES)[number];

export interface BackendInfo {
  /** Topiary's name for it: tensorflow-gpu, tensorflow, wasm or cpu. */
  name: BackendChoice;
  /** tfjs's registered backend name (tfjs-node-gpu registers as "tensorflow" too). */
  tfjsName: string;
  /** npm package that provides it and its version. */
  package: string;
  version: string;
  tfjsVersion: string;
  /** Compute threads (wasm: XNNPACK's thread pool size; 1 unless wasm threads were enabled). */
  threads?: number;
  simd?: boolean;
  /** Topiary's native addon (wasm backend only): loaded and in use, or why not. */
  native?: NativeStatus;
  /** Things worth knowing about this choice (e.g. why wasm threads were not enabled). */
  notes?: string[];
  /** Why the backends before it were skipped. */
  skipped: { name: BackendChoice; reason: string }[];
}

export interface AppInfo {
  app: { name: string; version: string };
  node: string;
  platform: string;
  tfjs: string;
  backend: Omit<BackendInfo, 'skipped'> & { skipped: BackendInfo['skipped'] };
  dataDir: string;
  database: string;
  resources: string;
  /**
   * Which path runs a fine-tuning step: the native graph step (one call per batch, native/train.c)
   * for models made only of these layer classes (from the table fusedSpecOf reads), else tfjs.
   */
  training: { nativeGraphStep: { available: boolean; layers: string[] }; tfjsStep: string };
  /**
   * The GPU, as this process sees it: used (tfjs-node-gpu's CUDA) or not, and why; `requested` when
   * TOPIARY_BACKEND names a browser GPU backend (webgl, webgpu), which only a window can run.
   */
  gpu?: { used: boolean; detail: string; requested?: 'webgl' | 'webgpu' };
  /** The settings file and the training backend it, or TOPIARY_BACKEND, chooses (and which decided). */
  settings?: SettingsView;
}

// ---------------------------------------------------------------------------------------------
// describeModel

/** What a model predicts. */
export type Task = 'classification' | 'regression';

export interface WeightAnalysis {
  /** tfjs originalName, e.g. `fc1/kernel`. */
  name: string;
  shape: number[];
  params: number;
  nonZeros: number;
  trainable: boolean;
}

export interface LayerAnalysis {
  index: number;
  name: string;
  className: string;
  /** Output shape with the batch dimension as null (first output for multi-output layers). */
  outputShape: (number | null)[];
  /** Names of the layers feeding this one (the model input is `input` for sequential models). */
  inbound: string[];
  params: number;
  trainableParams: number;
  nonTrainableParams: number;
  /** Weights (all of the layer's, bias and BN statistics included) that are not exactly 0. */
  nonZeros: number;
  /** 1 - nonZeros / params; 0 for layers without weights. */
  sparsity: number;
  /**
   * Sparsity of the prunable weights only (kernels, depthwise/pointwise/recurrent kernels,
   * embeddings), which is what pruning targets; biases and BN statistics are left out. 0 if none.
   */
  kernelSparsity: number;
  /** Multiply-accumulates per sample (see macs.ts for what is counted). */
  macs: number;
  /** float32 bytes of this layer's output(s) for one sample. */
  activationBytes: number;
  weights: WeightAnalysis[];
  /** Where the layer sat in the original file's nesting, e.g. `sequential_1/model/Conv1`; absent for top-level layers. */
  source?: string;
}

export interface ModelAnalysis {
  name: string;
  className: string;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  layers: LayerAnalysis[];
  params: number;
  trainableParams: number;
  nonTrainableParams: number;
  nonZeros: number;
  /** 1 - nonZeros / params over all weights. */
  sparsity: number;
  macs: number;
  /** Sum of all layers' activationBytes (what a runtime that keeps every output would hold). */
  activationBytes: number;
  /** 4 * params: every weight as float32. */
  weightBytes: number;
  /** UTF-8 bytes of JSON.stringify of the Keras topology (`model.toJSON(null, false)`). */
  topologyBytes: number;
  /** weightBytes + topologyBytes: a tfjs folder's size minus model.json's manifest and header keys. */
  sizeBytes: number;
  /** Size of the float32 weights (in model.weights order) after gzip level 6, via fflate. */
  gzipBytes: number;
  /** Estimated peak bytes of live activations for one sample (see analyzeModel). */
  peakActivationBytes: number;
  /** Things the numbers could not account for, e.g. unknown (null) dimensions counted as 1. */
  notes: string[];
}

/** The file formats a model is opened from. */
export type ModelFileFormat = 'tfjs' | 'keras-h5' | 'keras-v3';

export interface ModelDescription {
  source: string;
  format: ModelFileFormat;
  sha256: string;
  files: string[];
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  /** Flat layer name -> path in the file's nesting, when the file held nested models (see LoadedModel.nesting). */
  nesting?: Record<string, string>;
  /** What loading changed that the user should know (e.g. which of several outputs is used). */
  warnings?: string[];
  analysis: ModelAnalysis;
  /** What the output layer says the model predicts (engine/task.ts inferTask); null when it cannot tell, with why. */
  task: Task | null;
  taskNote?: string;
}

// ---------------------------------------------------------------------------------------------
// describeDataset, previewDataset

export interface DatasetSummary {
  name: string;
  source: string;
  classNames: string[];
  sampleShape: number[];
  trainSize: number;
  testSize: number;
  /** Samples per class in the train split, indexed like classNames. */
  trainClassCounts: number[];
  /** Samples per class in the test split, indexed like classNames. */
  testClassCounts: number[];
  /** Regression datasets: the target columns (classNames is then empty). */
  targetNames?: string[];
  warnings: string[];
}

export interface PreviewImage {
  /** PNG data URL of the sample (downscaled to at most `shownMax` px a side for transport). */
  src: string;
  /** Where it came from, when it is a file. */
  file?: string;
}

export interface DatasetPreview {
  /** The shape the model receives per sample. */
  sampleShape: number[];
  inputScale: InputScale;
  resize: ResizeMode;
  /** The model-input values the 8-bit range 0..255 maps to, e.g. [-1, 1]. */
  valueRange: [number, number];
  /** Largest side of the thumbnails; equal to the sample's size unless it was larger. */
  shownSize: [number, number];
  classes: { name: string; images: PreviewImage[] }[];
  /** Why there are no pictures (e.g. samples that are not images), when there are none. */
  note?: string;
}

export interface DatasetPreviewResult extends DatasetPreview {
  /** Why this input scale (the auto rule's reason, or "asked for"). */
  inputScaleReason: string;
}

// ---------------------------------------------------------------------------------------------
// exportRun

export interface StoredExportResult {
  runId: string;
  dir: string;
  artifact: ArtifactInput;
}

// ---------------------------------------------------------------------------------------------
// listProfiles

export interface ProfileSummary {
  id: string;
  name: string;
  class: ProfileClass;
  runtime: ProfileRuntime;
  ramBytes: number;
  storageBytes: number;
  latencyTargetMs: number;
  builtin: boolean;
}

// ---------------------------------------------------------------------------------------------
// checkFit, startFit (fitFinished)

export interface FitCheckResult extends FitReport {
  model: string;
}

/** How pruning is shared out: structured per layer (uniform, sensitivity-weighted, global ranking) or unstructured LAMP. */
export type Allocation = 'none' | 'uniform' | 'sensitivity' | 'global' | 'unstructured';

export interface FitCandidate {
  index: number;
  numericType: NumericType;
  allocation: Allocation;
  /** The level the allocation was asked for (fraction of channels removed, on average). */
  level: number;
  /** Fraction of output channels removed per producer layer: what a run replays. */
  perLayer: Record<string, number>;
  fits: boolean;
  failed: ConstraintName[];
  /** Each constraint's margin as a fraction of its budget (negative = over budget). */
  margins: Record<ConstraintName, number | null>;
  sizeBytes: number | null;
  arenaBytes: number | null;
  params: number;
  macs: number;
  latencyEstimateMs: number;
  /** Accuracy of the one-shot pruned (not fine-tuned) model on the validation samples; null without data. */
  accuracy: number | null;
}

export interface FitBinding {
  constraint: ConstraintName;
  detail: string;
}

export interface FitAutoResult {
  profileId: string;
  feasible: boolean;
  reason: string | null;
  binding: FitBinding[];
  candidates: FitCandidate[];
  best: FitCandidate | null;
  baseline: FitReport;
  baselineAccuracy: number | null;
  runId: string | null;
  runStatus: 'done' | 'failed' | 'cancelled' | null;
  /** The exported artifact of the run, judged against the profile from the file on disk. */
  final: FitReport | null;
  artifact: { path: string; bytes: number; sha256: string; verified: boolean } | null;
  accuracy: { before: number | null; after: number | null };
  /** Regression runs: MAE before and after (lower is better); null for a classifier. */
  mae: { before: number | null; after: number | null } | null;
}

// ---------------------------------------------------------------------------------------------
// The reply to each command

export interface CommandResults {
  getInfo: AppInfo;
  describeModel: ModelDescription;
  describeDataset: DatasetSummary;
  previewDataset: DatasetPreviewResult;
  startRun: { runId: string; queued: number };
  cancelRun: { cancelled: boolean };
  listRuns: RunPage;
  getRun: RunDetail;
  compareRuns: RunComparison;
  paretoRuns: ParetoResult;
  exportRun: StoredExportResult;
  exportRunsCsv: { runs: string; metrics: string };
  tagRun: { tags: string[] };
  noteRun: { ok: true };
  deleteRun: DeleteResult;
  listProfiles: ProfileSummary[];
  checkFit: FitCheckResult;
  startFit: { jobId: string };
  cancelFit: { cancelled: boolean };
  getProfile: Profile;
  duplicateProfile: Profile;
  saveProfile: Profile;
  deleteProfile: { deleted: true; keptForRuns: number };
  getSettings: SettingsView;
  updateSettings: SettingsView;
}

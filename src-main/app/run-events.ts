/**
 * Events a run emits while it works. The pipeline (in a worker or in-process) emits them; the run
 * service persists them as they arrive, so a run's history is recorded as it progresses.
 */
import type { RunProgress } from '../common/run-config';
import type { InputScale, ResizeMode } from '../common/input-prep';
import type { ArtifactInput, CurvePoint, DatasetInput, LayerResultInput, MetricInput, ModelInput, RunSummary } from '../store/types';

export type RunEvent =
  /** Model and data are loaded and checked: the run record can be created. */
  | {
      type: 'loaded'; model: ModelInput; dataset: DatasetInput; backend: string; versions: Record<string, string>; method: string;
      /** How the data was prepared, as resolved (an `auto` input scale made concrete); recorded in the run's config. */
      input?: { inputScale: InputScale; resize: ResizeMode };
      /** The task the run used (inferred from the model when not given); recorded in the run's config. */
      task?: 'classification' | 'regression';
    }
  | { type: 'progress'; progress: Omit<RunProgress, 'runId'> }
  | { type: 'metrics'; points: MetricInput[] }
  /** Training-curve points (./curve-sampler.ts); each also rides on the progress event it came with. */
  | { type: 'curve'; points: CurvePoint[] }
  | { type: 'layers'; rows: LayerResultInput[] }
  | { type: 'plan'; plan: unknown }
  | { type: 'artifact'; artifact: ArtifactInput }
  | { type: 'summary'; summary: RunSummary }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

/** What a finished run returns to its caller (the summary also went out as an event). */
export interface RunResult {
  summary: RunSummary;
  modelDir: string;
  artifacts: ArtifactInput[];
}

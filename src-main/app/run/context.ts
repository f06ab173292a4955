/**
 * What every phase of one run shares: its job, where its events go, its progress reporter (one
 * overall fraction and ETA across phases) and its cancel check.
 */
import { CancelledError } from '../../common/errors';
import type { RunConfig, RunProgress } from '../../common/run-config';
import type { Profile } from '../../common/profiles';
import { pauseIfAsked } from '../pause-hook';
import type { RunPlace } from '../run-errors';
import type { RunEvent } from '../run-events';

export interface RunJob {
  runId: string;
  config: RunConfig;
  /** Folder the run writes its model and exports into (created as needed). */
  runDir: string;
  /** The run's device profile when it is a stored (user) one; built-ins are looked up by id. */
  profile?: Profile;
}

/** Reports where the run is; `keep` sends the event even within PROGRESS_MIN_MS of the last. */
export type Progress = (p: Omit<RunProgress, 'runId' | 'fraction' | 'etaSeconds'>, keep?: boolean) => void;

export interface RunContext {
  job: RunJob;
  config: RunConfig;
  emit: (e: RunEvent) => void;
  progress: Progress;
  /** Throws CancelledError once the run was cancelled. */
  checkCancel: () => void;
  /** Where the run is, for an error message (see ../run-errors.ts). */
  place: RunPlace;
  /** Date.now() when the run started. */
  started: number;
  signal?: AbortSignal;
  log: (level: 'info' | 'warn', message: string) => void;
}

/** Least time between two progress events of the same phase. */
const PROGRESS_MIN_MS = 100;

/** Share of the whole run each phase takes, for the overall progress bar and ETA. */
const PHASE_SPAN: Record<RunProgress['phase'], [number, number]> = {
  load: [0, 0.03],
  baseline: [0.03, 0.1],
  sensitivity: [0.1, 0.15],
  prune: [0.15, 0.2],
  finetune: [0.2, 0.8],
  final: [0.8, 0.87],
  export: [0.87, 0.93],
  verify: [0.93, 1],
  done: [1, 1],
};

export function runContext(job: RunJob, emit: (e: RunEvent) => void, place: RunPlace, signal?: AbortSignal): RunContext {
  const started = Date.now();
  // At most one progress event per PROGRESS_MIN_MS within a phase (a fused fine-tuning step takes
  // milliseconds: one event a batch would flood the UI); a phase's first and last events, and any
  // marked `keep`, always go out.
  let lastPhase = '';
  let lastAt = 0;
  let entered = '';
  const progress: Progress = (p, keep = false) => {
    if (entered !== p.phase) {
      entered = p.phase;
      pauseIfAsked(p.phase);
    }
    // Where the run is, for an error message, even when this event is not sent.
    if (place.phase !== p.phase) {
      place.phase = p.phase;
      delete place.epoch;
      delete place.batch;
      if (p.phase !== 'export' && p.phase !== 'verify') delete place.what;
    }
    if (p.epoch !== undefined) place.epoch = p.epoch;
    const now = Date.now();
    if (!keep && p.phase === lastPhase && p.done > 0 && p.done < p.total && now - lastAt < PROGRESS_MIN_MS) return;
    lastPhase = p.phase;
    lastAt = now;
    const [a, b] = PHASE_SPAN[p.phase];
    const fraction = a + (b - a) * (p.total > 0 ? Math.min(1, p.done / p.total) : 0);
    const elapsed = (Date.now() - started) / 1000;
    const etaSeconds = fraction > 0.02 ? Math.max(0, (elapsed * (1 - fraction)) / fraction) : null;
    emit({ type: 'progress', progress: { ...p, fraction, etaSeconds } });
  };
  return {
    job,
    config: job.config,
    emit,
    progress,
    checkCancel: () => {
      if (signal?.aborted) throw new CancelledError();
    },
    place,
    started,
    signal,
    log: (level, message) => emit({ type: 'log', level, message }),
  };
}

/**
 * Live state of one run: the stored run (so a monitor opened late, or after a reload, still shows
 * where the run is and how it ended), then progress events as they arrive, the curves, the log.
 */
import type { RunConfigInput, RunProgress } from '../../src-main/common/run-config';
import type { CommandResults, CurvePoint } from '../../src-main/common/contract';
import { transport } from '../lib/transport';
import { startedRuns } from '../lib/started';
import { curveOrEpochs, mergeCurve } from '../lib/curves';

const FINAL = new Set(['done', 'failed', 'cancelled', 'interrupted']);

export class RunMonitor {
  run = $state<CommandResults['getRun'] | null>(null);
  progress = $state<RunProgress | null>(null);
  curve = $state<CurvePoint[]>([]);
  log = $state<string[]>([]);
  finished = $state<{ status: string; error?: { message: string } } | null>(null);
  loadError = $state('');
  /** The run failed while loading its model or data, so the history has no entry to open. */
  notRecorded = $state(false);
  cancelling = $state(false);
  /** Kernel sparsity per layer after the latest pruning step. */
  layerSparsity = $state<Record<string, number> | null>(null);
  /** The store has no row for the run yet (still queued or loading): read it once it has. */
  private awaitingRecord = false;
  private readonly started: RunConfigInput | undefined;

  constructor(readonly runId: string) {
    this.started = startedRuns.get(runId);
  }

  get title(): string {
    return this.run?.name ?? this.started?.name ?? this.runId.slice(0, 8);
  }

  /** Replays and subscribes to the run's events, and reads the stored run; returns the unsubscribe function. */
  connect(): () => void {
    // A run this window just started is not in the store yet; asking now would only get "not found".
    // Set before subscribing: the replayed events may already show the run past loading.
    this.awaitingRecord = !!this.started;
    const off = transport.on((e) => {
      if (e.name !== 'runProgress' && e.name !== 'runLog' && e.name !== 'runFinished') return;
      if (e.payload.runId !== this.runId) return;
      if (e.name === 'runProgress') this.onProgress(e.payload);
      else if (e.name === 'runLog') this.log.push(e.payload.message);
      else this.onFinished(e.payload);
      if (this.awaitingRecord && (e.name === 'runFinished' || (e.name === 'runProgress' && e.payload.phase !== 'load'))) {
        this.awaitingRecord = false;
        void this.load();
      }
      // The run's record as it ended: a point stored without a progress event (fine-tuning that
      // stopped mid-epoch) reaches the curves too.
      else if (e.name === 'runFinished' && e.payload.recorded) void this.load();
    }, { replay: true });
    if (!this.started) void this.load();
    return off;
  }

  private async load() {
    try {
      const run = await transport.call('getRun', { runId: this.runId });
      this.run = run;
      // The points stored so far first (a reopened monitor, a reloaded page), then the live ones
      // that arrived meanwhile or arrive later; a step present in both is the same point.
      this.curve = mergeCurve(curveOrEpochs(run.curves ?? [], run.metrics, run.startedAt), this.curve);
      if (FINAL.has(run.status) && !this.finished) {
        this.onFinished({ status: run.status, ...(run.error ? { error: { message: run.error } } : {}) });
      }
    } catch (err) {
      // Opened on a queued run (e.g. after a reload): wait for it to start instead of failing.
      if ((err as Error).name === 'NotFoundError' && !this.finished) this.awaitingRecord = true;
      // A run that failed while loading its model or data never reaches the history.
      else if ((err as Error).name === 'NotFoundError') this.notRecorded = true;
      else this.loadError = (err as Error).message;
    }
  }

  private onFinished(f: { status: string; error?: { message: string } }) {
    const live = !this.finished && !FINAL.has(this.run?.status ?? '');
    this.finished = f;
    this.log.push(`run ${f.status}${f.error ? `: ${f.error.message}` : ''}`);
    // Read the record again for how long the run took (unless it is still being recorded).
    if (live && !this.awaitingRecord) void this.load();
  }

  private onProgress(p: RunProgress) {
    if (this.progress?.phase !== p.phase) this.log.push(`${p.phase}${p.message ? `: ${p.message}` : ''}`);
    this.progress = p;
    if (p.layerSparsity) this.layerSparsity = p.layerSparsity;
    if (p.curve) this.curve = mergeCurve(this.curve, [p.curve]);
  }

  async cancel() {
    this.cancelling = true;
    try {
      await transport.call('cancelRun', { runId: this.runId });
    } catch (err) {
      this.log.push(`cancel failed: ${(err as Error).message}`);
      this.cancelling = false;
    }
  }
}


/** Live state of one run: progress events as they arrive, the epoch curves, the log. */
import type { RunProgress } from '../../src-main/common/run-config';
import { transport } from '../lib/transport';

export class RunMonitor {
  progress = $state<RunProgress | null>(null);
  epochs = $state<{ epoch: number; loss: number; accuracy: number; sparsity: number }[]>([]);
  log = $state<string[]>([]);
  finished = $state<{ status: string; error?: { message: string } } | null>(null);
  private lastEpoch = 0;

  constructor(readonly runId: string) {}

  /** Subscribes to events; returns the unsubscribe function. */
  connect(): () => void {
    return transport.on((name, payload) => {
      const p = payload as { runId: string };
      if (p.runId !== this.runId) return;
      if (name === 'runProgress') this.onProgress(payload as RunProgress);
      else if (name === 'runLog') this.log.push((payload as { message: string }).message);
      else if (name === 'runFinished') {
        this.finished = payload as { status: string; error?: { message: string } };
        this.log.push(`run ${this.finished.status}${this.finished.error ? `: ${this.finished.error.message}` : ''}`);
      }
    });
  }

  private onProgress(p: RunProgress) {
    if (this.progress?.phase !== p.phase) this.log.push(`${p.phase}${p.message ? `: ${p.message}` : ''}`);
    this.progress = p;
    if (p.phase === 'finetune' && p.epoch !== undefined && p.loss !== undefined) {
      // Keep the latest value of each epoch: the curve grows as batches arrive.
      const row = { epoch: p.epoch, loss: p.loss, accuracy: p.accuracy ?? NaN, sparsity: p.sparsity ?? NaN };
      if (p.epoch === this.lastEpoch && this.epochs.length) this.epochs[this.epochs.length - 1] = row;
      else this.epochs.push(row);
      this.lastEpoch = p.epoch;
    }
  }

  cancel() {
    return transport.call('cancelRun', { runId: this.runId });
  }
}

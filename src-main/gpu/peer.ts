/**
 * The GPU window as a peer of web mode's server: registers its GpuInfo, long-polls /api/gpu/next
 * for a run's runPruning call, trains it on the chosen backend (./remote-run.ts), and streams every
 * PruneProgress back in order, batched a few times a second (each post is also a heartbeat, and its
 * answer says whether the run was cancelled). The trained model goes back as one binary body.
 */
import type * as tf from '@tensorflow/tfjs';
import type { GpuInfo } from '../common/contract/gpu';
import { servePruningRequest } from '../engine/remote/run';
import { decodeRequest, encodeResponse, type GpuProgress, type GpuTrainingDevice } from '../engine/remote/wire';
import type { PruneConfig } from '../engine/prune/types';
import { capPool, fitBatchToGpu } from './memory';

export interface PeerOptions {
  /** The server's origin (or '' for this page's). */
  base: string;
  token: string;
  info: GpuInfo;
  /** What the peer is doing, in words, for the page's status line. */
  onState?: (line: string) => void;
}

/** A GPU route answered with an error status. */
class GpuRouteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GpuRouteError';
  }
}

/**
 * The run's config with its batch fitted under the GPU memory limit (and the backend's pool capped
 * there too); the note says what was lowered, or the pool's cap when nothing was.
 */
export async function fitConfigToGpu(model: tf.LayersModel, config: PruneConfig, limitBytes: number): Promise<{ config: PruneConfig; note?: string }> {
  const pool = capPool(limitBytes);
  const ft = config.finetune;
  if (ft.epochs === 0) return { config };
  const fit = await fitBatchToGpu(model, { requested: ft.batchSize, limitBytes, optimizer: ft.optimizer, ...(ft.task ? { task: ft.task } : {}), ...(ft.loss ? { loss: ft.loss } : {}) });
  if (fit.batchSize === ft.batchSize) return { config };
  return { config: { ...config, finetune: { ...ft, batchSize: fit.batchSize } }, note: `GPU: ${fit.note} (${pool})` };
}

/** Progress is posted at most this often (and always at the end). */
const FLUSH_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Serves runs until the page closes; re-registers when the server forgot it (restart, long silence). */
export async function servePeer(opts: PeerOptions): Promise<never> {
  const post = async (route: string, body: unknown, raw?: Uint8Array, query = ''): Promise<Response> => {
    const res = await fetch(`${opts.base}/api/gpu/${route}${query}`, {
      method: 'POST',
      headers: { 'x-topiary-token': opts.token, 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
      body: raw ? new Blob([raw as Uint8Array<ArrayBuffer>]) : JSON.stringify(body),
    });
    if (res.status >= 400) {
      const text = await res.text().catch(() => '');
      throw new GpuRouteError(res.status, `POST /api/gpu/${route}: ${res.status} ${text.slice(0, 300)}`);
    }
    return res;
  };
  const json = async <T>(route: string, body: unknown): Promise<T> => (await (await post(route, body)).json()) as T;
  // Heartbeats come from a worker (./heartbeat-worker.ts): a long WebGL step blocks this thread.
  const heart = new Worker(new URL('./heartbeat-worker.ts', import.meta.url), { type: 'module' });
  let onCancel: (ids: string[]) => void = () => {};
  heart.onmessage = (e: MessageEvent<{ cancel?: string[] }>) => e.data.cancel?.length && onCancel(e.data.cancel);
  setInterval(() => heart.postMessage({ type: 'tick' }), 1000);

  for (;;) {
    let peerId: string;
    let heartbeatMs: number;
    try {
      ({ peerId, heartbeatMs } = await json<{ peerId: string; heartbeatMs: number }>('register', { info: opts.info }));
    } catch (err) {
      opts.onState?.(`not connected to Topiary (${err instanceof Error ? err.message : String(err)}); retrying`);
      await sleep(2000);
      continue;
    }
    heart.postMessage({ type: 'start', url: `${opts.base}/api/gpu/heartbeat`, token: opts.token, peerId, intervalMs: heartbeatMs });
    opts.onState?.('connected to Topiary: waiting for a run to train');
    window.addEventListener('pagehide', () => navigator.sendBeacon?.(`${opts.base}/api/gpu/unregister?token=${encodeURIComponent(opts.token)}`, new Blob([JSON.stringify({ peerId })], { type: 'application/json' })), { once: true });
    try {
      for (;;) {
        const res = await post('next', { peerId });
        if (res.status === 204) continue;
        const { jobId, request } = decodeRequest(new Uint8Array(await res.arrayBuffer()));
        await runJob(peerId, jobId, request);
        opts.onState?.('connected to Topiary: waiting for a run to train');
      }
    } catch (err) {
      console.warn(`GPU peer: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      if (!(err instanceof GpuRouteError && err.status === 410)) {
        opts.onState?.(`lost Topiary (${err instanceof Error ? err.message : String(err)}); reconnecting`);
        await sleep(2000);
      }
    }
  }

  async function runJob(peerId: string, jobId: string, request: ReturnType<typeof decodeRequest>['request']): Promise<void> {
    const info = opts.info;
    const abort = new AbortController();
    const queue: GpuProgress[] = [];
    let sending: Promise<void> = Promise.resolve();
    const flush = () => {
      if (queue.length === 0) return sending; // the heartbeat worker calls in meanwhile
      const events = queue.splice(0);
      // In order, one post at a time; a failed post loses its events, not the ones after it.
      sending = sending.catch(() => {}).then(async () => {
        const r = await json<{ cancelled: boolean }>('progress', { peerId, jobId, events });
        if (r.cancelled) abort.abort();
      });
      return sending;
    };
    const flusher = setInterval(() => void flush().catch(() => {}), FLUSH_MS);
    onCancel = (ids) => ids.includes(jobId) && abort.abort();
    opts.onState?.(`training a run on ${info.backend}: ${request.config.method} ${request.config.granularity} to ${request.config.sparsity}`);
    try {
      if (!info.backend) throw new Error('this window has no usable GPU backend');
      const device: GpuTrainingDevice = { backend: info.backend, ...(info.adapter ? { adapter: info.adapter } : {}), software: info.software ?? false };
      const limitBytes = request.gpuMemoryLimitBytes;
      const response = await servePruningRequest(request, device, {
        signal: abort.signal,
        // The settings' GPU memory limit: the largest batch <= the asked one whose step fits (gpu/memory.ts).
        ...(limitBytes ? { prepare: (model, config) => fitConfigToGpu(model, config, limitBytes) } : {}),
        onProgress: (p) => {
          queue.push(p);
          heart.postMessage({ type: 'tick' });
        },
      });
      clearInterval(flusher);
      await flush();
      await post('result', undefined, encodeResponse(response), `?peer=${encodeURIComponent(peerId)}&job=${encodeURIComponent(jobId)}`);
    } catch (err) {
      console.warn(`GPU peer: the run failed here: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      clearInterval(flusher);
      await flush().catch(() => {});
      const error = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
      await post('error', { peerId, jobId, error: abort.signal.aborted ? { name: 'CancelledError', message: 'cancelled' } : error }).catch(() => {});
    } finally {
      clearInterval(flusher);
      onCancel = () => {};
    }
  }
}

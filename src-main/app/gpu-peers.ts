/**
 * GPU peers: browser windows (gpu.html, in web mode or Electron) that registered with their GpuInfo
 * and train runs on WebGPU/WebGL. The registry is transport-free: the web server maps /api/gpu/* onto
 * register / nextJob / progress / complete / fail, a test drives it directly. A run's worker asks
 * the job host, the host submits here; the peer streams PruneProgress back and answers with the
 * trained model. A peer that stops calling in for `lostAfterMs` (15 s) is dropped and its job fails
 * with GpuPeerLostError, so a run never hangs on a closed tab.
 */
import { randomUUID } from 'node:crypto';
import { CancelledError, TopiaryError, fromErrorInfo, type ErrorInfo } from '../common/errors';
import type { GpuBackendName, GpuInfo } from '../common/contract/gpu';
import type { GpuWindowView } from '../common/contract/settings';
import { resolveTrainingBackend, type TrainingBackend } from '../common/settings';
import type { GpuProgress, GpuPruningRequest, GpuPruningResponse } from '../engine/remote/wire';

/** The GPU window that had a run's training stopped answering (closed, crashed, asleep). */
export class GpuPeerLostError extends TopiaryError {}

/** Which training backend the user asked for: any real GPU, the CPU only, or one browser backend (software ones too). */
export type GpuPreference = 'auto' | 'cpu' | GpuBackendName;

/**
 * The training backend preference: TOPIARY_BACKEND (any case) over the settings file's
 * `trainingBackend` over auto (common/settings.ts resolveTrainingBackend). A Node backend name
 * (wasm, tensorflow, ...) forces how the CPU trains, so it means cpu here: no GPU window is used.
 * An unknown value is a ConfigError naming the variable: a typo must not quietly train elsewhere.
 */
export function trainingBackendPreference(env: Readonly<Record<string, string | undefined>> = process.env, settings?: { trainingBackend?: TrainingBackend }): GpuPreference {
  return resolveTrainingBackend(settings, env).choice;
}

/** A registered peer as the chooser sees it. */
export interface GpuPeerView {
  id: string;
  info: GpuInfo;
  /** Jobs queued or running on it. */
  busy: number;
}

export type PeerChoice = { peer: GpuPeerView; reason?: undefined } | { peer?: undefined; reason: string };

const describe = (info: GpuInfo) => `${info.backend} on ${info.adapter ?? 'an unnamed adapter'}`;

/**
 * Which peer trains a run. `auto` takes a peer whose backend passed its self-test and is not
 * software-rendered (SwiftShader trains slower than the CPU path), WebGPU before WebGL, idle before
 * busy; a named backend takes a peer on it, software ones too (tests force SwiftShader that way),
 * a real GPU first;
 * `cpu` never delegates. Without one, `reason` says why, for the run's one log line.
 * @example choosePeer('auto', []) // { reason: 'no GPU window connected' }
 */
export function choosePeer(preference: GpuPreference, peers: readonly GpuPeerView[]): PeerChoice {
  if (preference === 'cpu') return { reason: 'training backend set to cpu' };
  if (peers.length === 0) return { reason: 'no GPU window connected' };
  const working = peers.filter((p) => p.info.backend !== null && p.info.selfTest?.passed === true);
  const fits = preference === 'auto' ? working.filter((p) => !p.info.software) : working.filter((p) => p.info.backend === preference);
  if (fits.length > 0) {
    // WebGPU before WebGL, a real GPU before a software one (a named backend accepts both), idle before busy.
    const rank = (p: GpuPeerView) => (p.info.backend === 'webgpu' ? 0 : 1) * 2000 + (p.info.software ? 1000 : 0) + Math.min(p.busy, 999);
    return { peer: [...fits].sort((a, b) => rank(a) - rank(b))[0] };
  }
  if (working.length === 0) {
    const why = peers.flatMap((p) => p.info.skipped.map((s) => `${s.name}: ${s.reason}`));
    return { reason: `the GPU window found no usable GPU${why.length ? ` (${why.join('; ')})` : ''}` };
  }
  const have = working.map((p) => describe(p.info) + (p.info.software ? ' (software)' : '')).join(', ');
  if (preference === 'auto') return { reason: `only a software GPU is connected (${have}); auto does not train on software rendering, set TOPIARY_BACKEND=webgl or webgpu to use it` };
  return { reason: `no GPU window runs ${preference} (connected: ${have})` };
}

/**
 * The connected windows as the settings screen lists them: for each, whether `preference` would
 * train the next run on it, and if not, why (the same rule as a run's, choosePeer).
 */
export function describeGpuWindows(peers: readonly GpuPeerView[], preference: GpuPreference): GpuWindowView[] {
  const choice = choosePeer(preference, peers);
  return peers.map((p) => {
    const chosen = choice.peer?.id === p.id;
    const alone = choosePeer(preference, [p]);
    const line = chosen ? 'trains the next run' : alone.peer ? 'another window is chosen first' : alone.reason;
    return { backend: p.info.backend, ...(p.info.adapter ? { adapter: p.info.adapter } : {}), software: p.info.software ?? false, busy: p.busy, chosen, line };
  });
}

interface Job {
  id: string;
  peerId: string;
  request: GpuPruningRequest;
  taken: boolean;
  cancelled: boolean;
  onProgress?: (p: GpuProgress) => void;
  resolve(r: GpuPruningResponse): void;
  reject(e: Error): void;
}

interface Peer {
  id: string;
  info: GpuInfo;
  lastSeen: number;
  jobs: Map<string, Job>;
  /** A long poll waiting for the next job. */
  waiting?: (job: Job | undefined) => void;
}

export interface GpuPeersOptions {
  /** A peer silent this long is lost. Default 15 s. */
  lostAfterMs?: number;
  /** A page whose main thread has not run this long (while its heartbeat worker still calls in) is hung. Default 10 min. */
  stuckAfterMs?: number;
  /** How often silence is checked. Default 1 s. */
  checkEveryMs?: number;
  now?: () => number;
}

/** A peer id that is not (or no longer) registered: the window must register again. */
export class UnknownGpuPeerError extends TopiaryError {}

export class GpuPeers {
  private readonly peers = new Map<string, Peer>();
  private readonly timer: ReturnType<typeof setInterval>;
  readonly lostAfterMs: number;
  readonly stuckAfterMs: number;
  private readonly now: () => number;

  constructor(options: GpuPeersOptions = {}) {
    this.lostAfterMs = options.lostAfterMs ?? 15_000;
    this.stuckAfterMs = options.stuckAfterMs ?? 600_000;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), options.checkEveryMs ?? 1000);
    this.timer.unref();
  }

  register(info: GpuInfo): { peerId: string } {
    const id = randomUUID();
    this.peers.set(id, { id, info, lastSeen: this.now(), jobs: new Map() });
    return { peerId: id };
  }

  list(): GpuPeerView[] {
    return [...this.peers.values()].map((p) => ({ id: p.id, info: p.info, busy: p.jobs.size }));
  }

  /** The peer `preference` picks now, or why none. */
  choose(preference: GpuPreference): PeerChoice {
    return choosePeer(preference, this.list());
  }

  /**
   * The peer is alive; answers the ids of its jobs the run no longer wants (cancelled).
   * `mainSilentMs`: how long the page's main thread has not run (its heartbeat comes from a worker,
   * so that a long WebGL step does not read as death); past `stuckAfterMs` the page is hung.
   */
  heartbeat(peerId: string, mainSilentMs = 0): { cancel: string[] } {
    const peer = this.touch(peerId);
    if (mainSilentMs > this.stuckAfterMs) {
      this.lose(peer, `its page has not run for ${Math.round(mainSilentMs / 1000)} s (hung in one step)`);
      return { cancel: [] };
    }
    return { cancel: [...peer.jobs.values()].filter((j) => j.cancelled).map((j) => j.id) };
  }

  /** Drops the peer (its window closed); its jobs fail. */
  unregister(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (peer) this.lose(peer, 'its window unregistered');
  }

  /**
   * Hands `request` to the peer and resolves with its answer. Rejects with CancelledError when
   * `signal` fires, GpuPeerLostError when the peer goes silent, or the peer's own error.
   */
  submit(peerId: string, request: GpuPruningRequest, hooks: { signal?: AbortSignal; onProgress?: (p: GpuProgress) => void } = {}): Promise<GpuPruningResponse> {
    const peer = this.peers.get(peerId);
    if (!peer) return Promise.reject(new GpuPeerLostError(`GPU window ${peerId} is gone (it stopped answering before the run reached it)`));
    if (hooks.signal?.aborted) return Promise.reject(new CancelledError());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        job.cancelled = true;
        // Not yet taken: it never starts. Taken: the peer hears of it at its next call.
        if (!job.taken) peer.jobs.delete(job.id);
        job.reject(new CancelledError());
      };
      const done = () => hooks.signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        id: randomUUID(),
        peerId,
        request,
        taken: false,
        cancelled: false,
        onProgress: hooks.onProgress,
        resolve: (r) => (done(), resolve(r)),
        reject: (e) => (done(), reject(e)),
      };
      hooks.signal?.addEventListener('abort', onAbort, { once: true });
      peer.jobs.set(job.id, job);
      this.offer(peer);
    });
  }

  /** The peer's long poll: its next job, or undefined after `waitMs` without one. */
  nextJob(peerId: string, waitMs: number): Promise<{ jobId: string; request: GpuPruningRequest } | undefined> {
    const peer = this.touch(peerId);
    const take = (job: Job | undefined) => {
      if (!job) return undefined;
      job.taken = true;
      return { jobId: job.id, request: job.request };
    };
    const ready = this.untaken(peer);
    if (ready) return Promise.resolve(take(ready));
    peer.waiting?.(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (peer.waiting === answer) peer.waiting = undefined;
        resolve(undefined);
      }, waitMs);
      const answer = (job: Job | undefined) => {
        clearTimeout(timer);
        peer.waiting = undefined;
        resolve(take(job));
      };
      peer.waiting = answer;
    });
  }

  /** Progress events of a job, in order; `cancelled` tells the peer to stop. */
  progress(peerId: string, jobId: string, events: GpuProgress[]): { cancelled: boolean } {
    const job = this.jobOf(peerId, jobId);
    if (!job) return { cancelled: true };
    if (!job.cancelled) for (const e of events) job.onProgress?.(e);
    return { cancelled: job.cancelled };
  }

  complete(peerId: string, jobId: string, response: GpuPruningResponse): void {
    const job = this.jobOf(peerId, jobId);
    if (!job) return;
    this.peers.get(peerId)?.jobs.delete(jobId);
    if (!job.cancelled) job.resolve(response);
  }

  fail(peerId: string, jobId: string, error: ErrorInfo): void {
    const job = this.jobOf(peerId, jobId);
    if (!job) return;
    this.peers.get(peerId)?.jobs.delete(jobId);
    if (!job.cancelled) job.reject(error.name === 'CancelledError' ? new CancelledError() : fromErrorInfo(error));
  }

  /** Stops the silence check and fails every job (the app is closing). */
  close(): void {
    clearInterval(this.timer);
    for (const peer of [...this.peers.values()]) this.lose(peer, 'the app closed');
  }

  private touch(peerId: string): Peer {
    const peer = this.peers.get(peerId);
    if (!peer) throw new UnknownGpuPeerError(`GPU peer ${peerId} is not registered (it was silent over ${this.lostAfterMs / 1000} s, or the app restarted): register again`);
    peer.lastSeen = this.now();
    return peer;
  }

  private jobOf(peerId: string, jobId: string): Job | undefined {
    return this.touch(peerId).jobs.get(jobId);
  }

  private untaken(peer: Peer): Job | undefined {
    return [...peer.jobs.values()].find((j) => !j.taken && !j.cancelled);
  }

  private offer(peer: Peer) {
    const job = this.untaken(peer);
    if (job && peer.waiting) peer.waiting(job);
  }

  private sweep() {
    const now = this.now();
    for (const peer of [...this.peers.values()]) {
      if (now - peer.lastSeen > this.lostAfterMs) this.lose(peer, `no heartbeat for ${Math.round((now - peer.lastSeen) / 1000)} s`);
    }
  }

  private lose(peer: Peer, why: string) {
    this.peers.delete(peer.id);
    peer.waiting?.(undefined);
    for (const job of peer.jobs.values()) {
      if (!job.cancelled) job.reject(new GpuPeerLostError(`the GPU window training this run (${describe(peer.info)}) stopped answering: ${why}; the run failed (start it again, or set TOPIARY_BACKEND=cpu)`));
    }
    peer.jobs.clear();
  }
}

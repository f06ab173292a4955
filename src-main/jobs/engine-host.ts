/**
 * One long-lived worker that answers many calls: the engine worker. Where the job host starts a
 * worker per job, an EngineHost starts its worker on the first call, keeps it (models load once,
 * wasm compiles once), and starts a fresh one on the next call if it died. Calls are typed by a
 * method table, stream progress, can be cancelled, and fail with the error the worker threw (same
 * name, message, exit code). A worker that dies answers every pending call with an error saying so.
 */
import { Worker } from 'node:worker_threads';
import { CancelledError, TopiaryError, fromErrorInfo } from '../common/errors';
import type { EngineToHost, HostToEngine, MethodMap, Unsequenced } from './messages';

/** The engine worker died or was closed while a call was in flight. */
export class EngineWorkerError extends TopiaryError {}

export interface EngineHostOptions {
  /** Module (a .ts in the checkout, .js when built) that calls serveMethods. */
  entry: string;
  /** Passed to the worker as `workerData.init` (e.g. where the store is). */
  init?: unknown;
  /** How long a cancelled call may run on before it is answered as cancelled anyway. Default 5 s. */
  cancelGraceMs?: number;
  resourceLimits?: { maxOldGenerationSizeMb?: number };
}

export interface CallOptions<P> {
  signal?: AbortSignal;
  onProgress?: (progress: P) => void;
}

interface Pending {
  method: string;
  resolve(result: unknown): void;
  reject(err: Error): void;
  onProgress?: (progress: unknown) => void;
  cancelled: boolean;
  done(): void;
}

const BOOT = new URL('./worker-boot.mjs', import.meta.url);

export class EngineHost<M extends MethodMap<M>> {
  private worker: Worker | undefined;
  private ready = false;
  private outbox: Unsequenced<HostToEngine>[] = [];
  private seq = 0;
  private lastSeq = -1;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(private readonly options: EngineHostOptions) {}

  /** Whether a worker is alive now (it starts on the first call, and again after it died). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  call<K extends keyof M & string>(method: K, payload: M[K]['payload'], options: CallOptions<M[K]['progress']> = {}): Promise<M[K]['result']> {
    if (this.closed) return Promise.reject(new EngineWorkerError(`the engine worker is closed; ${method} was not run`));
    if (options.signal?.aborted) return Promise.reject(new CancelledError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      const onAbort = () => this.cancel(id);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        method,
        resolve: resolve as (r: unknown) => void,
        reject,
        onProgress: options.onProgress as ((p: unknown) => void) | undefined,
        cancelled: false,
        done: () => signal?.removeEventListener('abort', onAbort),
      });
      this.send({ type: 'call', id, method, payload });
    });
  }

  /** Rejects every pending call and stops the worker. Calls after this are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll((method) => `the engine worker was closed while ${method} was running`);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private send(msg: Unsequenced<HostToEngine>) {
    const worker = this.worker ?? this.start();
    worker.ref(); // a call in flight keeps the process alive; an idle worker does not
    if (this.ready) worker.postMessage({ ...msg, seq: this.seq++ } as HostToEngine);
    else this.outbox.push(msg);
  }

  private start(): Worker {
    const worker = new Worker(BOOT, {
      workerData: { entry: this.options.entry, init: this.options.init },
      resourceLimits: this.options.resourceLimits,
    });
    this.worker = worker;
    this.ready = false;
    this.seq = 0;
    this.lastSeq = -1;
    worker.on('message', (msg: EngineToHost) => {
      if (worker === this.worker) this.receive(msg); // not from a worker given up on after a cancel
    });
    worker.on('error', (err) => {
      if (worker !== this.worker) return;
      this.forget(worker);
      this.failAll((method) => `the engine worker crashed while ${method} was running: ${err.name}: ${err.message}`);
    });
    worker.on('exit', (code) => {
      if (worker !== this.worker) return;
      this.forget(worker);
      this.failAll((method) => `the engine worker exited unexpectedly (code ${code}) while ${method} was running`);
    });
    return worker;
  }

  private receive(msg: EngineToHost) {
    if (msg.seq <= this.lastSeq) return; // stale or duplicated
    this.lastSeq = msg.seq;
    if (msg.type === 'ready') {
      this.ready = true;
      const queued = this.outbox;
      this.outbox = [];
      for (const m of queued) this.worker!.postMessage({ ...m, seq: this.seq++ } as HostToEngine);
      return;
    }
    const call = this.pending.get(msg.id);
    if (!call) return; // answered already (cancelled past its grace)
    if (msg.type === 'progress') {
      try {
        call.onProgress?.(msg.progress);
      } catch {
        // a broken progress listener (a closed window) must not take the call down with it
      }
      return;
    }
    this.settle(msg.id);
    if (msg.type === 'result') call.resolve(msg.result);
    else if (msg.error.name !== 'CancelledError' && (msg.cancelled || call.cancelled)) call.reject(new CancelledError());
    else call.reject(fromErrorInfo(msg.error));
  }

  /**
   * Asks the worker to stop one call. A call that does not stop within the grace period is answered
   * as cancelled; if nothing else is in flight the worker is then terminated (it is stuck in work
   * nobody wants) and the next call starts a fresh one.
   */
  private cancel(id: number) {
    const call = this.pending.get(id);
    if (!call || call.cancelled) return;
    call.cancelled = true;
    if (!this.ready) {
      // Not sent yet (the worker is still starting): drop it and answer now.
      this.outbox = this.outbox.filter((m) => !(m.type === 'call' && m.id === id));
      this.settle(id);
      call.reject(new CancelledError());
      return;
    }
    this.worker?.postMessage({ type: 'cancel', id, seq: this.seq++ } as HostToEngine);
    const timer = setTimeout(() => {
      if (!this.pending.has(id)) return;
      this.settle(id);
      call.reject(new CancelledError());
      if (this.pending.size === 0 && this.worker) {
        const stuck = this.worker;
        this.forget(stuck);
        void stuck.terminate();
      }
    }, this.options.cancelGraceMs ?? 5000);
    timer.unref();
  }

  private settle(id: number) {
    this.pending.get(id)?.done();
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }

  private forget(worker: Worker) {
    if (this.worker === worker) this.worker = undefined;
    this.ready = false;
    this.outbox = [];
  }

  private failAll(message: (method: string) => string) {
    const calls = [...this.pending.entries()];
    for (const [id, call] of calls) {
      this.settle(id);
      call.reject(new EngineWorkerError(message(call.method)));
    }
  }
}

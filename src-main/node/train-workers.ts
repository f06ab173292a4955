/**
 * Data-parallel fine-tuning on worker_threads: the Node implementation of the engine's
 * GradientShards. Each helper holds a copy of the model; per step the trainer's current weights go
 * into one SharedArrayBuffer (written once, read by every helper), each helper gets its slice of
 * the batch and sends back the gradient of its shard's mean loss (transferred, not copied).
 * Opt in with `TOPIARY_TRAIN_WORKERS=N` (N threads in all, this one included) through
 * installTrainWorkersFromEnv, or pass `workerGradientShards(N)` as FinetuneOptions.gradientShards.
 * Only for the wasm and cpu backends: libtensorflow (tfjs-node) already uses every core.
 */
import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { ConfigError, TopiaryError, type ErrorInfo } from '../common/errors';
import type { GradientShards, GradientShardsFactory, Shard, ShardModelSpec, ShardResult } from '../engine/finetune/gradient-shards';
import { setDefaultGradientShards } from '../engine/finetune/trainer';
import { currentBackend } from './backend';

/** Messages to a helper. */
export type HelperRequest =
  | {
      type: 'init';
      backend: string;
      topology: object;
      weightShapes: number[][];
      outputIsProbabilities: boolean;
      /** Float32 weights, trainable-weight order, rewritten by the trainer before every compute. */
      weights: SharedArrayBuffer;
    }
  | ({ type: 'compute'; id: number } & Shard);

/** Messages from a helper. */
export type HelperReply =
  | { type: 'ready' }
  | ({ type: 'result'; id: number } & ShardResult)
  | { type: 'error'; id?: number; error: ErrorInfo };

const MAX_THREADS = 32;

/**
 * The helper module: TOPIARY_TRAIN_WORKER_ENTRY when set; in the checkout the TypeScript source
 * (started through jobs/worker-boot.mjs, which registers tsx); in a bundle (dist-electron/, one
 * flat folder) `train-worker.cjs` next to the bundle, built from train-worker-entry.ts.
 */
function helperWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry =
    process.env.TOPIARY_TRAIN_WORKER_ENTRY ?? new URL(fromSource ? './train-worker-entry.ts' : './train-worker.cjs', import.meta.url).href;
  if (!entry.endsWith('.ts')) return new Worker(entry.startsWith('file:') ? new URL(entry) : entry);
  return new Worker(new URL('../jobs/worker-boot.mjs', import.meta.url), { workerData: { entry } });
}

interface Pending {
  resolve: (r: ShardResult) => void;
  reject: (e: Error) => void;
}

class Helper {
  readonly worker: Worker;
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private ready: Promise<void>;
  private failure?: Error;

  constructor(init: Extract<HelperRequest, { type: 'init' }>) {
    this.worker = helperWorker();
    this.ready = new Promise<void>((resolve, reject) => {
      this.worker.on('message', (msg: HelperReply) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'error' && msg.id === undefined) reject(new TopiaryError(`training helper failed to start: ${msg.error.message}`));
        else this.settle(msg);
      });
      const die = (err: Error) => {
        this.failure = err;
        reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
      };
      this.worker.on('error', (err) => die(new TopiaryError(`training helper crashed: ${err.message}`)));
      this.worker.on('exit', (code) => die(new TopiaryError(`training helper exited (code ${code})`)));
    });
    this.worker.postMessage(init);
  }

  started(): Promise<void> {
    return this.ready;
  }

  compute(shard: Shard): Promise<ShardResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ShardResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'compute', id, x: shard.x, y: shard.y, scale: shard.scale } satisfies HelperRequest);
    });
  }

  private settle(msg: Exclude<HelperReply, { type: 'ready' }>): void {
    if (msg.id === undefined) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.type === 'error') p.reject(new TopiaryError(`training helper: ${msg.error.message}`));
    else p.resolve({ grads: msg.grads, loss: msg.loss, correct: msg.correct, n: msg.n });
  }

  async stop(): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.failure ??= new TopiaryError('training helpers were stopped');
    await this.worker.terminate();
  }
}

class WorkerGradientShards implements GradientShards {
  private readonly weightView: Float32Array;

  constructor(
    private readonly helpersList: Helper[],
    weights: SharedArrayBuffer,
  ) {
    this.weightView = new Float32Array(weights);
  }

  get helpers(): number {
    return this.helpersList.length;
  }

  compute(weights: Float32Array[], shards: Shard[]): Promise<ShardResult[]> {
    let offset = 0;
    for (const w of weights) {
      this.weightView.set(w, offset);
      offset += w.length;
    }
    if (offset !== this.weightView.length) {
      return Promise.reject(new TopiaryError(`training helpers: got ${offset} weights, the model has ${this.weightView.length}`));
    }
    return Promise.all(shards.map((s, i) => this.helpersList[i].compute(s)));
  }

  async dispose(): Promise<void> {
    await Promise.all(this.helpersList.map((h) => h.stop()));
  }
}

/**
 * A GradientShardsFactory that splits every batch across `threads` threads: this one plus
 * `threads - 1` worker_threads helpers on the current backend (wasm or cpu).
 * @example await finetuneMasked(model, train, cfg, { masks, gradientShards: workerGradientShards(2) })
 */
export function workerGradientShards(threads: number): GradientShardsFactory {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new ConfigError(`training threads must be an integer from 1 to ${MAX_THREADS}, got ${threads}`);
  }
  return async (spec: ShardModelSpec) => {
    if (threads === 1) return 'one training thread requested';
    const backend = currentBackend()?.name ?? tf.getBackend();
    if (backend !== 'wasm' && backend !== 'cpu') return `backend ${backend} already uses every core; no training helpers`;
    const total = spec.weightShapes.reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0);
    const weights = new SharedArrayBuffer(total * 4);
    const init: HelperRequest = { type: 'init', backend, topology: spec.topology, weightShapes: spec.weightShapes, outputIsProbabilities: spec.outputIsProbabilities, weights };
    const helpers = Array.from({ length: threads - 1 }, () => new Helper(init));
    try {
      await Promise.all(helpers.map((h) => h.started()));
    } catch (err) {
      await Promise.all(helpers.map((h) => h.stop()));
      throw err;
    }
    return new WorkerGradientShards(helpers, weights);
  };
}

/**
 * Reads `TOPIARY_TRAIN_WORKERS` (threads in all; unset, empty or 1: off) and installs the matching
 * default for finetuneMasked. Call once at start-up of a process that trains.
 * @returns the number of training threads now in effect.
 */
export function installTrainWorkersFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TOPIARY_TRAIN_WORKERS;
  if (raw === undefined || raw.trim() === '') return 1;
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new ConfigError(`TOPIARY_TRAIN_WORKERS must be an integer from 1 to ${MAX_THREADS}, got "${raw}"`);
  }
  setDefaultGradientShards(threads > 1 ? workerGradientShards(threads) : undefined);
  return threads;
}

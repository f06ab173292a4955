/** Messages between the job host and its worker. Every message has a type and a sequence number. */
import type { ErrorInfo } from '../common/errors';

export type HostToWorker =
  | { type: 'start'; seq: number; job: unknown }
  | { type: 'cancel'; seq: number }
  | HostAnswer;

export type WorkerToHost =
  | { type: 'ready'; seq: number }
  | { type: 'event'; seq: number; event: unknown }
  | { type: 'done'; seq: number; result: unknown }
  | { type: 'error'; seq: number; error: ErrorInfo; cancelled: boolean }
  | WorkerAsk;

/**
 * A job asking its host for work only the host can do (a run hands its training to a GPU window
 * the host knows of): the engine-host protocol turned around. `host-call` names a method and its
 * payload by `id`; the host streams `host-progress` and ends with one `host-result` or
 * `host-error`; `host-cancel` withdraws the call.
 */
export type WorkerAsk =
  | { type: 'host-call'; seq: number; id: number; method: string; payload: unknown }
  | { type: 'host-cancel'; seq: number; id: number };

export type HostAnswer =
  | { type: 'host-progress'; seq: number; id: number; progress: unknown }
  | { type: 'host-result'; seq: number; id: number; result: unknown }
  | { type: 'host-error'; seq: number; id: number; error: ErrorInfo };

/**
 * The long-lived engine worker's protocol: many calls over one worker, each named by `id`. A call
 * streams `progress` and ends with one `result` or `error`; `cancel` aborts that call only.
 */
export type HostToEngine =
  | { type: 'call'; seq: number; id: number; method: string; payload: unknown }
  | { type: 'cancel'; seq: number; id: number };

export type EngineToHost =
  | { type: 'ready'; seq: number }
  | { type: 'progress'; seq: number; id: number; progress: unknown }
  | { type: 'result'; seq: number; id: number; result: unknown }
  | { type: 'error'; seq: number; id: number; error: ErrorInfo; cancelled: boolean };

/** A message before the sender stamps its sequence number (Omit distributed over the union). */
export type Unsequenced<T> = T extends unknown ? Omit<T, 'seq'> : never;

/** One engine method: what it takes, what it answers, and what it reports while it works. */
export interface MethodSpec {
  payload: unknown;
  result: unknown;
  progress: unknown;
}

/** A method table's types, e.g. `{ describeModel: { payload: {spec: string}; result: ModelDescription; progress: never } }`. */
export type MethodMap<M> = { [K in keyof M]: MethodSpec };

/** What a method gets besides its payload: cancellation and a way to report progress. */
export interface CallHooks<P> {
  signal: AbortSignal;
  onProgress: (progress: P) => void;
}

/** The worker's implementation of a method table. */
export type MethodHandlers<M extends MethodMap<M>> = {
  [K in keyof M]: (payload: M[K]['payload'], hooks: CallHooks<M[K]['progress']>) => Promise<M[K]['result']> | M[K]['result'];
};

/** Messages between the job host and its worker. Every message has a type and a sequence number. */
import type { ErrorInfo } from '../common/errors';

export type HostToWorker =
  | { type: 'start'; seq: number; job: unknown }
  | { type: 'cancel'; seq: number };

export type WorkerToHost =
  | { type: 'ready'; seq: number }
  | { type: 'event'; seq: number; event: unknown }
  | { type: 'done'; seq: number; result: unknown }
  | { type: 'error'; seq: number; error: ErrorInfo; cancelled: boolean };

/** A message before the sender stamps its sequence number (Omit distributed over the union). */
export type Unsequenced<T> = T extends unknown ? Omit<T, 'seq'> : never;

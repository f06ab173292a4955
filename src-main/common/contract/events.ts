/**
 * Events the services push to every connected front door (Electron IPC, SSE in web mode), with the
 * payload each carries. Like results, payloads are plain types: main builds them, nobody parses them.
 */
import type { ErrorInfo } from '../errors';
import type { RunProgress } from '../run-config';
import type { FitAutoResult } from './results';

export interface RunFinished {
  runId: string;
  status: 'done' | 'failed' | 'cancelled';
  error?: ErrorInfo;
  /**
   * False when the run is not (fully) in the database: it failed before it could be recorded (e.g.
   * an unreadable model file), or a database write failed (see recordError).
   */
  recorded: boolean;
  /**
   * A database write of the run failed: the run went on and its whole record is in its folder's
   * run.json, from which `topiary runs recover` records it again.
   */
  recordError?: ErrorInfo;
}

export interface EventPayloads {
  runProgress: RunProgress;
  runFinished: RunFinished;
  runLog: { runId: string; level: 'info' | 'warn'; message: string };
  /** One line about what the fit-to-budget search tried; `runId` once the winner's run exists. */
  fitProgress: { jobId: string; message: string; candidates: number; runId?: string };
  fitFinished: { jobId: string; status: 'done' | 'failed' | 'cancelled'; result?: FitAutoResult; error?: ErrorInfo };
}

export type EventName = keyof EventPayloads;

/** Every event name, for transports that subscribe by name (SSE). */
export const EVENT_NAMES = ['runProgress', 'runFinished', 'runLog', 'fitProgress', 'fitFinished'] as const satisfies readonly EventName[];

/** One pushed event, as a discriminated union: `if (e.name === 'runLog') e.payload.message`. */
export type ContractEvent = { [E in EventName]: { name: E; payload: EventPayloads[E] } }[EventName];

/** A listener over every event; narrow on `name` to get the payload's type. */
export type EventListener = <E extends EventName>(name: E, payload: EventPayloads[E]) => void;

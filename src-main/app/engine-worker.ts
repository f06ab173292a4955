/**
 * The engine worker as the app sees it: which calls it answers and how to start it. Every command
 * that loads a model, a dataset, tfjs, the native addon or LiteRT runs there, never on the caller's
 * thread, so the Electron main process and the web server stay responsive while it works. This
 * file holds types and the entry's location only; the handlers live in app/engine-job.ts.
 */
import type { CommandPayload } from '../common/contract';
import { EngineHost } from '../jobs/engine-host';
import type { ApiResults } from './api';
import type { EvaluateRequest, EvaluateResult, WorkProgress } from './evaluate-service';
import type { ReplayResult } from './replay-service';

/** The contract's commands the engine worker answers (the api forwards their validated payloads). */
export const ENGINE_COMMANDS = ['getInfo', 'describeModel', 'describeDataset', 'previewDataset', 'exportRun', 'checkFit'] as const;
export type EngineCommand = (typeof ENGINE_COMMANDS)[number];

export type EngineCalls = { [C in EngineCommand]: { payload: CommandPayload<C>; result: ApiResults[C]; progress: never } } & {
  evaluate: { payload: EvaluateRequest; result: EvaluateResult; progress: WorkProgress };
  replay: { payload: { runId: string; outDir: string }; result: ReplayResult; progress: never };
};

/** What the worker needs to open its own connection to the experiment store (SQLite WAL serves both). */
export interface EngineInit {
  dbPath: string;
  home: string;
}

/** The worker entry: built JavaScript in a packaged app (TOPIARY_ENGINE_JOB_ENTRY), TypeScript in the checkout. */
function engineJobEntry(): string {
  return process.env.TOPIARY_ENGINE_JOB_ENTRY ?? new URL('./engine-job.ts', import.meta.url).href;
}

/** An engine host for this store; its worker starts on the first call. */
export function createEngine(init: EngineInit, options: { cancelGraceMs?: number } = {}): EngineHost<EngineCalls> {
  return new EngineHost<EngineCalls>({ entry: engineJobEntry(), init, ...options });
}

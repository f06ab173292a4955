/**
 * The services every front door shares that need no engine: the store, run history and the run
 * queue. Loads no tfjs and no native addon (runs execute in worker threads unless an in-process
 * executor is injected), so the Electron main process can hold it; services.ts adds the in-process
 * executor for the CLI, workers and tests.
 */
import path from 'node:path';
import { openStore, type Store } from '../store/db';
import { HistoryService } from './history-service';
import { topiaryHome } from './paths';
import { RunService, type RunExecutor } from './run-service';
import { SettingsService } from './settings-service';
import type { GpuPeers } from './gpu-peers';

export interface AppServices {
  store: Store;
  history: HistoryService;
  runs: RunService;
  /** `<home>/runs`: each run's model and exports live in `<runsDir>/<runId>/`. */
  runsDir: string;
  close(): Promise<void>;
}

export interface StoreServicesOptions {
  dbPath: string;
  home?: string;
  /** Runs at once; default TOPIARY_MAX_RUNS or 1. */
  concurrency?: number;
  /** Runs in this thread through this function; without it each run gets a worker thread. */
  executeRun?: RunExecutor;
  /** GPU windows that may train runs (web mode). */
  gpuPeers?: GpuPeers;
}

export async function openStoreServices(opts: StoreServicesOptions): Promise<AppServices> {
  const home = opts.home ?? topiaryHome();
  // Checked before anything runs: a damaged file found only at a run's first write loses the run.
  const store = openStore(opts.dbPath, { verify: true });
  // Runs whose process died (crash, kill -9, power loss) are marked interrupted, history kept.
  store.markInterruptedRuns();
  const runsDir = path.join(home, 'runs');
  const settings = new SettingsService(home);
  // Runs at once: one by default (they share the CPU); TOPIARY_MAX_RUNS raises it on bigger machines.
  const concurrency = opts.concurrency ?? (Number(process.env.TOPIARY_MAX_RUNS) || 1);
  const runs = new RunService(store, {
    runsDir,
    concurrency,
    // TOPIARY_BACKEND over the settings file, read when each run starts (a change applies to the next run).
    ...(opts.gpuPeers ? { gpuPeers: opts.gpuPeers, gpuPreference: () => settings.trainingBackend() } : {}),
    ...(opts.executeRun ? { mode: 'in-process' as const, executeRun: opts.executeRun } : { mode: 'worker' as const }),
  });
  const history = new HistoryService(store, { runsDir });
  return {
    store,
    history,
    runs,
    runsDir,
    async close() {
      await runs.close();
      store.close();
    },
  };
}

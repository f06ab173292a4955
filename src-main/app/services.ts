/** Opens the app services every front door shares: the store, run history and the run queue. */
import path from 'node:path';
import { openStore, type Store } from '../store/db';
import { HistoryService } from './history-service';
import { topiaryHome } from './paths';
import { RunService } from './run-service';
/** The store's error, for front doors that tell a damaged database apart (they reach store/ only through app/). */
export { StoreError } from '../store/errors';

export interface AppServices {
  store: Store;
  history: HistoryService;
  runs: RunService;
  /** `<home>/runs`: each run's model and exports live in `<runsDir>/<runId>/`. */
  runsDir: string;
  close(): Promise<void>;
}

export async function openAppServices(opts: { dbPath: string; home?: string; mode?: 'worker' | 'in-process'; concurrency?: number }): Promise<AppServices> {
  const home = opts.home ?? topiaryHome();
  // Checked before anything runs: a damaged file found only at a run's first write loses the run.
  const store = openStore(opts.dbPath, { verify: true });
  // Runs whose process died (crash, kill -9, power loss) are marked interrupted, history kept.
  store.markInterruptedRuns();
  const runsDir = path.join(home, 'runs');
  // Runs at once: one by default (they share the CPU); TOPIARY_MAX_RUNS raises it on bigger machines.
  const concurrency = opts.concurrency ?? (Number(process.env.TOPIARY_MAX_RUNS) || 1);
  const runs = new RunService(store, { runsDir, mode: opts.mode ?? 'worker', concurrency });
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

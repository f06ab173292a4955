/**
 * Opens the app services for callers that may run the engine in this thread (the CLI, the fit
 * worker, tests): the store, run history and the run queue, runs in a worker or in-process.
 * The Electron main process uses store-services.ts instead, which never loads the engine.
 */
import { executeRun } from './run-pipeline';
import { openStoreServices, type AppServices } from './store-services';
/** The store's error, for front doors that tell a damaged database apart (they reach store/ only through app/). */
export { StoreError } from '../store/errors';

export type { AppServices } from './store-services';

export async function openAppServices(opts: { dbPath: string; home?: string; mode?: 'worker' | 'in-process'; concurrency?: number }): Promise<AppServices> {
  return openStoreServices({
    dbPath: opts.dbPath,
    home: opts.home,
    concurrency: opts.concurrency,
    ...(opts.mode === 'in-process' ? { executeRun } : {}),
  });
}

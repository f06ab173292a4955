// Worker entry for fit to budget: the search, then the winning run, all off the caller's thread.
// It opens its own connection to the experiment store (SQLite in WAL mode serves both).
import { serveJob } from '../jobs/worker-runtime';
import { fitToBudget, type FitAutoRequest } from './fit-service';
import { ProfileService } from './profile-service';
import { openAppServices } from './services';

export interface FitJob {
  jobId: string;
  dbPath: string;
  home: string;
  request: FitAutoRequest;
}

serveJob(async (raw, emit, signal) => {
  const job = raw as FitJob;
  const services = await openAppServices({ dbPath: job.dbPath, home: job.home, mode: 'in-process' });
  const off = services.runs.on((e) => emit({ kind: 'run', event: e }));
  try {
    return await fitToBudget(services, new ProfileService(services.store), job.request, {
      signal,
      onLog: (message) => emit({ kind: 'log', message }),
      onCandidate: (candidate) => emit({ kind: 'candidate', candidate }),
    });
  } finally {
    off();
    await services.close();
  }
});

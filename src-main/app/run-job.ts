// Worker entry for a pruning run: runs the pipeline and streams its events to the job host.
import { serveJob } from '../jobs/worker-runtime';
import { executeRun, type RunJob } from './run-pipeline';

serveJob((job, emit, signal) => executeRun(job as RunJob, emit, signal));

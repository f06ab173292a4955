// Worker entry for a pruning run: runs the pipeline and streams its events to the job host; a GPU
// window, when the host has one, trains the run through host calls (./run/gpu-link.ts).
import { serveJob } from '../jobs/worker-runtime';
import { executeRun, type RunJob } from './run-pipeline';
import { hostGpuLink } from './run/gpu-link';

serveJob((job, emit, signal, callHost) => executeRun(job as RunJob, emit, signal, hostGpuLink(callHost)));

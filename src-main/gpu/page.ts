/**
 * The GPU engine page (gpu.html): picks WebGPU or WebGL (`?backend=webgpu|webgl|auto`), self-tests
 * it against the cpu backend, shows what it found, and exposes the engine to whoever drives the
 * window (the e2e tests) as `window.topiaryGpu`. Opened with `?token=` (web mode's access token,
 * as the app page's hidden GPU frame does), it also serves runs as a GPU peer of the server (./peer.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { GpuBackendChoice, GpuInfo } from '../common/contract/gpu';
import { initGpu } from './backend';
import { runConformance, CONFORMANCE_CASES } from './conformance';
import { runFinetuneJob, type GpuFinetuneJob, type GpuFinetuneResult } from './job';
import { capPool, fitBatchToGpu, type GpuBatchFit, type GpuBatchFitOptions } from './memory';
import { trainSpeed } from './speed';
import { gpuSummary } from './summary';
import { servePeer } from './peer';

/** What the page exposes as window.topiaryGpu once it has chosen (or given up on) a GPU. */
export interface GpuWindowApi {
  info: GpuInfo;
  conformance: typeof runConformance;
  cases: string[];
  memory: () => tf.MemoryInfo;
  /** LeNet-5 training samples/s on `backend` (the bench's GPU row); the chosen backend is active again after. */
  trainSpeed: (backend: string, opts?: Parameters<typeof trainSpeed>[0]) => ReturnType<typeof trainSpeed>;
  /** Runs a fine-tuning job on the chosen GPU backend (the cpu backend when none). */
  finetune: (job: GpuFinetuneJob) => Promise<GpuFinetuneResult & { adapter?: string }>;
  /**
   * The largest batch <= the job's batch size whose training step fits `limitBytes` on the chosen
   * backend (memory.ts); `opts` overrides what is read from the job (probe size, optimizer, task).
   */
  fitBatch: (job: Pick<GpuFinetuneJob, 'model' | 'cfg'>, limitBytes: number, opts?: Partial<GpuBatchFitOptions>) => Promise<GpuBatchFit & { pool: string }>;
}

declare global {
  interface Window {
    topiaryGpu?: GpuWindowApi;
  }
}

function choiceFromQuery(): GpuBackendChoice {
  const raw = new URLSearchParams(location.search).get('backend') ?? 'auto';
  if (raw === 'webgpu' || raw === 'webgl' || raw === 'auto') return raw;
  throw new Error(`?backend= must be webgpu, webgl or auto; got "${raw}"`);
}

function show(lines: string[], state: 'ready' | 'none' | 'error'): void {
  const status = document.getElementById('status');
  if (!status) return;
  status.textContent = lines.join('\n');
  status.dataset.state = state;
}

async function speedOn(backend: string, info: GpuInfo, opts?: Parameters<typeof trainSpeed>[0]) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend "${backend}" did not initialize`);
  try {
    return await trainSpeed(opts);
  } finally {
    await tf.setBackend(info.backend ?? 'cpu');
  }
}

async function main(): Promise<void> {
  show(['Looking for a GPU…'], 'none');
  try {
    const info = await initGpu(choiceFromQuery());
    window.topiaryGpu = { info, conformance: runConformance, cases: CONFORMANCE_CASES.map((c) => c.name), memory: () => tf.memory(), trainSpeed: (backend, opts) => speedOn(backend, info, opts),
      finetune: async (job) => {
        await tf.setBackend(info.backend ?? 'cpu');
        return { ...(await runFinetuneJob(job)), ...(info.adapter ? { adapter: info.adapter } : {}) };
      },
      fitBatch: async (job, limitBytes, opts) => {
        await tf.setBackend(info.backend ?? 'cpu');
        const model = await tf.loadLayersModel(
          tf.io.fromMemory({ modelTopology: job.model.topology as tf.io.ModelArtifacts['modelTopology'], weightSpecs: job.model.weightSpecs, weightData: Float32Array.from(job.model.weights).buffer }),
        );
        try {
          // The window trains under this limit from now on, its pool of freed textures too (probes included).
          const pool = capPool(limitBytes);
          const { batchSize, optimizer, task, loss } = job.cfg;
          return { ...(await fitBatchToGpu(model, { requested: batchSize, limitBytes, optimizer, ...(task ? { task } : {}), ...(loss ? { loss } : {}), ...opts })), pool };
        } finally {
          model.dispose();
        }
      },
    };
    show(gpuSummary(info), info.backend ? 'ready' : 'none');
    const token = new URLSearchParams(location.search).get('token');
    if (token) {
      const status = document.getElementById('status');
      const peerLine = document.createElement('p');
      peerLine.id = 'peer';
      status?.after(peerLine);
      void servePeer({ base: location.origin, token, info, onState: (line) => (peerLine.textContent = line) });
    }
  } catch (err) {
    show([`GPU check failed: ${err instanceof Error ? err.message : String(err)}`], 'error');
  }
}

void main();

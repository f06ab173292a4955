/**
 * Latency of .tflite files in LiteRT (at each file's own batch, 1 for app exports) (@litertjs/core, wasm), timed interleaved until the
 * medians are stable (engine/measure/stable.ts), for speedup receipts.
 *
 * What this LiteRT build lets us choose (checked on @litertjs/core 2.5.3 under Node 20): the
 * 'wasm' accelerator is the XNNPACK delegate with the builtin kernels behind it, and the compile
 * options (`accelerator`, `cpuOptions.numThreads`, `gpuOptions`, `webNNOptions`) have no switch
 * to turn XNNPACK off. Node 20 lacks relaxed SIMD, which the threaded wasm build requires, so the
 * single-threaded build runs and `numThreads` cannot add threads.
 */
import os from 'node:os';
import { ConfigError } from '../../common/errors';
import { readTflite } from '../../engine/export/tflite/index';
import { timeUntilStable, type StableTiming, type StableTimingOptions } from '../../engine/measure/stable';
import { loadLiteRtNode } from './litert';

export const XNNPACK_OFF_NOTE = '@litertjs/core exposes no XNNPACK switch: its wasm accelerator always runs the XNNPACK delegate';

export interface TfliteTimingResult {
  timings: StableTiming[];
  runtime: string;
  threads: number;
  xnnpack: 'on';
  xnnpackOffNote: string;
  loadAverage: number | null;
}

/** Deterministic input values for a file's first input (float32 or uint8). */
function inputFor(bytes: Uint8Array, label: string): { data: Float32Array<ArrayBuffer> | Uint8Array<ArrayBuffer>; shape: number[] } {
  const info = readTflite(bytes, label);
  const t = info.tensors[info.inputs[0]];
  if (!t) throw new ConfigError(`${label}: the model has no input tensor`);
  if (t.shape.some((d) => d < 1)) throw new ConfigError(`${label}: input shape [${t.shape.join(', ')}] is not static`);
  // The file's own shape: a batch-N export (exportTflite `batch`) is timed at N samples a call.
  const shape = t.shape.slice();
  const n = shape.reduce((a, d) => a * d, 1);
  if (t.dtype === 'uint8') return { data: Uint8Array.from({ length: n }, (_, i) => (i * 37) % 256), shape };
  if (t.dtype !== 'float32') throw new ConfigError(`${label}: input type ${t.dtype} cannot be fed by LiteRT.js (float32 or uint8 only)`);
  return { data: Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 100), shape };
}

/**
 * Compiles every file once and times one inference each at the file's own batch (input copied in, output read
 * back), interleaved, until every median's CI is within the target or the budget is spent.
 * @example const { timings: [dense, pruned] } = await timeTfliteFiles([denseBytes, prunedBytes], { budgetMs: 3000 })
 */
export async function timeTfliteFiles(files: Uint8Array[], opts: StableTimingOptions & { threads?: number } = {}): Promise<TfliteTimingResult> {
  const { lib, version } = await loadLiteRtNode();
  const threads = opts.threads ?? 1;
  const compiled: Awaited<ReturnType<typeof lib.loadAndCompile>>[] = [];
  try {
    const runs: (() => Promise<void>)[] = [];
    for (const [i, bytes] of files.entries()) {
      const input = inputFor(bytes, `file ${i + 1}`);
      const m = await lib.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: threads } });
      compiled.push(m);
      runs.push(async () => {
        const t = new lib.Tensor(input.data, input.shape);
        try {
          const outs = await m.run([t]);
          for (const o of outs) {
            o.toTypedArray();
            o.delete();
          }
        } finally {
          t.delete();
        }
      });
    }
    const load = os.loadavg()[0];
    const timings = await timeUntilStable(runs, opts);
    return {
      timings,
      runtime: `litert ${version} (wasm, XNNPACK)`,
      threads,
      xnnpack: 'on',
      xnnpackOffNote: XNNPACK_OFF_NOTE,
      loadAverage: Number.isFinite(load) && load > 0 ? Math.round(((load + os.loadavg()[0]) / 2) * 100) / 100 : null,
    };
  } finally {
    for (const m of compiled) m.delete();
  }
}

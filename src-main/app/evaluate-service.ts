/** Accuracy, loss and latency of a model on a dataset. */
import { evaluate, measureLatency, type LatencyResult } from '../engine/measure';
import type { InputScale, InputScaleChoice, ResizeMode } from '../common/input-prep';
import { currentBackend } from '../node/backend';
import { openModel } from './model-service';
import { loadDatasetForModel } from './model-data';

export interface EvaluateRequest {
  model: string;
  data: string;
  batchSize?: number;
  /** Evaluate on at most this many test samples. */
  limit?: number;
  latencyRuns?: number;
  latencyBatch?: number;
  /** Range 8-bit inputs are mapped to; default auto (resolved against the model). */
  inputScale?: InputScaleChoice;
  /** How image folders are fitted to the model input; default crop. */
  resize?: ResizeMode;
}

export interface EvaluateResult {
  model: { source: string; sha256: string };
  data: { source: string; testSamples: number; classNames: string[]; inputScale: InputScale; resize: ResizeMode; warnings: string[] };
  backend: string;
  accuracy: number;
  loss: number;
  samples: number;
  latency: LatencyResult[];
}

export interface WorkProgress {
  phase: string;
  done: number;
  total: number;
}

export async function evaluateModel(
  req: EvaluateRequest,
  hooks: { onProgress?: (p: WorkProgress) => void; signal?: AbortSignal } = {},
): Promise<EvaluateResult> {
  const loaded = await openModel(req.model);
  try {
    const { dataset, prep } = await loadDatasetForModel(loaded.model, req.data, {
      inputScale: req.inputScale,
      resize: req.resize,
      onProgress: (p) => hooks.onProgress?.({ phase: `load ${p.phase}`, done: p.done, total: p.total }),
    });
    const metrics = await evaluate(loaded.model, dataset.test, {
      batchSize: req.batchSize ?? 256,
      limit: req.limit,
      signal: hooks.signal,
      onProgress: (done, total) => hooks.onProgress?.({ phase: 'evaluate', done, total }),
    });
    hooks.onProgress?.({ phase: 'latency', done: 0, total: 1 });
    const latency = await measureLatency(loaded.model, {
      batchSizes: [1, req.latencyBatch ?? 64],
      runs: req.latencyRuns ?? 30,
    });
    hooks.onProgress?.({ phase: 'latency', done: 1, total: 1 });
    return {
      model: { source: loaded.source, sha256: loaded.sha256 },
      data: {
        source: dataset.source, testSamples: dataset.test.size, classNames: dataset.classNames,
        inputScale: prep.inputScale, resize: prep.resize, warnings: dataset.warnings,
      },
      backend: currentBackend()?.name ?? 'unknown',
      accuracy: metrics.accuracy,
      loss: metrics.loss,
      samples: metrics.samples,
      latency,
    };
  } finally {
    loaded.model.dispose();
  }
}

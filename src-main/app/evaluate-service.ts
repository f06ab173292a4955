/** Accuracy, loss and latency of a model on a dataset. */
import { classSide, evaluate, measureLatency, type LatencyResult } from '../engine/measure';
import type { ClassSide } from '../common/contract/classes';
import type { InputScale, InputScaleChoice, ResizeMode } from '../common/input-prep';
import { currentBackend } from '../node/backend';
import { resolveTask, type Task } from '../engine/task';
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
  /** What the model predicts; read from its output layer when absent. */
  task?: Task;
}

export interface EvaluateResult {
  model: { source: string; sha256: string };
  data: { source: string; testSamples: number; classNames: string[]; targetNames?: string[]; inputScale: InputScale; resize: ResizeMode; warnings: string[] };
  backend: string;
  task: Task;
  /** Classification: fraction correct. Regression: R² (as in engine/measure/evaluate). */
  accuracy: number;
  /** Cross-entropy, or MSE for a regressor. */
  loss: number;
  /** Regression only. */
  mae?: number;
  rmse?: number;
  r2?: number;
  samples: number;
  /** Classification: per-class accuracy, support and confusion[label][predicted], labelled by the dataset's class names (else indices). */
  classes?: ClassSide & { labels: string[] };
  /** What ran the evaluation's forward passes: "tfjs" or the native forward pass ("native graph step"); each latency row has its own path. */
  path: string;
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
    const task = resolveTask(loaded.model, req.task, req.model);
    const { dataset, prep } = await loadDatasetForModel(loaded.model, req.data, {
      task,
      inputScale: req.inputScale,
      resize: req.resize,
      onProgress: (p) => hooks.onProgress?.({ phase: `load ${p.phase}`, done: p.done, total: p.total }),
    });
    const metrics = await evaluate(loaded.model, dataset.test, {
      batchSize: req.batchSize ?? 256,
      limit: req.limit,
      signal: hooks.signal,
      task,
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
        ...(dataset.targetNames ? { targetNames: dataset.targetNames } : {}),
        inputScale: prep.inputScale, resize: prep.resize, warnings: dataset.warnings,
      },
      backend: currentBackend()?.name ?? 'unknown',
      task,
      accuracy: metrics.accuracy,
      loss: metrics.loss,
      ...(task === 'regression' ? { mae: metrics.mae, rmse: metrics.rmse, r2: metrics.r2 } : {}),
      samples: metrics.samples,
      ...(task === 'classification' && metrics.confusion
        ? { classes: { labels: classLabels(dataset.classNames, metrics.confusion.length), ...classSide(metrics.confusion) } }
        : {}),
      path: metrics.path,
      latency,
    };
  } finally {
    loaded.model.dispose();
  }
}

/** The dataset's class names when there is one per class, else the indices as text. */
function classLabels(names: readonly string[], classes: number): string[] {
  return names.length === classes ? [...names] : Array.from({ length: classes }, (_, i) => String(i));
}

/**
 * A fine-tuning job as plain JSON, so it can cross into the GPU window (page.evaluate today, HTTP
 * from the job host later): the model as tfjs artifacts, the keep-masks by weight name, the
 * samples, the config. The window loads the model on its GPU backend, runs the engine's own loop
 * (finetuneMasked: masks enforced after every step) and hands back every weight and the history.
 */
import * as tf from '@tensorflow/tfjs';
import { arraySplit } from '../engine/data';
import type { FinetuneConfig } from '../engine/prune/types';
import { finetuneMasked, type EpochRecord } from '../engine/finetune/trainer';

export interface GpuFinetuneJob {
  /** model.save(tf.io.withSaveHandler(...))'s artifacts, weights as float32 values. */
  model: { topology: unknown; weightSpecs: tf.io.WeightsManifestEntry[]; weights: number[] };
  /** Keep-masks (1 keep, 0 pruned) by the weight's saved name (LayerVariable.originalName, e.g. conv1/kernel). */
  masks: { name: string; keep: number[] }[];
  data: { x: number[]; y: number[]; sampleSize: number };
  cfg: FinetuneConfig;
  seed: number;
}

export interface GpuFinetuneResult {
  backend: string;
  /** Every weight after training by its saved name, in model.weights order. */
  weights: { name: string; values: number[] }[];
  history: EpochRecord[];
  steps: number;
  ms: number;
}

/** The artifacts of `model` as a job's `model` field. */
export async function jobModel(model: tf.LayersModel): Promise<GpuFinetuneJob['model']> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  if (!saved?.weightSpecs || !saved.weightData) throw new Error('the model saved no weights');
  if (saved.weightSpecs.some((s) => s.dtype !== 'float32')) throw new Error('GPU jobs carry float32 weights only');
  const data = saved.weightData instanceof ArrayBuffer ? saved.weightData : new Blob(saved.weightData as ArrayBuffer[]);
  const buffer = data instanceof ArrayBuffer ? data : await data.arrayBuffer();
  return { topology: saved.modelTopology, weightSpecs: saved.weightSpecs, weights: Array.from(new Float32Array(buffer)) };
}

/**
 * Runs the job on the active backend.
 * @example await tf.setBackend('webgl'); const r = await runFinetuneJob(job)
 */
export async function runFinetuneJob(job: GpuFinetuneJob): Promise<GpuFinetuneResult> {
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: job.model.topology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: job.model.weightSpecs,
    weightData: Float32Array.from(job.model.weights).buffer,
  };
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  const byOriginal = new Map(model.weights.map((w) => [(w as unknown as { originalName: string }).originalName, w]));
  const masks = new Map<string, tf.Tensor>();
  const t0 = performance.now();
  try {
    for (const m of job.masks) {
      const w = byOriginal.get(m.name);
      if (!w) throw new Error(`mask for ${m.name}: the model has no such weight`);
      masks.set(w.name, tf.tensor(m.keep, w.shape as number[]));
    }
    const data = arraySplit(Float32Array.from(job.data.x), Int32Array.from(job.data.y), job.data.sampleSize);
    const r = await finetuneMasked(model, data, job.cfg, { masks, seed: job.seed, fusedTrainer: false });
    return {
      backend: tf.getBackend(),
      weights: model.weights.map((w) => ({ name: (w as unknown as { originalName: string }).originalName, values: Array.from(w.read().dataSync() as Float32Array) })),
      history: r.history,
      steps: r.steps,
      ms: performance.now() - t0,
    };
  } finally {
    for (const m of masks.values()) m.dispose();
    model.dispose();
  }
}

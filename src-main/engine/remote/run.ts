/**
 * Both ends of a delegated `runPruning` call, over the wire types of ./wire.ts. The run (Node) turns
 * its model and training split into a request and applies the answer back; the GPU window loads
 * the model on its backend, runs the engine's own runPruning (schedules, re-pruning, structured
 * rebuilds, masks enforced after every step) and answers with the trained model. Pure tfjs: the
 * same code runs in the browser and in a Node test.
 */
import * as tf from '@tensorflow/tfjs';
import { CancelledError } from '../../common/errors';
import { arraySplit, takeRange, type Dataset } from '../data';
import { runPruning, type RunPruningResult } from '../prune/run';
import type { PruneConfig, PruningPlan } from '../prune/types';
import { kernelSparsity } from '../prune/weights';
import type { GpuProgress, GpuPruningRequest, GpuPruningResponse, GpuTrainingDevice, WireModel, WireTrain } from './wire';

/** The model's artifacts as the wire carries them (any weight dtype; bytes as tfjs saves them). */
export async function wireModel(model: tf.LayersModel): Promise<WireModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  if (!saved?.weightSpecs || !saved.weightData) throw new Error('the model saved no weights');
  const data = saved.weightData;
  const buffers = data instanceof ArrayBuffer ? [data] : (data as ArrayBuffer[]);
  const total = buffers.reduce((a, b) => a + b.byteLength, 0);
  const weights = new Uint8Array(total);
  let at = 0;
  for (const b of buffers) {
    weights.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return { topology: saved.modelTopology, weightSpecs: saved.weightSpecs, weights };
}

/** A LayersModel from wire artifacts, on the active backend. */
export function loadWireModel(m: WireModel): Promise<tf.LayersModel> {
  const weightData = m.weights.buffer.slice(m.weights.byteOffset, m.weights.byteOffset + m.weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: m.topology as tf.io.ModelArtifacts['modelTopology'], weightSpecs: m.weightSpecs, weightData }));
}

/** The dataset's training split as arrays (the window needs the samples; the test split stays in Node). */
export function wireTrain(dataset: Dataset): WireTrain {
  const all = takeRange(dataset.train, 0, dataset.train.size);
  const yPer = dataset.train.size > 0 ? all.y.length / dataset.train.size : 1;
  return {
    x: all.x,
    y: all.y,
    yPer,
    sampleShape: dataset.sampleShape,
    name: dataset.name,
    source: dataset.source,
    classNames: dataset.classNames,
    ...(dataset.targetNames ? { targetNames: dataset.targetNames } : {}),
  };
}

/** The request for `runPruning(model, dataset, config)`. */
export async function pruningRequest(model: tf.LayersModel, dataset: Dataset, config: PruneConfig): Promise<GpuPruningRequest> {
  return { model: await wireModel(model), train: wireTrain(dataset), config };
}

/**
 * The plan with each mask step's `weight` renamed through `names`. Plans name a weight by its
 * variable (`fc1/kernel`, or `fc1/kernel_3` where other models were loaded first); the two ends'
 * variables differ in that suffix, so the window answers saved names and the run maps them back.
 */
function renameWeights(plan: PruningPlan, names: Map<string, string>): PruningPlan {
  return { ...plan, steps: plan.steps.map((s) => ('weight' in s && typeof s.weight === 'string' && names.has(s.weight) ? { ...s, weight: names.get(s.weight)! } : s)) };
}

const savedNames = (m: tf.LayersModel) => new Map(m.weights.map((w) => [w.name, w.originalName]));

/**
 * The window's side: runs the request on the active backend and answers with the trained model.
 * @example await tf.setBackend('webgl'); const res = await servePruningRequest(req, device, { onProgress })
 */
export async function servePruningRequest(
  req: GpuPruningRequest,
  device: GpuTrainingDevice,
  opts: {
    signal?: AbortSignal;
    onProgress?: (p: GpuProgress) => void;
    /**
     * Adjusts the config to the window before anything runs (gpu/memory.ts: the batch that fits
     * the GPU memory limit); its note rides on the first progress event, so the run logs it.
     */
    prepare?: (model: tf.LayersModel, config: PruneConfig) => Promise<{ config: PruneConfig; note?: string }>;
  } = {},
): Promise<GpuPruningResponse> {
  const model = await loadWireModel(req.model);
  const t = req.train;
  const split = arraySplit(t.x, t.y, t.x.length / Math.max(1, t.y.length / t.yPer), t.yPer);
  const dataset: Dataset = {
    name: t.name,
    source: t.source,
    sampleShape: t.sampleShape,
    classNames: t.classNames,
    ...(t.targetNames ? { targetNames: t.targetNames } : {}),
    train: split,
    test: arraySplit(new Float32Array(0), t.y instanceof Int32Array ? new Int32Array(0) : new Float32Array(0), 1, t.yPer),
    warnings: [],
  };
  let result: RunPruningResult | undefined;
  try {
    const prepared = opts.prepare ? await opts.prepare(model, req.config) : { config: req.config };
    const config = prepared.config;
    let note = prepared.note;
    result = await runPruning(model, dataset, config, {
      signal: opts.signal,
      onProgress: (p) => {
        if (opts.signal?.aborted) throw new CancelledError();
        // Structured pruning builds a new model; its widths are reported when the run ends.
        const layerSparsity = p.phase === 'prune' && config.granularity !== 'structured' ? kernelSparsity(model) : undefined;
        const notes = [note, p.note].filter(Boolean).join('; ');
        note = undefined;
        opts.onProgress?.({ ...p, ...(layerSparsity ? { layerSparsity } : {}), ...(notes ? { note: notes } : {}) });
      },
    });
    return {
      model: await wireModel(result.model),
      plan: renameWeights(result.plan, savedNames(model)),
      history: result.history,
      stoppedEarly: result.stoppedEarly,
      ...(result.structured ? { structured: result.structured } : {}),
      training: result.training,
      ...(result.diverged ? { diverged: result.diverged } : {}),
      device,
    };
  } finally {
    if (result && result.model !== model) result.model.dispose();
    model.dispose();
  }
}

/**
 * The run's side: the answer as a RunPruningResult. Unstructured and N:M prune in place (the run
 * measures and exports `original` afterwards), so the trained weights are written into it;
 * structured pruning returns the new, smaller model.
 */
export async function applyPruningResponse(original: tf.LayersModel, res: GpuPruningResponse, config: PruneConfig): Promise<RunPruningResult & { device: GpuTrainingDevice }> {
  const trained = await loadWireModel(res.model);
  let model = trained;
  if (config.granularity !== 'structured') {
    try {
      const names = (m: tf.LayersModel) => m.weights.map((w) => w.originalName);
      const want = names(original);
      const got = names(trained);
      if (want.join('\n') !== got.join('\n')) throw new Error(`the GPU window answered a model with other weights (${got.length}: ${got.slice(0, 4).join(', ')}…) than the run's (${want.length}: ${want.slice(0, 4).join(', ')}…)`);
      original.setWeights(trained.getWeights());
      model = original;
    } finally {
      trained.dispose();
    }
  }
  return {
    model,
    plan: renameWeights(res.plan, new Map(original.weights.map((w) => [w.originalName, w.name]))),
    history: res.history,
    stoppedEarly: res.stoppedEarly,
    ...(res.structured ? { structured: res.structured } : {}),
    training: res.training,
    ...(res.diverged ? { diverged: res.diverged } : {}),
    device: res.device,
  };
}

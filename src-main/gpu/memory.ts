/**
 * GPU memory capping: the largest training batch (<= the one asked for) whose step fits the user's
 * GPU memory limit (settings.json's gpuMemoryLimitMiB), measured on the active backend rather than
 * estimated from shapes.
 *
 * Two probe steps (forward + backward, gradients computed and dropped, nothing applied) at batch
 * b and 2b give the step's memory as a line, step(n) = fixed + n * perSample; with what is already
 * held (the model's weights, masks, data on the backend) and the optimizer's state (Adam keeps two
 * moments per weight), the batch is the largest n with
 *
 *   held + optimizerState + fixed + n * perSample <= limit.
 *
 * What a probe counts: tf.profile's peakBytes, every tensor tfjs holds at the step's peak in its
 * own size, on whichever backend. The GPU backends' own counters were checked and are not used
 * for the fit: tf.memory().numBytesInGPU (WebGL: bytes of the textures in use; WebGPU: of the
 * buffers in use) can only be read between kernels, not at the peak inside a backward pass, and
 * the pools (WebGL numBytesInGPUAllocated, WebGPU numBytesAllocatedInGPU) keep freed textures and
 * buffers for reuse by shape, so how much they grow depends on what ran before, not on the step.
 * The pool's growth during probing is reported (measured.poolGrowthBytes), and capPool() keeps
 * WebGL's pool itself under the limit. Memory the driver keeps
 * for itself (shader programs, command buffers) is invisible to tfjs and not counted. On WebGPU
 * without the timestamp-query feature tfjs warns once, on the console, that kernel times read 0
 * while profiling; the byte counts are unaffected.
 *
 * Probes do not train: inputs are zeros, no update is applied, and the statistics BatchNormalization
 * layers move in training mode are put back, so the model is exactly as it was.
 */
import * as tf from '@tensorflow/tfjs';
import { bytes } from '../common/format';
import { ConfigError } from '../common/errors';
import type { RegressionLoss, Task } from '../engine/task';
import { objectiveFor } from '../engine/finetune/loss';
import { sampleShapeOf } from '../engine/finetune/batches';

const MIB = 1024 * 1024;

/** Samples in the first probe step (the second has twice as many); small, so probing is quick and itself fits. */
export const PROBE_BATCH = 8;

export interface GpuBatchFitOptions {
  /** The batch size the run asked for. */
  requested: number;
  /** The cap, in bytes (gpuMemoryLimitMiB * 2^20). */
  limitBytes: number;
  /** Adam keeps two moments per trainable weight; SGD none. Default adam. */
  optimizer?: 'adam' | 'sgd';
  task?: Task;
  loss?: RegressionLoss;
  /** Samples in the first probe (default PROBE_BATCH); capped at `requested`. */
  probeBatch?: number;
}

export interface GpuBatchMeasure {
  backend: string;
  /** Batch sizes probed, and the bytes each probe step needed on top of what was held. */
  probes: { batch: number; stepBytes: number }[];
  /** Bytes one more sample adds to a step. */
  perSampleBytes: number;
  /** Bytes of a step that do not grow with the batch (weight gradients, kernel workspaces). */
  stepFixedBytes: number;
  /** Bytes tfjs held on the backend before the step (weights, masks, data). */
  heldBytes: number;
  /** Optimizer state the first update will create (0 when the optimizer exists already: then it is held). */
  optimizerBytes: number;
  /** How much the GPU backend's texture / buffer pool grew while probing; undefined on CPU backends. */
  poolGrowthBytes?: number;
}

export interface GpuBatchFit {
  /** The batch to train with: the largest <= requested that fits. */
  batchSize: number;
  requested: number;
  limitBytes: number;
  /** Predicted bytes on the backend during a step at batchSize. */
  estimateBytes: number;
  measured: GpuBatchMeasure;
  /** Set when the batch was lowered: what was done and why, for the run's record. */
  note?: string;
}

/** The GPU pool's size now (WebGL textures, WebGPU buffers); undefined on CPU backends. */
function gpuAllocatedBytes(): number | undefined {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number; numBytesAllocatedInGPU?: number };
  return m.numBytesInGPUAllocated ?? m.numBytesAllocatedInGPU;
}

/** Saved values of the weights a training-mode forward pass changes (BatchNormalization's moving statistics). */
function snapshotNonTrainable(model: tf.LayersModel): { restore(): void; dispose(): void } {
  const saved = model.nonTrainableWeights.map((w) => ({ w, value: tf.clone(w.read()) }));
  return {
    // write() shares the saved tensor's data with the variable; disposing the saved tensor after keeps it alive there.
    restore: () => saved.forEach(({ w, value }) => w.write(value)),
    dispose: () => saved.forEach(({ value }) => value.dispose()),
  };
}

/** Bytes one forward + backward pass at `batch` needs beyond what is held now. */
async function probeStep(model: tf.LayersModel, batch: number, task: Task, loss: RegressionLoss | undefined): Promise<number> {
  const objective = objectiveFor(model, task, loss);
  const shape = sampleShapeOf(model);
  const units = Number(model.outputs[0].shape.slice(1).reduce((a, d) => (a ?? 1) * (d ?? 1), 1));
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const heldBefore = tf.memory().numBytes;
  const profile = await tf.profile(() => {
    tf.tidy(() => {
      const x = tf.zeros([batch, ...shape]);
      const y = task === 'regression' ? tf.zeros([batch, units]) : tf.zeros([batch], 'int32');
      const { value, grads } = tf.variableGrads(() => objective.loss(objective.forward(model, x, true), y), vars);
      // Wait for the GPU, so a step that fails (out of memory, a lost context) fails here.
      value.dataSync();
      Object.values(grads).forEach((g) => g.dispose());
      value.dispose();
    });
  });
  return Math.max(0, profile.peakBytes - heldBefore);
}

/** Measures a training step of `model` on the active backend at two small batches (see the module comment). */
export async function measureStepMemory(model: tf.LayersModel, opts: Omit<GpuBatchFitOptions, 'limitBytes'>): Promise<GpuBatchMeasure> {
  const task = opts.task ?? 'classification';
  const b1 = Math.max(1, Math.min(opts.probeBatch ?? PROBE_BATCH, opts.requested));
  const b2 = Math.min(2 * b1, opts.requested);
  const heldBytes = tf.memory().numBytes;
  const trainableBytes = model.trainableWeights.reduce((a, w) => a + 4 * w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
  const optimizerBytes = (opts.optimizer ?? 'adam') === 'adam' ? 2 * trainableBytes : 0;
  const snapshot = snapshotNonTrainable(model);
  const probes: GpuBatchMeasure['probes'] = [];
  const poolBefore = gpuAllocatedBytes();
  try {
    probes.push({ batch: b1, stepBytes: await probeStep(model, b1, task, opts.loss) });
    if (b2 > b1) probes.push({ batch: b2, stepBytes: await probeStep(model, b2, task, opts.loss) });
  } finally {
    snapshot.restore();
    snapshot.dispose();
  }
  const poolAfter = gpuAllocatedBytes();
  const [p1, p2] = probes;
  // Two points give the slope; with one (requested <= 1) or a non-increasing pair, every byte is
  // charged to the samples, which overestimates (the safe side).
  const slope = p2 ? (p2.stepBytes - p1.stepBytes) / (p2.batch - p1.batch) : 0;
  const perSampleBytes = slope > 0 ? slope : p1.stepBytes / p1.batch;
  const stepFixedBytes = slope > 0 ? Math.max(0, p1.stepBytes - slope * p1.batch) : 0;
  const m: GpuBatchMeasure = { backend: tf.getBackend(), probes, perSampleBytes, stepFixedBytes, heldBytes, optimizerBytes };
  if (poolBefore !== undefined && poolAfter !== undefined) m.poolGrowthBytes = poolAfter - poolBefore;
  return m;
}

/** The limit as the settings give it (whole MiB), else as a size. */
const mib = (n: number) => (Number.isInteger(n / MIB) ? `${n / MIB} MiB` : bytes(n));

function measuredText(m: GpuBatchMeasure): string {
  const p = m.probes[0];
  return `measured on ${m.backend}: ${bytes(m.perSampleBytes * p.batch)} per ${p.batch} samples, plus ${bytes(m.heldBytes + m.optimizerBytes + m.stepFixedBytes)} for weights, optimizer state and gradients`;
}

/**
 * The largest training batch <= `requested` whose step fits `limitBytes` on the active backend,
 * measured (measureStepMemory). A ConfigError when not even batch 1 fits, saying by how much.
 * Leaves no tensor behind and the model unchanged.
 * @example const fit = await fitBatchToGpu(model, { requested: 64, limitBytes: 2048 * 2 ** 20 })
 *   // fit.batchSize 16, fit.note "batch 64 → 16 to fit the 2048 MiB GPU memory limit (measured on webgl: ...)"
 */
export async function fitBatchToGpu(model: tf.LayersModel, opts: GpuBatchFitOptions): Promise<GpuBatchFit> {
  if (!Number.isInteger(opts.requested) || opts.requested < 1) throw new ConfigError(`batch size must be a whole number >= 1, got ${opts.requested}`);
  if (!(opts.limitBytes > 0)) throw new ConfigError(`GPU memory limit must be > 0 bytes, got ${opts.limitBytes}`);
  const m = await measureStepMemory(model, opts);
  const base = m.heldBytes + m.optimizerBytes + m.stepFixedBytes;
  const at = (n: number) => base + n * m.perSampleBytes;
  const fits = Math.floor((opts.limitBytes - base) / m.perSampleBytes);
  if (fits < 1) {
    throw new ConfigError(
      `even batch 1 needs ~${bytes(at(1))} on ${m.backend}, over the ${mib(opts.limitBytes)} GPU memory limit (${measuredText(m)}); raise gpuMemoryLimitMiB in the settings, or train on the CPU`,
    );
  }
  const batchSize = Math.min(opts.requested, fits);
  const fit: GpuBatchFit = { batchSize, requested: opts.requested, limitBytes: opts.limitBytes, estimateBytes: at(batchSize), measured: m };
  if (batchSize < opts.requested) fit.note = `batch ${opts.requested} → ${batchSize} to fit the ${mib(opts.limitBytes)} GPU memory limit (${measuredText(m)})`;
  return fit;
}

/**
 * Keeps the backend's pool of freed GPU memory under the limit as well: WebGL keeps every freed
 * texture for reuse by shape, so its pool grows past what any one step holds (LeNet-5 on
 * SwiftShader: ~14 MB of textures after probes whose steps peaked at 2-4 MB). With
 * WEBGL_DELETE_TEXTURE_THRESHOLD at the limit, a texture freed while more than that is allocated
 * is deleted instead of pooled. tfjs-backend-webgpu 4.22 has no such setting (its buffer manager
 * always pools freed buffers), so on WebGPU the limit holds for the step's tensors only.
 * Returns what was done, for the run's record.
 */
export function capPool(limitBytes: number): string {
  const backend = tf.getBackend();
  if (backend === 'webgl') {
    tf.env().set('WEBGL_DELETE_TEXTURE_THRESHOLD', Math.floor(limitBytes));
    return `webgl: freed textures are deleted once more than ${mib(limitBytes)} is allocated`;
  }
  if (backend === 'webgpu') return `webgpu: freed buffers stay pooled (tfjs-backend-webgpu has no limit for its pool); the ${mib(limitBytes)} limit applies to each step's tensors`;
  return `${backend}: no GPU pool`;
}

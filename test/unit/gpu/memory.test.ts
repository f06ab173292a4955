/**
 * fitBatchToGpu's arithmetic and tensor discipline, on the cpu backend in Node (the measurement is
 * tfjs's own byte count, the same on every backend); the GPU backends are covered in Chromium by
 * test/e2e/gpu.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src-main/common/errors';
import { lenet5 } from '../../../src-main/engine/models';
import { objectiveFor } from '../../../src-main/engine/finetune/loss';
import { fitBatchToGpu, measureStepMemory } from '../../../src-main/gpu/memory';
import { fitConfigToGpu } from '../../../src-main/gpu/peer';
import { validatePruneConfig } from '../../../src-main/engine/prune/config';
import { initBackend } from '../../../src-main/node/backend';

const MIB = 2 ** 20;

beforeAll(async () => {
  await initBackend({ force: 'cpu' });
});

const weightsOf = (m: tf.LayersModel) => m.weights.map((w) => Array.from(w.read().dataSync()));

describe('measureStepMemory', () => {
  it('probes at 8 and 16 samples, finds a per-sample cost, and leaves the model and the tensor count as they were', async () => {
    const model = lenet5({ seed: 1 });
    const before = weightsOf(model);
    const tensors = tf.memory().numTensors;
    const m = await measureStepMemory(model, { requested: 64 });
    expect(m.backend).toBe('cpu');
    expect(m.probes.map((p) => p.batch)).toEqual([8, 16]);
    expect(m.probes[1].stepBytes).toBeGreaterThan(m.probes[0].stepBytes);
    // LeNet-5's layer outputs are ~30 KiB a sample in float32; a training step holds several times that.
    expect(m.perSampleBytes).toBeGreaterThan(30 * 1024);
    expect(m.perSampleBytes).toBeLessThan(1 * MIB);
    const trainable = model.trainableWeights.reduce((a, w) => a + 4 * w.shape.reduce<number>((p, d) => p * (d ?? 1), 1), 0);
    expect(m.optimizerBytes).toBe(2 * trainable);
    expect(m.heldBytes).toBeGreaterThanOrEqual(trainable);
    expect(m.poolGrowthBytes).toBeUndefined();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(weightsOf(model)).toEqual(before);
    model.dispose();
  });

  it("puts back BatchNormalization's moving statistics, which a training-mode pass moves", async () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [6], units: 8 }), tf.layers.batchNormalization(), tf.layers.dense({ units: 3, activation: 'softmax' })] });
    // Non-zero inputs would move them anyway; the probes use zeros, so start the statistics away from 0.
    const bn = model.layers[1];
    tf.tidy(() => bn.setWeights(bn.getWeights().map((w, i) => (i >= 2 ? tf.fill(w.shape, 0.5 + i) : w))));
    const before = weightsOf(model);
    const tensors = tf.memory().numTensors;
    await measureStepMemory(model, { requested: 32 });
    expect(weightsOf(model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });

  it('with a requested batch of 1 it probes once and charges every byte to the sample (the safe side)', async () => {
    const model = lenet5({ seed: 1 });
    const m = await measureStepMemory(model, { requested: 1, optimizer: 'sgd' });
    expect(m.probes.map((p) => p.batch)).toEqual([1]);
    expect(m.perSampleBytes).toBe(m.probes[0].stepBytes);
    expect(m.stepFixedBytes).toBe(0);
    expect(m.optimizerBytes).toBe(0);
    model.dispose();
  });
});

describe('fitBatchToGpu', () => {
  it('keeps the requested batch when it fits, with no note', async () => {
    const model = lenet5({ seed: 1 });
    const fit = await fitBatchToGpu(model, { requested: 64, limitBytes: 2048 * MIB, probeBatch: 2 });
    expect(fit.batchSize).toBe(64);
    expect(fit.note).toBeUndefined();
    expect(fit.estimateBytes).toBeLessThanOrEqual(2048 * MIB);
    model.dispose();
  });

  it('lowers the batch to the largest that fits and says so, with the limit and what was measured', async () => {
    const model = lenet5({ seed: 1 });
    const m = await measureStepMemory(model, { requested: 64, probeBatch: 4 });
    const base = m.heldBytes + m.optimizerBytes + m.stepFixedBytes;
    // Room for 20.5 samples: the answer is 20.
    const limitBytes = base + 20.5 * m.perSampleBytes;
    const fit = await fitBatchToGpu(model, { requested: 64, limitBytes, probeBatch: 4 });
    expect(fit.batchSize).toBe(20);
    expect(fit.estimateBytes).toBeLessThanOrEqual(limitBytes);
    expect(fit.estimateBytes + m.perSampleBytes).toBeGreaterThan(limitBytes);
    expect(fit.note).toMatch(/^batch 64 → 20 to fit the [\d.]+ (KiB|MiB) GPU memory limit \(measured on cpu: [\d.]+ (KiB|MiB) per 4 samples, plus [\d.]+ (KiB|MiB) for weights, optimizer state and gradients\)$/);
    model.dispose();
  });

  it('refuses with a ConfigError when even batch 1 does not fit', async () => {
    const model = lenet5({ seed: 1 });
    const tensors = tf.memory().numTensors;
    const err = await fitBatchToGpu(model, { requested: 32, limitBytes: 64 * 1024, probeBatch: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/^even batch 1 needs ~[\d.]+ (KiB|MiB) on cpu, over the 64.0 KiB GPU memory limit \(measured on cpu: .*\); raise gpuMemoryLimitMiB in the settings, or train on the CPU$/);
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });

  it('refuses a batch size or limit that is not one', async () => {
    const model = lenet5({ seed: 1 });
    await expect(fitBatchToGpu(model, { requested: 0, limitBytes: MIB })).rejects.toThrow('batch size must be a whole number >= 1, got 0');
    await expect(fitBatchToGpu(model, { requested: 8, limitBytes: -1 })).rejects.toThrow('GPU memory limit must be > 0 bytes, got -1');
    model.dispose();
  });

  it('the estimate covers a real Adam step at the chosen batch (peak tensor bytes), and is not wildly above it', async () => {
    const model = lenet5({ seed: 2 });
    const fit = await fitBatchToGpu(model, { requested: 24, limitBytes: 2048 * MIB, probeBatch: 4 });
    const objective = objectiveFor(model);
    const optimizer = tf.train.adam(1e-3);
    const x = tf.randomNormal([24, 28, 28, 1]);
    const y = tf.tensor1d(Array.from({ length: 24 }, (_, i) => i % 10), 'int32');
    const profile = await tf.profile(() => {
      optimizer.minimize(() => objective.loss(objective.forward(model, x, true), y));
    });
    x.dispose();
    y.dispose();
    // Peak of the real step (weights, Adam's new moments, activations, gradients) minus the batch's own input, which the probe makes inside.
    const real = profile.peakBytes;
    expect(fit.batchSize).toBe(24);
    expect(real).toBeLessThanOrEqual(fit.estimateBytes + 24 * 28 * 28 * 4);
    expect(real).toBeGreaterThan(0.5 * fit.estimateBytes);
    optimizer.dispose();
    model.dispose();
  });
});

describe('fitConfigToGpu (what the GPU window does with the settings\' limit before a run)', () => {
  it('lowers only the batch size, with a note naming both sizes; a limit that fits leaves the config as it was', async () => {
    const model = lenet5({ seed: 1 });
    const cfg = validatePruneConfig({ sparsity: 0.5, finetune: { epochs: 1, batchSize: 64 } }, model);
    const tensors = tf.memory().numTensors;
    const roomy = await fitConfigToGpu(model, cfg, 4096 * MIB);
    expect(roomy.config).toBe(cfg);
    expect(roomy.note).toBeUndefined();
    const m = await measureStepMemory(model, { requested: 64 });
    const tight = m.heldBytes + m.optimizerBytes + m.stepFixedBytes + 20 * m.perSampleBytes;
    const fitted = await fitConfigToGpu(model, cfg, tight);
    expect(fitted.config.finetune.batchSize).toBeLessThan(64);
    expect(fitted.config.finetune.batchSize).toBeGreaterThanOrEqual(16);
    expect({ ...fitted.config, finetune: { ...fitted.config.finetune, batchSize: 64 } }).toEqual(cfg);
    expect(fitted.note).toMatch(new RegExp(`^GPU: batch 64 → ${fitted.config.finetune.batchSize} to fit the `));
    expect(tf.memory().numTensors).toBe(tensors);
    model.dispose();
  });
});

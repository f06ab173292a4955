import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerNativeKernels, unregisterNativeKernels } from '../../../../src-main/engine/kernels/native-kernels';
import { registerWasmTrainingKernels, WASM_TRAINING_KERNELS } from '../../../../src-main/engine/kernels/wasm-training';
import { loadNativeAddon } from '../../../../src-main/node/native';
import { initBackend } from '../../../../src-main/node/backend';
import { randomValues } from './compare';

/** Every layer kind whose gradients used to be missing on wasm, plus the usual classifier head. */
function convNet(dropout: number): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [10, 10, 2], filters: 4, kernelSize: 3, strides: 1, activation: 'relu', useBias: true }));
  m.add(tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same', strides: 2, useBias: false }));
  m.add(tf.layers.batchNormalization());
  m.add(tf.layers.activation({ activation: 'relu6' }));
  m.add(tf.layers.conv2d({ filters: 6, kernelSize: 2, strides: 2, padding: 'same', activation: 'relu' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, padding: 'same' }));
  m.add(tf.layers.averagePooling2d({ poolSize: 1 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 8, activation: 'relu' }));
  if (dropout > 0) m.add(tf.layers.dropout({ rate: dropout }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

function batch(n: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const labels = Array.from({ length: n }, (_, i) => (i * 7 + seed) % 3);
  return {
    x: tf.tensor4d(randomValues(n * 10 * 10 * 2, seed), [n, 10, 10, 2]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 3)),
  };
}

async function trainSteps(backend: 'cpu' | 'wasm', init: tf.Tensor[] | null, steps: number) {
  await tf.setBackend(backend);
  const model = convNet(0);
  if (init) model.setWeights(init);
  const initial = model.getWeights().map((w) => w.clone());
  // A model does not own an optimizer instance it was compiled with: freed below with the model.
  const optimizer = tf.train.adam(0.01);
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  for (let s = 0; s < steps; s++) {
    const { x, y } = batch(6, s + 1);
    await model.trainOnBatch(x, y);
    x.dispose();
    y.dispose();
  }
  const trained = await Promise.all(model.getWeights().map((w) => w.data()));
  model.dispose();
  optimizer.dispose();
  return { initial, trained };
}

beforeAll(async () => {
  await initBackend({ force: 'wasm' });
});

describe('training on wasm', () => {
  it('registering twice adds nothing and keeps the kernels', () => {
    expect(registerWasmTrainingKernels()).toEqual([]);
    for (const name of Object.keys(WASM_TRAINING_KERNELS)) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });

  // With the native addon's kernels (when built) and with the wasm kernels alone.
  for (const native of [true, false]) {
    it(`3 Adam steps on wasm (${native ? 'native kernels' : 'wasm kernels only'}) and cpu from identical weights agree within 1e-4`, async () => {
      const { addon } = loadNativeAddon();
      if (native && addon) registerNativeKernels(addon);
      else unregisterNativeKernels();
      try {
        const cpu = await trainSteps('cpu', null, 3);
        const initValues = await Promise.all(cpu.initial.map((w) => w.data()));
        await tf.setBackend('wasm');
        const init = cpu.initial.map((w, i) => tf.tensor(initValues[i], w.shape));
        const wasm = await trainSteps('wasm', init, 3);
        expect(wasm.trained.length).toBe(cpu.trained.length);
        let maxDiff = 0;
        let maxMove = 0;
        for (let i = 0; i < cpu.trained.length; i++) {
          for (let j = 0; j < cpu.trained[i].length; j++) {
            maxDiff = Math.max(maxDiff, Math.abs(cpu.trained[i][j] - wasm.trained[i][j]));
            maxMove = Math.max(maxMove, Math.abs(cpu.trained[i][j] - initValues[i][j]));
          }
        }
        expect(maxMove).toBeGreaterThan(1e-3); // training really moved the weights
        expect(maxDiff).toBeLessThan(1e-4);
        [...cpu.initial, ...wasm.initial, ...init].forEach((t) => t.dispose());
      } finally {
        if (addon) registerNativeKernels(addon);
      }
    });
  }

  it('model.fit with dropout runs on wasm and 100 steps leak no tensors', async () => {
    await tf.setBackend('wasm');
    const model = convNet(0.25);
    const optimizer = tf.train.adam(0.01);
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const { x, y } = batch(8, 3);
    const first = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(Number.isFinite(first.history.loss[0] as number)).toBe(true);
    const before = tf.memory().numTensors;
    for (let s = 0; s < 100; s++) await model.trainOnBatch(x, y);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
    optimizer.dispose();
    x.dispose();
    y.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parsePruneConfig } from '../../../../src-main/common/prune-config';
import { logitsOf, outputIsProbabilities } from '../../../../src-main/engine/finetune/loss';
import { QatForward, qatUnsupportedReason } from '../../../../src-main/engine/finetune/qat';
import { runPruning } from '../../../../src-main/engine/prune/run';
import { setDefaultFusedTrainer } from '../../../../src-main/engine/finetune/trainer';
import { convnet, kernelOf, mlp, syntheticDataset } from '../prune/fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('quantization-aware fine-tuning', () => {
  it('finetune.qat: true fills the defaults; bad values name the field', () => {
    const cfg = parsePruneConfig({ finetune: { learningRate: 0.01, qat: true } });
    expect(cfg.finetune.qat).toEqual({ epochs: 1, learningRate: 0.001, momentum: 0.99, weights: 'per-channel' });
    expect(parsePruneConfig({ finetune: { qat: false } }).finetune.qat).toBeUndefined();
    expect(() => parsePruneConfig({ finetune: { qat: { momentum: 1.5 } } })).toThrow(/finetune\.qat\.momentum must be in \[0, 1\)/);
  });

  it('the fake-quantized forward pass stays close to the float model (int8 error only)', () => {
    const model = convnet();
    const x = tf.randomUniform([8, 6, 6, 4], 0, 1, 'float32', 3);
    const qat = new QatForward(model, { momentum: 0.9, weights: 'per-channel' }, outputIsProbabilities(model));
    const start = tf.memory().numTensors;
    const [q, f] = tf.tidy(() => [tf.softmax(qat.forward(x, true)).dataSync(), tf.softmax(logitsOf(model, x, false)).dataSync()]);
    qat.commit();
    let maxDiff = 0;
    for (let i = 0; i < q.length; i++) maxDiff = Math.max(maxDiff, Math.abs(q[i] - f[i]));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(0.05);
    // input, conv1 (ReLU fused), dw, conv2, out (logits before the softmax).
    expect([...qat.rangesNow().keys()]).toEqual(['input', 'conv1', 'dw', 'conv2', 'out']);
    // Ranges are numbers: nothing is left behind in tfjs.
    expect(tf.memory().numTensors).toBe(start);
    qat.dispose();
    x.dispose();
    model.dispose();
  });

  it('keeps every pruned weight exactly zero through the QAT epochs and records the tfjs path', async () => {
    const data = syntheticDataset([16], 3, 256, 64);
    const model = mlp();
    const res = await runPruning(model, data, parsePruneConfig({ sparsity: 0.8, finetune: { epochs: 1, batchSize: 32, learningRate: 0.01, qat: { epochs: 2 } } }));
    // The masks after the final prune, read before QAT changed anything: the zeros of every kernel.
    const zerosAfter = ['fc1', 'fc2', 'out'].map((l) => Array.from(kernelOf(model, l)).filter((v) => v === 0).length);
    const kernelsBefore = ['fc1', 'fc2', 'out'].map((l) => kernelOf(model, l).length);
    expect(zerosAfter.reduce((a, b) => a + b, 0) / kernelsBefore.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.75);
    const qatRecord = res.training.find((t) => t.qat);
    expect(qatRecord).toMatchObject({ path: 'tfjs', qat: { epochs: 2, weights: 'per-channel', activationPoints: 4 } });
    expect(res.history).toHaveLength(3);
    model.dispose();
  });

  it('masks stay exact after each QAT step (checked between steps)', async () => {
    const data = syntheticDataset([16], 3, 128, 32);
    const model = mlp();
    let zeroIdx: Map<string, number[]> | undefined;
    let atPrune: Float32Array | undefined;
    let checks = 0;
    await runPruning(model, data, parsePruneConfig({ sparsity: 0.7, finetune: { epochs: 0, batchSize: 16, qat: { epochs: 1, learningRate: 0.05 } } }), {
      onProgress: (p) => {
        if (p.phase === 'prune') {
          zeroIdx = new Map(['fc1', 'fc2', 'out'].map((l) => [l, Array.from(kernelOf(model, l)).flatMap((v, i) => (v === 0 ? [i] : []))]));
          atPrune = kernelOf(model, 'fc1').slice();
          return;
        }
        if (p.phase !== 'batch' || !zeroIdx) return;
        for (const [l, idx] of zeroIdx) {
          const k = kernelOf(model, l);
          for (const i of idx) expect(Math.abs(k[i])).toBe(0);
        }
        checks++;
      },
    });
    expect(checks).toBe(8);
    // And the kept weights did move (QAT trained something).
    const after = kernelOf(model, 'fc1');
    expect(after.some((v, i) => v !== atPrune![i])).toBe(true);
    model.dispose();
  });

  it('with a native step installed, the QAT epochs still run the tfjs step and say why', async () => {
    const data = syntheticDataset([16], 3, 64, 16);
    const model = mlp();
    setDefaultFusedTrainer(() => 'test factory: declined');
    try {
      const res = await runPruning(model, data, parsePruneConfig({ sparsity: 0.5, finetune: { epochs: 1, batchSize: 32, qat: true } }));
      expect(res.training[0].note).toBe('test factory: declined');
      expect(res.training[1]).toMatchObject({ path: 'tfjs', note: expect.stringMatching(/quantization-aware training .* runs in tfjs/) });
    } finally {
      setDefaultFusedTrainer(undefined);
      model.dispose();
    }
  });

  it('refuses a functional model with branches, naming why', () => {
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.dense({ units: 3 }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.add().apply([a, b]) as tf.SymbolicTensor });
    expect(qatUnsupportedReason(model)).toMatch(/needs a Sequential model/);
    model.dispose();
  });
});

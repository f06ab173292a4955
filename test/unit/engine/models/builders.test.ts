import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src-main/common/errors';
import { compileClassifier, labelTensor, lenet300100, lenet5, smallFunctionalNet } from '../../../../src-main/engine/models';

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describe('model builders', () => {
  it('the same seed gives identical weights and another seed different ones', () => {
    const a = lenet5({ seed: 11 });
    const b = lenet5({ seed: 11 });
    const c = lenet5({ seed: 12 });
    expect(weightsOf(b)).toEqual(weightsOf(a));
    expect(weightsOf(c)[0]).not.toEqual(weightsOf(a)[0]);
    // Layers of the same model get different seeds, so equal shapes do not start equal.
    [a, b, c].forEach((m) => m.dispose());
  });

  it('builds the documented shapes and parameter counts', () => {
    const l3 = lenet300100({ numClasses: 5 });
    expect(l3.outputs[0].shape).toEqual([null, 5]);
    expect(l3.countParams()).toBe(784 * 300 + 300 + 300 * 100 + 100 + 100 * 5 + 5);
    const l5 = lenet5();
    expect(l5.layers.map((l) => l.name)).toEqual(['conv1', 'pool1', 'conv2', 'pool2', 'flatten', 'fc1', 'fc2', 'fc3']);
    expect(l5.countParams()).toBe(61_706);
    const f = smallFunctionalNet();
    expect(f.inputs[0].shape).toEqual([null, 8, 8, 3]);
    expect(f.outputs[0].shape).toEqual([null, 4]);
    expect(f.layers.map((l) => l.getClassName())).toContain('Concatenate');
    [l3, l5, f].forEach((m) => m.dispose());
  });

  it('rejects invalid options with ConfigError', () => {
    expect(() => lenet300100({ numClasses: 1 })).toThrow(ConfigError);
    expect(() => lenet5({ inputShape: [784] })).toThrow(/image input shape/);
    expect(() => lenet300100({ seed: 1.5 })).toThrow(/seed must be an integer/);
  });

  it('compileClassifier trains on integer labels and lowers the loss', async () => {
    const model = compileClassifier(lenet300100({ seed: 3, inputShape: [4], numClasses: 2 }), { learningRate: 0.01 });
    const x = tf.tensor2d([
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [1, 0, 1, 0],
      [0, 1, 0, 1],
    ]);
    const y = labelTensor(Int32Array.from([0, 1, 0, 1]));
    const h = await model.fit(x, y, { epochs: 10, batchSize: 4, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]);
    expect(h.history.acc ?? h.history.accuracy).toHaveLength(10);
    tf.dispose([x, y]);
    // The model does not own its optimizer: Adam's moment variables are freed separately.
    model.optimizer.dispose();
    model.dispose();
  });
});

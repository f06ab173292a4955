import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { higherIsBetter, inferTask, resolveTask } from '../../../src-main/engine/task';

const mlp = (units: number, activation?: string) =>
  tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu' }),
      tf.layers.dense({ units, ...(activation ? { activation: activation as 'linear' } : {}) }),
    ],
  });

describe('task inference', () => {
  it('reads softmax and sigmoid heads as classifiers, a 1-unit linear head as a regressor', () => {
    const cases: [number, string | undefined, string][] = [
      [10, 'softmax', 'classification'],
      [1, 'sigmoid', 'classification'],
      [5, 'sigmoid', 'classification'],
      [1, undefined, 'regression'],
      [1, 'linear', 'regression'],
      [1, 'relu', 'regression'],
      // A k-unit linear head is a logits classifier unless told otherwise.
      [3, 'linear', 'classification'],
    ];
    for (const [units, act, want] of cases) {
      const m = mlp(units, act);
      expect(inferTask(m), `${units} ${act}`).toBe(want);
      m.dispose();
    }
  });

  it('a Softmax layer after a linear Dense is a classifier; Flatten/Dropout after the head do not change it', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3 }), tf.layers.softmax(), tf.layers.dropout({ rate: 0 })] });
    expect(inferTask(m)).toBe('classification');
    m.dispose();
  });

  it('a tanh head cannot be told: resolveTask asks for --task, and a given task wins', () => {
    const m = mlp(1, 'tanh');
    expect(inferTask(m)).toMatch(/ends in tanh/);
    expect(() => resolveTask(m, undefined, 'm.h5')).toThrow(/cannot tell whether model m\.h5 is a classifier or a regressor .*pass --task/);
    expect(resolveTask(m, 'regression')).toBe('regression');
    m.dispose();
  });

  it('errors are lower-is-better, accuracy and R² higher-is-better', () => {
    expect(higherIsBetter('accuracy')).toBe(true);
    expect(higherIsBetter('r2')).toBe(true);
    expect(higherIsBetter('mae')).toBe(false);
    expect(higherIsBetter('rmse')).toBe(false);
  });
});

import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { mostHurt } from '../../../../src-main/common/classes';
import { ConfigError } from '../../../../src-main/common/errors';
import type { DataSplit } from '../../../../src-main/engine/data';
import { classAccuracy, classReport, classSide, evaluate, topMistakes } from '../../../../src-main/engine/measure';

describe('per-class accuracy', () => {
  it('is each row\'s diagonal over its sum (recall), null for a class with no samples', () => {
    // Labels: 4 of class 0 (3 right), 2 of class 1 (both right), none of class 2.
    expect(classAccuracy([[3, 1, 0], [0, 2, 0], [0, 0, 0]])).toEqual([0.75, 1, null]);
  });

  it('classSide counts support per label and copies the matrix', () => {
    const m = [[3, 1], [2, 4]];
    const s = classSide(m);
    expect(s.support).toEqual([4, 6]);
    expect(s.accuracy).toEqual([0.75, 4 / 6]);
    m[0][0] = 99;
    expect(s.confusion![0][0]).toBe(3);
  });

  it('topMistakes lists off-diagonal cells, most first', () => {
    expect(topMistakes([[5, 2, 0], [1, 4, 3], [0, 3, 1]], 3)).toEqual([
      { label: 1, predicted: 2, count: 3 },
      { label: 2, predicted: 1, count: 3 },
      { label: 0, predicted: 1, count: 2 },
    ]);
    expect(topMistakes([[2, 0], [0, 2]], 5)).toEqual([]);
  });

  it('above the class limit a side keeps accuracy and mistakes but not the matrix', () => {
    const m = [[3, 1, 0], [0, 2, 0], [1, 0, 0]];
    const r = classReport(m, m, [], 2);
    expect(r.after.confusion).toBeUndefined();
    expect(r.after.accuracy).toEqual([0.75, 1, 0]);
    expect(r.after.mistakes).toEqual([{ label: 0, predicted: 1, count: 1 }, { label: 2, predicted: 0, count: 1 }]);
    expect(classReport(m, m).after.confusion).toEqual(m);
  });

  it('the report names classes from the dataset, else by index, and counts the samples', () => {
    const before = [[5, 0, 0], [0, 4, 1], [0, 0, 5]];
    const after = [[5, 0, 0], [2, 2, 1], [0, 1, 4]];
    const named = classReport(before, after, ['cat', 'dog', 'owl']);
    expect(named.labels).toEqual(['cat', 'dog', 'owl']);
    expect(named.samples).toBe(15);
    expect(named.before.accuracy).toEqual([1, 0.8, 1]);
    expect(named.after.accuracy).toEqual([1, 0.4, 0.8]);
    expect(classReport(before, after, ['too', 'few']).labels).toEqual(['0', '1', '2']);
  });

  it('mostHurt lists classes that lost accuracy, worst first, at most k', () => {
    const r = classReport([[5, 0, 0], [0, 4, 1], [0, 0, 5]], [[5, 0, 0], [2, 2, 1], [0, 1, 4]], ['cat', 'dog', 'owl']);
    const hurt = mostHurt(r, 3);
    expect(hurt.map((h) => h.label)).toEqual(['dog', 'owl']);
    expect(hurt[0].drop).toBeCloseTo(0.4, 10);
    expect(hurt[1]).toMatchObject({ index: 2, before: 1, after: 0.8 });
    expect(mostHurt(r, 1)).toHaveLength(1);
    // A class that improved or held is not "hurt".
    expect(mostHurt(classReport([[1, 1], [0, 2]], [[2, 0], [0, 2]]))).toEqual([]);
  });

  it('refuses matrices that cannot describe the same samples', () => {
    expect(() => classReport([[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 0]])).toThrow(ConfigError);
    expect(() => classReport([[1, 0], [0, 1]], [[1, 0], [0, 2]])).toThrow(/different sample counts \(2 vs 3\)/);
    expect(() => classReport([[1, 0], [0]], [[1, 0], [0, 1]])).toThrow(/not square/);
  });

  it('agrees with evaluate on a model whose predictions are known', async () => {
    // Dense(3) with an identity kernel on one-hot inputs predicts the input's class, except that
    // class 2's inputs are routed to class 1: class 2 is 0% right, the others 100%.
    const model = tf.sequential();
    model.add(tf.layers.dense({ inputShape: [3], units: 3, activation: 'softmax' }));
    const k = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 1, 0]]);
    const b = tf.zeros([3]);
    model.setWeights([k, b]);
    tf.dispose([k, b]);
    const split: DataSplit = {
      size: 9,
      take(idx) {
        const x = new Float32Array(idx.length * 3);
        const y = new Int32Array(idx.length);
        for (let j = 0; j < idx.length; j++) {
          x[j * 3 + (idx[j] % 3)] = 5;
          y[j] = idx[j] % 3;
        }
        return { x, y };
      },
    };
    const r = await evaluate(model, split);
    model.dispose();
    const side = classSide(r.confusion!);
    expect(side.accuracy).toEqual([1, 1, 0]);
    expect(side.support).toEqual([3, 3, 3]);
    expect(r.confusion![2]).toEqual([0, 3, 0]);
  });
});

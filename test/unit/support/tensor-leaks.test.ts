import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepTensors } from '../../support/tensor-leaks';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('the global tensor-leak check', () => {
  const held: tf.Tensor[] = [];
  afterAll(() => tf.dispose(held));

  it('lets a test keep tensors when it says why', () => {
    const before = tf.memory().numTensors;
    keepTensors('held for the file, freed in afterAll');
    held.push(tf.ones([2]));
    // Passing at all shows the exemption; the count shows there really was something to exempt.
    expect(tf.memory().numTensors).toBe(before + 1);
  });

  it('counts what a test leaves, not what the file holds: tensors from earlier tests are outside the window', () => {
    const t = tf.zeros([3]);
    expect(t.isDisposed).toBe(false);
    t.dispose();
    expect(held[0].isDisposed).toBe(false);
  });

  it('refuses an exemption without a reason', () => {
    expect(() => keepTensors('  ')).toThrow(/needs a reason/);
  });
});

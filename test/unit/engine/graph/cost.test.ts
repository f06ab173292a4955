import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layerMacs, modelMacs } from '../../../../src-main/engine/graph/cost';
import { analyzeModel } from '../../../../src-main/engine/analyze';
import { lenet5 } from '../../../../src-main/engine/models/lenet';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('MAC counts', () => {
  it('LeNet-5 costs 416,520 MACs per sample, conv1 117,600 of them', () => {
    const model = lenet5({ seed: 1 });
    expect(layerMacs(model.getLayer('conv1'))).toBe(5 * 5 * 1 * 6 * 28 * 28);
    expect(modelMacs(model)).toBe(416_520);
    model.dispose();
  });

  it('depthwise and separable convolutions count one MAC per kernel weight per output position', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.depthwiseConv2d({ inputShape: [6, 6, 4], kernelSize: 3, depthMultiplier: 2, name: 'dw' }),
        tf.layers.separableConv2d({ filters: 5, kernelSize: 3, name: 'sep' }),
      ],
    });
    expect(layerMacs(model.getLayer('dw'))).toBe(3 * 3 * 4 * 2 * 4 * 4);
    expect(layerMacs(model.getLayer('sep'))).toBe((3 * 3 * 8 + 8 * 5) * 2 * 2);
    model.dispose();
  });

  it('counts every layer exactly as the analyzer does, transposed and recurrent layers included', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2dTranspose({ inputShape: [4, 4, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same', name: 'up' }),
        tf.layers.reshape({ targetShape: [64, 3] }),
        tf.layers.lstm({ units: 5, name: 'rnn' }),
        tf.layers.dense({ units: 2, name: 'fc' }),
      ],
    });
    const analysis = analyzeModel(model);
    // Transposed conv: 4x4 input positions x 3x3x3x2 kernel; LSTM: 64 steps x (3x20 + 5x20).
    expect(layerMacs(model.getLayer('up'))).toBe(4 * 4 * 3 * 3 * 3 * 2);
    expect(layerMacs(model.getLayer('rnn'))).toBe(64 * (3 * 20 + 5 * 20));
    expect(model.layers.map(layerMacs)).toEqual(analysis.layers.map((l) => l.macs));
    expect(modelMacs(model)).toBe(analysis.macs);
    model.dispose();
  });
});

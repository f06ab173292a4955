import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { layerMacs, modelMacs } from '../../../../src-main/engine/graph/cost';
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
});

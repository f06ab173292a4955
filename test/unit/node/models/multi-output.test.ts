// A model saved with several outputs (here real tfjs converter output that exports every layer for
// visualisation) is narrowed to its last output at load, with a warning saying so.
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../../../src-main/node/models';
import { buildLayersModel } from '../../../../src-main/node/models/load';
import { readTfjsModelFiles } from '../../../../src-main/node/models/file-handler';

const file = path.resolve(__dirname, '../../../fixtures/real-models/models/tensorspace-tfjs-converter-lenet/model.json');

describe('loadModel: several outputs', () => {
  it('uses the last output as the prediction, warns, and predicts what that output of the file predicts', async () => {
    const loaded = await loadModel(file);
    expect(loaded.model.outputs).toHaveLength(1);
    expect(loaded.model.outputs[0].sourceLayer.name).toBe('softmax');
    expect(loaded.warnings?.[0]).toMatch(/7 outputs .*using the last, "softmax"/);
    const raw = await buildLayersModel(await readTfjsModelFiles(file));
    expect(raw.outputs).toHaveLength(7);
    const x = tf.randomUniform([3, 28, 28], 0, 1, 'float32', 2);
    const all = raw.predict(x) as tf.Tensor[];
    const one = loaded.model.predict(x) as tf.Tensor;
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(all[6], one))).dataSync()[0])).toBeLessThan(1e-6);
    tf.dispose([x, ...all, one]);
    raw.dispose();
    loaded.model.dispose();
  });
});

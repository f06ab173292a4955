import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { translateKerasConfig } from '../../../../src-main/node/keras/config';

/** A Keras 2 style Sequential of one Dense layer plus `extra` layers. */
function seq(layers: { class_name: string; config: Record<string, unknown> }[]) {
  return { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 4], name: 'in' } }, ...layers] } };
}

const act = (name: string) => ({ class_name: 'Activation', config: { name: 'a', activation: name } });
const translatedActivation = (name: string, version?: string) => {
  const t = translateKerasConfig(seq([act(name)]), 'm.h5', version) as unknown as { config: { layers: { config: { activation: string } }[] } };
  return t.config.layers[0].config.activation;
};

describe('Keras activations at import', () => {
  it('maps silu to tfjs swish and hard_swish / hard_silu / leaky_relu to registered activations', () => {
    expect(translatedActivation('silu')).toBe('swish');
    expect(translatedActivation('hard_swish')).toBe('topiaryHardSwish');
    expect(translatedActivation('hard_silu', '3.5.0')).toBe('topiaryHardSwish');
    expect(translatedActivation('leaky_relu', '3.5.0')).toBe('topiaryLeakyRelu');
  });

  it('reads hard_sigmoid by the Keras version that wrote the file (Keras 3 changed its slope)', () => {
    expect(translatedActivation('hard_sigmoid', '2.4.0')).toBe('hard_sigmoid');
    expect(translatedActivation('hard_sigmoid', '3.15.1')).toBe('topiaryHardSigmoid6');
  });

  it('renames Keras 3 LeakyReLU negative_slope to the alpha tfjs reads', () => {
    const t = translateKerasConfig(seq([{ class_name: 'LeakyReLU', config: { name: 'l', negative_slope: 0.1 } }]), 'm.keras', '3.5.0') as unknown as { config: { layers: { config: Record<string, unknown> }[] } };
    expect(t.config.layers[0].config.alpha).toBe(0.1);
    expect(t.config.layers[0].config.negative_slope).toBeUndefined();
  });

  it('the registered activations compute what Keras computes', async () => {
    const x = tf.tensor2d([[-4, -1, 0.5, 4]]);
    const expected: Record<string, number[]> = {
      hard_swish: [0, -1 / 3, 0.5 * 3.5 / 6, 4],
      hard_sigmoid: [0, 2 / 6, 3.5 / 6, 1],
      leaky_relu: [-0.8, -0.2, 0.5, 4],
    };
    for (const [name, want] of Object.entries(expected)) {
      const topology = translateKerasConfig(seq([act(name)]), 'm.keras', '3.5.0');
      const model = await tf.models.modelFromJSON({ modelTopology: topology as unknown as tf.serialization.ConfigDict });
      const out = model.predict(x) as tf.Tensor;
      const y = Array.from(out.dataSync());
      out.dispose();
      y.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(want[i], 5));
      model.dispose();
    }
    x.dispose();
  });

  it('GlobalAveragePooling2D keepdims=True keeps [batch, 1, 1, C] and round-trips through getConfig', async () => {
    const cfg = {
      class_name: 'Sequential',
      config: { name: 's', layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, 3, 3, 2], name: 'in' } },
        { class_name: 'GlobalAveragePooling2D', config: { name: 'gap', keepdims: true } },
      ] },
    };
    const model = await tf.models.modelFromJSON({ modelTopology: translateKerasConfig(cfg, 'm.keras', '3.5.0') as unknown as tf.serialization.ConfigDict });
    expect(model.outputs[0].shape).toEqual([null, 1, 1, 2]);
    const x = tf.ones([1, 3, 3, 2]);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, 1, 1, 2]);
    tf.dispose([x, y]);
    expect(model.layers[0].getConfig().keepdims).toBe(true);
    model.dispose();
  });
});

import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ModelFormatError, UnsupportedLayerError } from '../../../../../src-main/common/errors';
import { exportTflite, readTflite, tfliteOpsFor, toFloat16Bits } from '../../../../../src-main/engine/export/tflite/index';
import { keepTensors } from '../../../../support/tensor-leaks';

// Every model a test builds is disposed after it, so the global leak check sees only the exporter.
const built: tf.LayersModel[] = [];
afterEach(() => built.splice(0).forEach((m) => m.dispose()));
const sequential = (config: tf.SequentialArgs): tf.Sequential => {
  const m = tf.sequential(config);
  built.push(m);
  return m;
};
const model = (config: Parameters<typeof tf.model>[0]): tf.LayersModel => {
  const m = tf.model(config);
  built.push(m);
  return m;
};

function smallCnn(): tf.Sequential {
  return sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
}

describe('exportTflite', () => {
  it('names the layer and its class when a layer has no TFLite lowering', () => {
    const m = sequential({ layers: [tf.layers.layerNormalization({ inputShape: [4], name: 'norm' }), tf.layers.dense({ units: 2 })] });
    expect(() => exportTflite(m, { quant: 'none' })).toThrow(UnsupportedLayerError);
    expect(() => exportTflite(m, { quant: 'none' })).toThrow(/layer "norm" \(LayerNormalization\) is not supported by the TFLite exporter; export --format tfjs instead/);
  });

  it('names an unsupported activation', () => {
    const m = sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2, activation: 'selu', name: 'd1' })] });
    expect(() => exportTflite(m, { quant: 'none' })).toThrow(/layer "d1" \(Dense\) uses activation "selu"/);
  });

  it('rejects dynamic non-batch dimensions', () => {
    const inp = tf.input({ shape: [null, 4] as unknown as number[] });
    const out = tf.layers.dense({ units: 2 }).apply(inp) as tf.SymbolicTensor;
    expect(() => exportTflite(model({ inputs: inp, outputs: out }), { quant: 'none' })).toThrow(/unknown dimension 1/);
  });

  it('rejects a layer called twice (shared weights), naming it', () => {
    keepTensors('model.dispose() leaves a layer applied twice in one model allocated (observed with tfjs 4.22)');
    const inp = tf.input({ shape: [4] });
    const shared = tf.layers.dense({ units: 4, name: 'shared' });
    const out = shared.apply(shared.apply(inp)) as tf.SymbolicTensor;
    expect(() => exportTflite(model({ inputs: inp, outputs: out }), { quant: 'none' })).toThrow(/layer "shared" \(Dense\) is called 2 times/);
  });

  it('exports a two-input functional model with both inputs at batch 1', () => {
    const a = tf.input({ shape: [3], name: 'a' });
    const b = tf.input({ shape: [5], name: 'b' });
    const cat = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(cat) as tf.SymbolicTensor;
    const info = readTflite(exportTflite(model({ inputs: [a, b], outputs: out }), { quant: 'none' }).bytes);
    expect(info.inputs.map((i) => info.tensors[i].shape)).toEqual([[1, 3], [1, 5]]);
    expect(info.operators.map((o) => o.op)).toEqual(['CONCATENATION', 'FULLY_CONNECTED']);
  });

  it('validates options with ConfigError', () => {
    const m = smallCnn();
    expect(() => exportTflite(m, { quant: 'int4' as never })).toThrow(ConfigError);
    expect(() => exportTflite(m, { quant: 'int8' })).toThrow(/needs calibration/);
    expect(() => exportTflite(m, { quant: 'int8', calibration: new Float32Array(35) })).toThrow(/not a whole number of samples of shape \[6, 6, 1\]/);
    expect(() => exportTflite(m, { quant: 'none', ioType: 'uint8' })).toThrow(/needs quant int8/);
  });

  it('is deterministic and leaks no tensors, calibration included', () => {
    const m = smallCnn();
    const calibration = new Float32Array(4 * 36).map((_, i) => Math.sin(i));
    const before = tf.memory().numTensors;
    const a = exportTflite(m, { quant: 'int8', calibration });
    const b = exportTflite(m, { quant: 'int8', calibration });
    expect(tf.memory().numTensors).toBe(before);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expect(a.tensors).toBe(readTflite(a.bytes).tensors.length);
  });

  it('reports ops per source layer in execution order', () => {
    const { ops } = exportTflite(smallCnn(), { quant: 'float16' });
    const conv = smallCnn().layers[0].name.replace(/\d+$/, '');
    expect(ops.map((o) => o.op)).toEqual(['DEQUANTIZE', 'DEQUANTIZE', 'CONV_2D', 'RESHAPE', 'DEQUANTIZE', 'DEQUANTIZE', 'FULLY_CONNECTED', 'SOFTMAX']);
    expect(ops[2].layer.startsWith(conv)).toBe(true);
  });
});

describe('tfliteOpsFor', () => {
  it('lists the ops of each layer and marks unsupported ones with a reason, without throwing', () => {
    const m = sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 1], filters: 2, kernelSize: 3, activation: 'tanh', name: 'c' }),
        tf.layers.batchNormalization({ name: 'bn' }),
        tf.layers.upSampling2d({ size: [2, 2], interpolation: 'bilinear', name: 'up' }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.dense({ units: 2, activation: 'softmax', name: 'out' }),
      ],
    });
    const rows = tfliteOpsFor(m);
    expect(rows.map((r) => [r.layer, r.supported, r.ops])).toEqual([
      ['c', true, ['CONV_2D', 'TANH']],
      ['bn', true, ['MUL', 'ADD']],
      ['up', false, []],
      ['gap', true, ['MEAN']],
      ['out', true, ['FULLY_CONNECTED', 'SOFTMAX']],
    ]);
    expect(rows[2].className).toBe('UpSampling2D');
    expect(rows[2].reason).toMatch(/bilinear interpolation; the TFLite exporter lowers nearest only/);
  });

  it('shows folded BatchNormalization as no ops and adds the mode\u2019s edge ops', () => {
    const m = sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, name: 'd' }), tf.layers.batchNormalization({ name: 'bn' })] });
    expect(tfliteOpsFor(m).find((r) => r.layer === 'bn')?.ops).toEqual([]);
    const int8 = tfliteOpsFor(m, { quant: 'int8' });
    expect(int8[0].ops).toEqual(['QUANTIZE']);
    expect(int8[int8.length - 1].ops).toEqual(['DEQUANTIZE']);
    expect(tfliteOpsFor(m, { quant: 'float16' }).find((r) => r.layer === 'd')?.ops).toEqual(['DEQUANTIZE', 'FULLY_CONNECTED']);
  });
});

describe('toFloat16Bits', () => {
  it('rounds to nearest even and handles subnormals, overflow, infinities and NaN', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(0.1)).toBe(0x2e66);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(70000)).toBe(0x7c00);
    expect(toFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(toFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toFloat16Bits(NaN) & 0x3ff).not.toBe(0);
    expect(toFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(toFloat16Bits(2 ** -26)).toBe(0);
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
  });
});

describe('readTflite', () => {
  it('rejects bytes without the TFL3 identifier, naming the file', () => {
    expect(() => readTflite(new Uint8Array(64), '/x/model.tflite')).toThrow(ModelFormatError);
    expect(() => readTflite(new Uint8Array(64), '/x/model.tflite')).toThrow(/\/x\/model.tflite: missing the "TFL3" file identifier/);
  });
});

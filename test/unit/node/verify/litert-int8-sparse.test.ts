import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTfliteZeros, exportTflite, readTflite, tfliteOpsFor } from '../../../../src-main/engine/export/tflite/index';
import { lenet5 } from '../../../../src-main/engine/models/lenet';
import { verifyTflite } from '../../../../src-main/node/verify/verify';
import { randomFloats, runLiteRt, samplesFor } from './helpers';
import { zeroSmallest } from '../../../support/zero-smallest';

describe('int8 sparse weights in LiteRT (CSR + DENSIFY -> RESHAPE)', () => {
  let model: tf.LayersModel;
  const calibration = randomFloats(32 * 784, 5).map((v) => (v + 1) / 2);

  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = lenet5({ seed: 4 });
    zeroSmallest(model, 0.9);
  });
  afterAll(() => model.dispose());

  it('a 90%-sparse LeNet-5 int8 file is <= 0.15x of float32, stores its dense layers sparse, and LiteRT gives the dense int8 file\u2019s outputs', async () => {
    const float32 = exportTflite(model, { quant: 'none', sparse: 'never' });
    const sparse = exportTflite(model, { quant: 'int8', calibration, sparse: 'always' });
    const dense = exportTflite(model, { quant: 'int8', calibration, sparse: 'never' });
    expect(sparse.bytes.length / float32.bytes.length).toBeLessThanOrEqual(0.15);
    // Opt-in only: by default int8 weights stay dense (LiteRT's builtin kernels for the sparse layout are slower).
    expect(exportTflite(model, { quant: 'int8', calibration }).bytes.length).toBe(dense.bytes.length);
    expect(dense.bytes.length / float32.bytes.length).toBeGreaterThan(0.25);
    const ops = sparse.ops.map((o) => o.op);
    expect(ops.filter((o) => o === 'DENSIFY')).toHaveLength(3);
    // Each DENSIFY feeds a RESHAPE that feeds the FULLY_CONNECTED's filter slot.
    const info = readTflite(sparse.bytes);
    for (const fc of info.operators.filter((o) => o.op === 'FULLY_CONNECTED')) {
      const filterProducer = info.operators.find((o) => o.outputs.includes(fc.inputs[1]));
      expect(filterProducer?.op).toBe('RESHAPE');
      expect(info.tensors[fc.inputs[1]].dtype).toBe('int8');
      expect(info.tensors[fc.inputs[1]].scale.length).toBe(info.tensors[fc.inputs[1]].shape[0]);
    }
    for (let s = 0; s < 4; s++) {
      const x = randomFloats(784, 20 + s).map((v) => (v + 1) / 2);
      const a = await runLiteRt(sparse.bytes, x, [1, 28, 28, 1]);
      const b = await runLiteRt(dense.bytes, x, [1, 28, 28, 1]);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
    // The verify step judges the sparse file exactly as it judges the dense one (same agreement, same diff).
    const samples = samplesFor([28, 28, 1], 16);
    const v = await verifyTflite(sparse.bytes, model, samples, { mode: 'int8' });
    const vd = await verifyTflite(dense.bytes, model, samples, { mode: 'int8' });
    expect(v.reason ?? '').not.toMatch(/rejected|allocate/i);
    expect(v.top1Agreement).toBe(vd.top1Agreement);
    expect(v.maxAbsDiff).toBe(vd.maxAbsDiff);
  });

  it('counts the zeros the file keeps: stored and left out by the sparse tensors', () => {
    const sparse = exportTflite(model, { quant: 'int8', calibration, sparse: 'always' });
    const dense = exportTflite(model, { quant: 'int8', calibration, sparse: 'never' });
    const zs = countTfliteZeros(sparse.bytes);
    const zd = countTfliteZeros(dense.bytes);
    expect(zs.weights).toBe(61_706 - 6 - 16 - 120 - 84 - 10);
    expect(zs.sparseTensors).toBe(3);
    expect(zd.sparseTensors).toBe(0);
    expect(zd.implicitZeros).toBe(0);
    // The same zeros either way (int8 rounding may add a few small weights to the pruned ones).
    expect(zs.zeros).toBe(zd.zeros);
    expect(zs.zeros / zs.weights).toBeGreaterThanOrEqual(0.89);
    expect(zs.implicitZeros).toBeGreaterThan(0.85 * zs.weights);
  });

  it('tfliteOpsFor lists the int8 sparse layout\u2019s ops for device checks', () => {
    const fc1 = tfliteOpsFor(model, { quant: 'int8', sparse: 'always' }).find((r) => r.layer === 'fc1');
    expect(fc1?.ops).toEqual(['DENSIFY', 'RESHAPE', 'FULLY_CONNECTED']);
    expect(tfliteOpsFor(model, { quant: 'int8', sparse: 'never' }).find((r) => r.layer === 'fc1')?.ops).toEqual(['FULLY_CONNECTED']);
    expect(tfliteOpsFor(model, { quant: 'int8' }).find((r) => r.layer === 'fc1')?.ops).toEqual(['FULLY_CONNECTED']);
  });
});

import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { analyzeModel, formatAnalysisTable, peakLiveBytes } from '../../../../src-main/engine/analyze';
import { lenet300100, lenet5, smallFunctionalNet } from '../../../../src-main/engine/models';

describe('analyzeModel', () => {
  it('counts LeNet-300-100 parameters and MACs by hand', () => {
    const model = lenet300100({ seed: 1 });
    const a = analyzeModel(model);
    // fc1: 784*300 + 300 = 235,500; fc2: 300*100 + 100 = 30,100; fc3: 100*10 + 10 = 1,010.
    expect(a.layers.map((l) => l.params)).toEqual([0, 235_500, 30_100, 1_010]);
    expect(a.params).toBe(266_610);
    // MACs = in*out per Dense: 235,200 + 30,000 + 1,000.
    expect(a.layers.map((l) => l.macs)).toEqual([0, 235_200, 30_000, 1_000]);
    expect(a.macs).toBe(266_200);
    // Activations per sample, float32: flatten 784, fc1 300, fc2 100, fc3 10 values.
    expect(a.layers.map((l) => l.activationBytes)).toEqual([3136, 1200, 400, 40]);
    // Peak = max of consecutive (input + output): input 3136 + flatten 3136 = 6272.
    expect(a.peakActivationBytes).toBe(6272);
    expect(a.trainableParams).toBe(266_610);
    expect(a.weightBytes).toBe(4 * 266_610);
    model.dispose();
  });

  it('counts LeNet-5 parameters, MACs and activations by hand', () => {
    const model = lenet5({ seed: 1 });
    const a = analyzeModel(model);
    // conv1: 5*5*1*6 + 6 = 156            MACs 28*28 * 5*5*1*6 = 117,600
    // conv2: 5*5*6*16 + 16 = 2,416        MACs 10*10 * 5*5*6*16 = 240,000
    // fc1: 400*120 + 120 = 48,120         MACs 48,000
    // fc2: 120*84 + 84 = 10,164           MACs 10,080
    // fc3: 84*10 + 10 = 850               MACs 840
    expect(a.layers.map((l) => [l.name, l.params, l.macs])).toEqual([
      ['conv1', 156, 117_600],
      ['pool1', 0, 0],
      ['conv2', 2_416, 240_000],
      ['pool2', 0, 0],
      ['flatten', 0, 0],
      ['fc1', 48_120, 48_000],
      ['fc2', 10_164, 10_080],
      ['fc3', 850, 840],
    ]);
    expect(a.params).toBe(61_706);
    expect(a.macs).toBe(416_520);
    expect(a.layers[0].outputShape).toEqual([null, 28, 28, 6]);
    expect(a.layers[2].outputShape).toEqual([null, 10, 10, 16]);
    // Peak: pool1 holds conv1's output 28*28*6*4 = 18,816 and its own 14*14*6*4 = 4,704 -> 23,520,
    // more than conv1 (input 3,136 + 18,816 = 21,952).
    expect(a.peakActivationBytes).toBe(23_520);
    model.dispose();
  });

  it('reports exact zeros as sparsity after zeroing known weights', () => {
    const model = lenet300100({ seed: 2 });
    const fc2 = model.getLayer('fc2');
    const [kernel, bias] = fc2.getWeights();
    // Zero the first 50 of 100 output columns of the 300x100 kernel (15,000 weights) and set
    // the bias to ones so it contributes no zeros.
    const mask = tf.tidy(() => tf.concat([tf.zeros([300, 50]), tf.ones([300, 50])], 1));
    const pruned = tf.mul(kernel, mask);
    const ones = tf.onesLike(bias);
    fc2.setWeights([pruned, ones]);
    tf.dispose([mask, pruned, ones]);

    const a = analyzeModel(model);
    const l = a.layers.find((x) => x.name === 'fc2')!;
    expect(l.params).toBe(30_100);
    expect(l.nonZeros).toBe(30_100 - 15_000);
    expect(l.sparsity).toBeCloseTo(15_000 / 30_100, 12);
    // Kernel-only sparsity leaves the bias out: 15,000 / 30,000.
    expect(l.kernelSparsity).toBe(0.5);
    expect(a.layers.find((x) => x.name === 'fc1')!.kernelSparsity).toBe(0);
    const k = l.weights.find((w) => w.name === 'fc2/kernel')!;
    expect(k.nonZeros).toBe(15_000);
    expect(k.shape).toEqual([300, 100]);
    // Other layers: only their zero-initialized biases are zero (fc1: 300, fc3: 10).
    expect(a.nonZeros).toBe(266_610 - 15_000 - 300 - 10);
    model.dispose();
  });

  it('gzip of mostly-zero weights is much smaller than of dense weights', () => {
    const model = lenet300100({ seed: 3 });
    const dense = analyzeModel(model);
    const fc1 = model.getLayer('fc1');
    const zeros = fc1.getWeights().map((w) => tf.zerosLike(w));
    fc1.setWeights(zeros);
    tf.dispose(zeros);
    const sparse = analyzeModel(model);
    expect(dense.gzipBytes).toBeGreaterThan(0.8 * dense.weightBytes);
    expect(sparse.gzipBytes).toBeLessThan(0.25 * dense.gzipBytes);
    expect(sparse.sizeBytes).toBe(dense.sizeBytes);
    model.dispose();
  });

  it('sizeBytes is float32 weights plus the topology JSON length', () => {
    const model = lenet5();
    const a = analyzeModel(model, { gzip: false });
    const topo = JSON.stringify(model.toJSON(null, false));
    expect(a.topologyBytes).toBe(Buffer.byteLength(topo));
    expect(a.sizeBytes).toBe(4 * 61_706 + a.topologyBytes);
    expect(a.gzipBytes).toBe(0);
    model.dispose();
  });

  it('follows Add and Concatenate in a functional graph', () => {
    const model = smallFunctionalNet({ seed: 1 });
    const a = analyzeModel(model);
    const by = Object.fromEntries(a.layers.map((l) => [l.name, l]));
    expect(by.add.inbound.sort()).toEqual(['branch', 'stem']);
    expect(by.cat.inbound.sort()).toEqual(['add', 'dw']);
    expect(by.cat.outputShape).toEqual([null, 8, 8, 16]);
    // stem:   8*8 * 3*3*3*8 = 13,824 MACs, params 3*3*3*8 + 8 = 224
    // branch: 8*8 * 3*3*8*8 = 36,864 MACs, params 576 + 8 = 584
    // dw:     8*8 * 3*3*8*1 = 4,608 MACs,  params 72 + 8 = 80
    // out:    16*4 = 64 MACs,               params 64 + 4 = 68
    // bn:     4 * 16 = 64 params (gamma, beta trainable; moving mean/var not), 0 MACs
    expect([by.stem.macs, by.branch.macs, by.dw.macs, by.out.macs, by.add.macs, by.cat.macs, by.bn.macs]).toEqual([
      13_824, 36_864, 4_608, 64, 0, 0, 0,
    ]);
    expect(a.macs).toBe(13_824 + 36_864 + 4_608 + 64);
    expect([by.stem.params, by.branch.params, by.dw.params, by.bn.params, by.out.params]).toEqual([224, 584, 80, 64, 68]);
    expect(by.bn.trainableParams).toBe(32);
    expect(a.nonTrainableParams).toBe(32);
    expect(a.params).toBe(224 + 584 + 80 + 64 + 68);
    // Live tensors (bytes, 8x8 maps: 8 channels = 2,048, 16 channels = 4,096):
    //   add step: stem (still needed by add) + branch + add = 6,144
    //   cat step: add (needed by cat) + dw + cat = 2,048 + 2,048 + 4,096 = 8,192  <- peak
    //   bn step:  cat + bn = 8,192 (ties)
    expect(a.peakActivationBytes).toBe(8_192);
    model.dispose();
  });

  it('counts MACs of transposed and separable convolutions', () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const up = tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', name: 'up' }).apply(input);
    const sep = tf.layers
      .separableConv2d({ filters: 5, kernelSize: 3, depthMultiplier: 2, padding: 'same', name: 'sep' })
      .apply(up) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: sep });
    const a = analyzeModel(model, { gzip: false });
    const by = Object.fromEntries(a.layers.map((l) => [l.name, l]));
    // Transposed: input positions 4*4 * kernel 3*3*3*2 = 864.
    expect(by.up.macs).toBe(864);
    // Separable on 8x8x3: depthwise 8*8 * 3*3*3*2 = 3,456 + pointwise 8*8 * (3*2)*5 = 1,920.
    expect(by.sep.macs).toBe(3_456 + 1_920);
    model.dispose();
  });

  it('analyses a nested model as its flat equivalent: one row per leaf layer, each with where it came from', () => {
    const inner = lenet300100({ seed: 4, inputShape: [784], name: 'inner' });
    const input = tf.input({ shape: [784] });
    const out = inner.apply(input) as tf.SymbolicTensor;
    const outer = tf.model({ inputs: input, outputs: out });
    const before = tf.memory().numTensors;
    const a = analyzeModel(outer, { gzip: false });
    expect(tf.memory().numTensors).toBe(before);
    expect(a.layers.map((l) => l.name)).toEqual([outer.inputs[0].sourceLayer.name, 'fc1', 'fc2', 'fc3']);
    expect(a.layers.map((l) => l.source)).toEqual([undefined, 'inner/fc1', 'inner/fc2', 'inner/fc3']);
    expect(a.layers.find((l) => l.name === 'fc1')!.macs).toBe(784 * 300);
    expect(a.macs).toBe(266_200);
    expect(a.params).toBe(266_610);
    // The input (3,136 B) and fc1's output (1,200 B) are live together; a single nested row would hide that.
    expect(a.peakActivationBytes).toBe(4 * (784 + 300));
    outer.dispose();
  });

  it('returns plain JSON and creates no tensors', () => {
    const model = smallFunctionalNet();
    const before = tf.memory().numTensors;
    const a = analyzeModel(model);
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    model.dispose();
  });
});

describe('peakLiveBytes', () => {
  it('keeps a skip connection alive until its consumer runs', () => {
    // a -> b -> c -> d(a, c): a (100) stays live through b and c.
    const steps = [
      { name: 'a', bytes: 100, inbound: [] },
      { name: 'b', bytes: 10, inbound: ['a'] },
      { name: 'c', bytes: 10, inbound: ['b'] },
      { name: 'd', bytes: 1, inbound: ['a', 'c'] },
    ];
    // At c: a + b + c = 120; at d: a + c + d = 111.
    expect(peakLiveBytes(steps, ['d'])).toBe(120);
    // Without the skip, a dies after b: max(a+b, b+c, c+d) = 110.
    steps[3].inbound = ['c'];
    expect(peakLiveBytes(steps, ['d'])).toBe(110);
  });
});

describe('formatAnalysisTable', () => {
  it('prints one row per layer with params and MACs, and the totals', () => {
    const model = lenet300100();
    const text = formatAnalysisTable(analyzeModel(model));
    const lines = text.split('\n');
    expect(lines.find((l) => /^1\s+fc1\s+Dense/.test(l))).toMatch(/235,500\s+\d[\d,]*\s+[\d.]+%\s+235,200/);
    expect(lines.find((l) => /^\s+total/.test(l))).toMatch(/266,610.*266,200/);
    expect(text).toContain('peak memory');
    model.dispose();
  });
});

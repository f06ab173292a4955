/** Fixtures for the fit tests: a synthetic MNIST-like IDX dataset and a widened LeNet. */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { seededRandom } from '../../src-main/engine/data';
import { seededKernel } from '../../src-main/engine/models/lenet';

/** IDX file: magic 0 0 8 ndims, big-endian uint32 dims, uint8 values. */
export function writeIdx(file: string, dims: number[], data: Uint8Array): void {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  fs.writeFileSync(file, Buffer.concat([header, Buffer.from(data)]));
}

/** Ten classes, each a fixed random dot pattern plus noise: learnable in one short epoch. */
export function syntheticMnist(dir: string, train: number, test: number): { x: Float32Array; y: Int32Array } {
  fs.mkdirSync(dir, { recursive: true });
  const rand = seededRandom(5);
  const protos = Array.from({ length: 10 }, () => Uint8Array.from({ length: 784 }, () => (rand() < 0.2 ? 200 : 0)));
  const make = (n: number) => {
    const x = new Uint8Array(n * 784);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 10;
      for (let j = 0; j < 784; j++) x[i * 784 + j] = Math.min(255, protos[y[i]][j] + Math.floor(rand() * 60));
    }
    return { x, y };
  };
  const tr = make(train);
  const te = make(test);
  writeIdx(path.join(dir, 'train-images-idx3-ubyte'), [train, 28, 28], tr.x);
  writeIdx(path.join(dir, 'train-labels-idx1-ubyte'), [train], tr.y);
  writeIdx(path.join(dir, 't10k-images-idx3-ubyte'), [test, 28, 28], te.x);
  writeIdx(path.join(dir, 't10k-labels-idx1-ubyte'), [test], te.y);
  return { x: Float32Array.from(tr.x, (v) => v / 255), y: Int32Array.from(tr.y) };
}

/** LeNet-5 widened: 288 conv filters (int8 activations 28*28*288 = 226 KB + the pooled 56 KB) and a 56,448-input dense layer (1.1 MB int8). */
export function widenedLenet(): tf.Sequential {
  const m = tf.sequential({ name: 'wide_lenet' });
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 288, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seededKernel(1, 1), name: 'conv1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ units: 20, activation: 'relu', kernelInitializer: seededKernel(1, 2), name: 'fc1' }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: seededKernel(1, 3), name: 'fc2' }));
  return m;
}


/**
 * Trains the built-in demo model (LeNet-5 on Fashion-MNIST) and writes it to resources/demo/model.
 * Reproducible: fixed seeds for initialization and shuffling. Needs Debian's dataset-fashion-mnist
 * (or pass --data). Usage: npm run train-demo -- [--epochs 4] [--data fashion-mnist] [--out DIR]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src-main/node/backend';
import { loadDataset } from '../src-main/node/datasets';
import { saveModel } from '../src-main/node/models';
import { lenet5 } from '../src-main/engine/models';
import { evaluate } from '../src-main/engine/measure';
import { permutation } from '../src-main/engine/data';
import { resourcesDir } from '../src-main/app/paths';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '4' },
    data: { type: 'string', default: 'fashion-mnist' },
    out: { type: 'string', default: path.join(resourcesDir(), 'demo', 'model') },
    'batch-size': { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
  },
});

const backend = await initBackend();
const epochs = Number(values.epochs);
const batchSize = Number(values['batch-size']);
const seed = Number(values.seed);
console.error(`backend ${backend.name}; loading ${values.data}`);
const ds = await loadDataset(values.data!);
const model = lenet5({ seed });
model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const inputShape = model.inputs[0].shape.slice(1) as number[];

for (let epoch = 0; epoch < epochs; epoch++) {
  const order = permutation(ds.train.size, seed + epoch);
  const t0 = Date.now();
  let lossSum = 0;
  let batches = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const { x, y } = ds.train.take(order.subarray(start, Math.min(start + batchSize, order.length)));
    const n = y.length;
    const xs = tf.tensor(x, [n, ...inputShape]);
    const ys = tf.tensor1d(y, 'float32');
    const [loss] = (await model.trainOnBatch(xs, ys)) as number[];
    tf.dispose([xs, ys]);
    lossSum += loss;
    batches++;
    if (batches % 100 === 0) process.stderr.write(`epoch ${epoch + 1} batch ${batches} loss ${(lossSum / batches).toFixed(4)}\n`);
  }
  const test = await evaluate(model, ds.test, { batchSize: 500 });
  console.error(
    `epoch ${epoch + 1}/${epochs}: loss ${(lossSum / batches).toFixed(4)}, test accuracy ${(100 * test.accuracy).toFixed(2)} % (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

const saved = await saveModel(model, values.out!);
console.log(`wrote ${saved.files.length} files (${saved.bytes} bytes) to ${values.out}`);

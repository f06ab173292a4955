/**
 * A data-parallel training helper (worker_threads; started by train-workers.ts through
 * jobs/worker-boot.mjs). It rebuilds the model from its JSON topology, then for every `compute`
 * message sets the trainable weights from the shared weight buffer and returns the gradient of
 * `scale` x the mean loss over its shard, computed with the same engine code as the trainer's own.
 */
import * as tf from '@tensorflow/tfjs';
import { parentPort } from 'node:worker_threads';
import { toErrorInfo } from '../common/errors';
import { sampleShapeOf } from '../engine/finetune/batches';
import { crossEntropy, logitsOf } from '../engine/finetune/loss';
import { initBackend } from './backend';
import type { HelperReply, HelperRequest } from './train-workers';

const port = parentPort;
if (!port) throw new Error('train-worker-entry must run inside a worker thread');

let model: tf.LayersModel | undefined;
let weights: Float32Array | undefined;
let shapes: number[][] = [];
let probs = false;
let sampleShape: number[] = [];
let copyOut = false;

async function init(msg: Extract<HelperRequest, { type: 'init' }>): Promise<void> {
  // One compute thread each: the helpers are the parallelism (wasm threads would oversubscribe).
  const info = await initBackend({ force: msg.backend, wasmThreads: 1 });
  // cpu's dataSync hands out the tensor's own array; it must not be transferred (detached) away.
  copyOut = info.name !== 'wasm';
  model = await tf.models.modelFromJSON({ modelTopology: msg.topology as tf.io.ModelJSON['modelTopology'] });
  const got = model.trainableWeights.map((w) => w.shape.join('x'));
  const want = msg.weightShapes.map((s) => s.join('x'));
  if (got.join(',') !== want.join(',')) throw new Error(`rebuilt model has trainable weights [${got.join(', ')}], expected [${want.join(', ')}]`);
  shapes = msg.weightShapes;
  weights = new Float32Array(msg.weights);
  probs = msg.outputIsProbabilities;
  sampleShape = sampleShapeOf(model);
}

function compute(msg: Extract<HelperRequest, { type: 'compute' }>): HelperReply {
  const m = model as tf.LayersModel;
  const n = msg.y.length;
  if (n === 0) return { type: 'result', id: msg.id, grads: [], loss: 0, correct: 0, n: 0 };
  const buf = weights as Float32Array;
  let offset = 0;
  // write() makes the variable share the new tensor's data; tidy drops our own reference to it.
  tf.tidy(() => {
    m.trainableWeights.forEach((w, i) => {
      const size = shapes[i].reduce((a, b) => a * b, 1);
      w.write(tf.tensor(buf.subarray(offset, offset + size), shapes[i]));
      offset += size;
    });
  });
  // Results leave the tidy through these, not as its return value: tidy walks a returned object
  // looking for tensors, element by element through typed arrays (~40 ms for LeNet-300-100).
  let grads: Float32Array[] = [];
  let stats: Float32Array | Int32Array | Uint8Array = new Float32Array(2);
  tf.tidy(() => {
    const x = tf.tensor(msg.x, [n, ...sampleShape]);
    const y = tf.tensor1d(msg.y, 'int32');
    const vars = m.trainableWeights.map((w) => w.read() as tf.Variable);
    let logits: tf.Tensor2D | undefined;
    const { value, grads: g } = tf.variableGrads(() => {
      const l = logitsOf(m, x, true, probs);
      logits = tf.keep(l);
      return tf.mul(crossEntropy(l, y), msg.scale) as tf.Scalar;
    }, vars);
    const correct = tf.sum(tf.equal(tf.argMax(logits as tf.Tensor2D, 1), y).toFloat());
    (logits as tf.Tensor2D).dispose();
    grads = vars.map((v) => {
      const a = g[v.name].dataSync() as Float32Array;
      return copyOut ? a.slice() : a;
    });
    stats = tf.stack([value, correct]).dataSync();
  });
  return { type: 'result', id: msg.id, grads, loss: stats[0] / msg.scale, correct: stats[1], n };
}

port.on('message', (msg: HelperRequest) => {
  if (msg.type === 'init') {
    init(msg).then(
      () => port.postMessage({ type: 'ready' } satisfies HelperReply),
      (err: unknown) => port.postMessage({ type: 'error', error: toErrorInfo(err) } satisfies HelperReply),
    );
    return;
  }
  try {
    const reply = compute(msg);
    port.postMessage(reply, reply.type === 'result' ? reply.grads.map((g) => g.buffer as ArrayBuffer) : []);
  } catch (err) {
    port.postMessage({ type: 'error', id: msg.id, error: toErrorInfo(err) } satisfies HelperReply);
  }
});

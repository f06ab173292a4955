/**
 * Training throughput of the engine's own loop (finetuneMasked, Adam, batch 64) on LeNet-5 with
 * random 28x28 data, on whichever tfjs backend is active: the GPU row of `npm run bench`
 * (test/bench/gpu-train.ts) runs it in the GPU window and, for the ratio, in Node on the CPU path.
 */
import * as tf from '@tensorflow/tfjs';
import { finetuneMasked } from '../engine/finetune/trainer';
import { lenet5 } from '../engine/models';
import { syntheticSplit } from './train-compare';

export interface TrainSpeed {
  backend: string;
  batchSize: number;
  /** Timed steps (after `warm` untimed ones). */
  steps: number;
  samplesPerS: number;
  /** What ran the steps (the fused native step, or the tfjs step). */
  path: string;
}

/** @example const { samplesPerS } = await trainSpeed({ steps: 10 }) */
export async function trainSpeed(opts: { steps?: number; warm?: number; batchSize?: number } = {}): Promise<TrainSpeed> {
  const { steps = 8, warm = 2, batchSize = 64 } = opts;
  const model = lenet5({ seed: 1 });
  const data = syntheticSplit([28, 28, 1], 10, (steps + warm) * batchSize, 4);
  const times: number[] = [];
  try {
    const r = await finetuneMasked(
      model,
      data,
      { epochs: 1, batchSize, learningRate: 1e-3, optimizer: 'adam' },
      { masks: new Map(), divergence: false, onProgress: (p) => p.phase === 'batch' && times.push(performance.now()) },
    );
    const seconds = ((times.at(-1) ?? 0) - times[warm - 1]) / 1000;
    return { backend: tf.getBackend(), batchSize, steps, samplesPerS: (steps * batchSize) / seconds, path: r.fused.used ? `fused step (${r.fused.note ?? 'native'})` : 'tfjs step' };
  } finally {
    model.dispose();
  }
}

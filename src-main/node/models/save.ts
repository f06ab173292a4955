/** Writing a model as a tfjs layers folder. */
import type * as tf from '@tensorflow/tfjs';
import { TopiaryError } from '../../common/errors';
import { fileHandler } from './file-handler';

export interface SaveModelOptions {
  /** Maximum bytes per weight shard. Default 4 MiB. */
  shardBytes?: number;
}

/**
 * Saves `model` into `dir` as model.json + group1-shardIofN.bin (weights as float32, exact).
 * Returns the files written (model.json first) and their total size.
 * @example const { files, bytes } = await saveModel(model, '/tmp/out', { shardBytes: 1 << 20 })
 */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  opts: SaveModelOptions = {},
): Promise<{ files: string[]; bytes: number }> {
  const handler = fileHandler(dir, { shardBytes: opts.shardBytes });
  await model.save(handler);
  if (!handler.lastSaved) throw new TopiaryError(`${dir}: model was not saved`);
  return handler.lastSaved;
}

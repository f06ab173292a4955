/** Copying a model in memory (the distillation teacher, sensitivity's untouched reference). */
import * as tf from '@tensorflow/tfjs';

/**
 * A deep copy with the same topology, layer names and weights. Variable names get a suffix from
 * tfjs when the same names already exist, so match weights by layer name, not variable name.
 * @example const teacher = await cloneModel(model)
 */
export async function cloneModel(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
}

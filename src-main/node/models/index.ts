export { loadModel, buildLayersModel, demoModelPath, type LoadedModel } from './load';
export { saveModel, type SaveModelOptions } from './save';
export {
  fileHandler,
  readTfjsModelFiles,
  resolveModelJson,
  DEFAULT_SHARD_BYTES,
  type FileHandler,
  type FileHandlerOptions,
  type TfjsModelFiles,
} from './file-handler';

export {
  analyzeModel,
  countNonZeros,
  isKernelName,
  peakLiveBytes,
  type AnalyzeOptions,
  type LayerAnalysis,
  type ModelAnalysis,
  type WeightAnalysis,
} from './analyze';
export { formatAnalysisTable } from './format';
export { layerMacs, MAC_RULES, type MacInput } from './macs';

export { arenaEstimate } from './arena';
export {
  checkFit,
  checkTfliteFile,
  formatFor,
  numericTypesFor,
  tfjsQuantFor,
  tfliteQuantFor,
  type FitCheck,
  type FitCheckOptions,
  type TfliteFileMeta,
} from './check';
export { searchFit, type Allocation, type FitBinding, type FitCandidate, type FitPlan, type FitSearchOptions } from './search';

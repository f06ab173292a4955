/**
 * The run history service and its pure parts, now in src-main/app/history/ (service, compare,
 * pareto, csv, bundle); this module keeps the old import path working.
 */
export { HistoryService, type HistoryOptions } from './history/service';
export { defaultBaseline, diffConfigs, flattenJson } from './history/compare';
export { finishedOnly, paretoFrontier } from './history/pareto';
export { runsCsv, toCsv } from './history/csv';
export { RunBundleSchema, readBundle } from './history/bundle';
export type {
  BundleExportResult,
  BundleImportResult,
  ConfigDiffRow,
  DeleteResult,
  ExportedRun,
  LayerComparisonRow,
  MetricComparisonRow,
  ParetoObjective,
  ParetoPoint,
  ParetoResult,
  RunBundle,
  RunComparison,
  RunsExport,
  SeriesOverlay,
} from '../common/contract';

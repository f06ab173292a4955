export { evaluate, EPSILON, type EvaluateOptions, type EvaluateResult } from './evaluate';
export { measureLatency, measureStableLatency, measureStableLatencies, median, percentile, type LatencyOptions, type LatencyResult, type StableLatencyOptions } from './latency';
export { classAccuracy, classReport, classSide, topMistakes, CONFUSION_MAX_CLASSES } from './classes';

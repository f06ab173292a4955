export { evaluate, EPSILON, type EvaluateOptions, type EvaluateResult } from './evaluate';
export { measureLatency, median, percentile, type LatencyOptions, type LatencyResult } from './latency';
export { classAccuracy, classReport, classSide, topMistakes, CONFUSION_MAX_CLASSES } from './classes';

/**
 * What pruning did to each class and to each layer, as runs record them: `summary.classes` (per-class
 * accuracy and confusion matrices of the original and the pruned model, on the same test samples)
 * and `summary.graph` (the model's layers in graph order with their widths and sparsity before and
 * after). Built by engine/measure/classes.ts and engine/graph/outline.ts; read by the CLI, the run
 * detail and `runs show --json`.
 */

/** One model's per-class results on the evaluation samples. */
export interface ClassSide {
  /** accuracy[c] = confusion[c][c] / support[c] (recall of class c); null when no sample has label c. */
  accuracy: (number | null)[];
  /** Samples whose label is c. */
  support: number[];
  /** confusion[label][predicted] counts; absent above CONFUSION_MAX_CLASSES classes (its size grows as classes²). */
  confusion?: number[][];
  /** The most frequent mistakes (true label, predicted), most first: always there, the whole story for many classes. */
  mistakes: Mistake[];
}

/** `count` samples of class `label` were predicted as class `predicted` (indices into labels). */
export interface Mistake {
  label: number;
  predicted: number;
  count: number;
}

/** Per-class accuracy before vs after pruning (classification runs only). */
export interface ClassReport {
  /** Class names from the dataset, else the class indices as text. */
  labels: string[];
  /** Samples evaluated (the sum of each confusion matrix). */
  samples: number;
  before: ClassSide;
  after: ClassSide;
}

/** A layer of the model graph, original vs pruned. */
export interface OutlineNode {
  name: string;
  className: string;
  /** Names of the layers feeding it, in input order (two or more at a merge such as Add). */
  inputs: string[];
  /** Width of the output's last axis (units, filters, channels) of the original; null when not one tensor. */
  widthBefore: number | null;
  /** The same in the pruned model; null when the layer is not in it. */
  widthAfter: number | null;
  paramsBefore: number;
  paramsAfter: number | null;
  /** Fraction of exact zeros in the layer's weights. */
  sparsityBefore: number;
  sparsityAfter: number | null;
}

/** The model's layers in topological order. */
export interface ModelOutline {
  nodes: OutlineNode[];
}

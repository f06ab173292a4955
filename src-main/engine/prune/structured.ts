/**
 * Structured pruning: whole Dense units and convolution filters are removed, together with every
 * weight that reads or transforms them (found through the dependency graph, ../graph), and an
 * ordinary, physically smaller tfjs model is returned. Deciding (scores -> plan) and doing
 * (plan -> model, structured-apply.ts) are separate so a stored plan replays exactly.
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError, UnsupportedLayerError } from '../../common/errors';
import { modelMacs } from '../graph/cost';
import { buildDependencyGraph } from '../graph/depgraph';
import type { ChannelGroup as GraphGroup, DependencyGraph } from '../graph/types';
import { IMPORTANCE } from '../importance/index';
import { rebuildPruned } from './structured-apply';
import { groupChannelScores } from './structured-scores';
import type { ImportanceContext, PruneMethod, PruneScope, ScoresSummary } from './types';

export interface StructuredOptions {
  /** Fraction of units/filters removed from each prunable group, in [0, 1). */
  sparsity: number;
  /** Sparsity by producer layer name (overrides `sparsity`; such groups leave the global pool). */
  perLayer?: Record<string, number>;
  /** Producer layers whose output channels stay (their whole coupled group stays). */
  ignore?: string[];
  /** 'layer' (default): each group to its own ratio; 'global': one ranking across groups. */
  scope?: PruneScope;
  /** Importance criterion (importance/*.ts). Default 'magnitude'. */
  criterion?: PruneMethod;
  /** Norm reducing a channel's weights to one score. Default 'l2'. */
  norm?: 'l1' | 'l2';
  /** Keep channel counts multiples of this (rounded up, never above the original count). */
  roundTo?: number;
  /** Precomputed channel scores by producer layer name; they replace the criterion for its group. */
  scores?: ReadonlyMap<string, Float32Array>;
  /** What data-driven criteria (taylor) need: training data, batches, batch size. */
  importance?: Omit<ImportanceContext, 'model' | 'norm'>;
  seed?: number;
}

/** One coupled group of channels: what was removed and why. */
export type StructuredGroupStep = {
  /** Layers whose output channels form the group (several when joined by a residual Add). */
  producers: string[];
  /** Layers reading the channels on their input axis, and followers (BatchNorm, DepthwiseConv2D). */
  consumers: string[];
  followers: string[];
  /** Every weight axis the group indexes: producers' outputs, consumers' inputs, followers' channels. */
  axes: { layer: string; weight: string; axis: number; role: 'out' | 'in' | 'follow' }[];
  channels: number;
  kept: number[];
  removed: number[];
  scores: ScoresSummary;
};

/** The `structured` member of the PruningPlan step union (types.ts). JSON-serializable. */
export type StructuredPlanStep = {
  kind: 'structured';
  criterion: string;
  scope: PruneScope;
  sparsity: number;
  roundTo: number | null;
  groups: StructuredGroupStep[];
};

export interface StructuredReport {
  /** Removed / total channels over the groups that could be pruned (not fixed, not ignored). */
  unitsRemovedFraction: number;
  paramsBefore: number;
  paramsAfter: number;
  macsBefore: number;
  macsAfter: number;
}

export interface StructuredResult {
  model: tf.LayersModel;
  plan: StructuredPlanStep;
  report: StructuredReport;
}

const inUnit = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x < 1;

function validate(opts: StructuredOptions, graph: DependencyGraph): void {
  if (!inUnit(opts.sparsity)) throw new ConfigError(`sparsity must be in [0, 1), got ${JSON.stringify(opts.sparsity)}`);
  if (opts.roundTo !== undefined && !(Number.isInteger(opts.roundTo) && opts.roundTo >= 1)) {
    throw new ConfigError(`roundTo must be a positive integer, got ${JSON.stringify(opts.roundTo)}`);
  }
  if (opts.scope !== undefined && opts.scope !== 'layer' && opts.scope !== 'global') {
    throw new ConfigError(`scope must be one of layer, global, got ${JSON.stringify(opts.scope)}`);
  }
  if (opts.criterion !== undefined && !(opts.criterion in IMPORTANCE)) {
    throw new ConfigError(`criterion must be one of ${Object.keys(IMPORTANCE).join(', ')}, got ${JSON.stringify(opts.criterion)}`);
  }
  const names = new Set(graph.nodes.map((n) => n.name));
  const producerGroup = new Map<string, GraphGroup>();
  for (const g of graph.groups) for (const p of g.producers) producerGroup.set(p, g);
  for (const name of opts.ignore ?? []) {
    if (!names.has(name)) throw new ConfigError(`ignore: no layer named "${name}" in the model`);
  }
  for (const [name, s] of Object.entries(opts.perLayer ?? {})) {
    if (!names.has(name)) throw new ConfigError(`perLayer: no layer named "${name}" in the model`);
    if (!inUnit(s)) throw new ConfigError(`perLayer.${name} must be in [0, 1), got ${JSON.stringify(s)}`);
    const g = producerGroup.get(name);
    if (s > 0 && !g) throw new ConfigError(`perLayer: layer "${name}" has no output channels to remove (it is not a Dense or convolution layer)`);
    if (s > 0 && g?.fixed) throw new ConfigError(`perLayer: layer "${name}" cannot be structurally pruned: its channels ${g.fixed}`);
  }
  for (const name of opts.scores?.keys() ?? []) {
    if (!producerGroup.has(name)) throw new ConfigError(`scores: "${name}" is not a layer with prunable output channels`);
  }
}

function targetOf(group: GraphGroup, opts: StructuredOptions): { sparsity: number; overridden: boolean } {
  const overrides = group.producers.map((p) => opts.perLayer?.[p]).filter((s): s is number => s !== undefined);
  if (overrides.length > 0) return { sparsity: Math.max(...overrides), overridden: true };
  return { sparsity: opts.sparsity, overridden: false };
}

/** Channels kept out of `n` when `remove` are requested: at least one, rounded up to `roundTo`. */
function keepCount(n: number, remove: number, roundTo: number | undefined): number {
  let keep = Math.max(1, n - remove);
  if (roundTo && roundTo > 1) keep = Math.min(n, Math.ceil(keep / roundTo) * roundTo);
  return keep;
}

/** Sorted kept indices: the `keep` highest scores (ties: lower index kept). */
function keepHighest(scores: Float32Array, keep: number): Int32Array {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || b - a);
  return Int32Array.from(order.slice(scores.length - keep)).sort();
}

function summary(scores: Float32Array, kept: Int32Array): ScoresSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const s of scores) {
    min = Math.min(min, s);
    max = Math.max(max, s);
    sum += s;
  }
  const keptSet = new Set(kept);
  let threshold = -Infinity;
  scores.forEach((s, i) => {
    if (!keptSet.has(i)) threshold = Math.max(threshold, s);
  });
  return { min, max, mean: scores.length ? sum / scores.length : 0, threshold };
}

function describeGroup(graph: DependencyGraph, group: GraphGroup): Omit<StructuredGroupStep, 'kept' | 'removed' | 'scores'> {
  const axes: StructuredGroupStep['axes'] = [];
  const add = (layer: string, role: 'out' | 'in' | 'follow', which: 'in' | 'out'): void => {
    const node = graph.node(layer);
    const list = which === 'in' ? node.rule.inAxes?.(node.layer) : node.rule.outAxes?.(node.layer);
    for (const a of list ?? []) axes.push({ layer, weight: node.layer.weights[a.index].name, axis: a.axis, role });
  };
  for (const p of group.producers) add(p, 'out', 'out');
  for (const c of group.consumers) add(c, 'in', 'in');
  for (const f of group.followers) {
    add(f, 'follow', 'in');
    add(f, 'follow', 'out');
  }
  return { producers: [...group.producers], consumers: [...group.consumers], followers: [...group.followers], axes, channels: group.size };
}

function refuseIfUnsupported(group: GraphGroup): void {
  if (group.refusals.length === 0) return;
  throw new UnsupportedLayerError(
    `cannot remove channels of ${group.producers.map((p) => `"${p}"`).join(', ')}: ${group.refusals.join('; ')}. ` +
      `Add ${group.producers.length > 1 ? 'them' : 'it'} to ignore to leave these channels intact`,
  );
}

function report(before: tf.LayersModel, after: tf.LayersModel, candidates: GraphGroup[], groups: StructuredGroupStep[]): StructuredReport {
  const total = candidates.reduce((a, g) => a + g.size, 0);
  const removed = groups.reduce((a, g) => a + g.removed.length, 0);
  return {
    unitsRemovedFraction: total ? removed / total : 0,
    paramsBefore: before.countParams(),
    paramsAfter: after.countParams(),
    macsBefore: modelMacs(before),
    macsAfter: modelMacs(after),
  };
}

/**
 * Removes the least important units/filters of every prunable channel group and returns a new,
 * smaller model (the original is left as it is), the replayable plan and a cost report.
 *
 * A group is the set of channels coupled through the graph (DepGraph, Fang et al. CVPR 2023): a
 * conv's filters plus the BatchNorm/DepthwiseConv2D channels that follow them, the next layers'
 * input rows (Flatten: rows p*C + c; Concatenate: offset), and all layers joined by a residual Add.
 * Channel score = the criterion's group score (magnitude: sum over producers of ||W[..., c]||_p).
 * Layer scope removes floor(sparsity * n) per group; global scope ranks scores normalised by each
 * group's mean. Channels feeding the model's output are never removed.
 * @example
 * const { model: small, report } = await pruneStructured(lenet5(), { sparsity: 0.5 });
 * report.macsAfter / report.macsBefore; // ~0.32
 */
export async function pruneStructured(model: tf.LayersModel, opts: StructuredOptions): Promise<StructuredResult> {
  const graph = buildDependencyGraph(model);
  validate(opts, graph);
  const scope = opts.scope ?? 'layer';
  const criterion = opts.criterion ?? 'magnitude';
  const ignored = new Set(opts.ignore ?? []);
  const candidates = graph.groups.filter((g) => !g.fixed && g.producers.length > 0 && !g.producers.some((p) => ignored.has(p)));

  const targets = candidates.map((g) => ({ group: g, ...targetOf(g, opts) }));
  for (const t of targets) if (t.sparsity > 0) refuseIfUnsupported(t.group);
  const active = targets.filter((t) => t.sparsity > 0 && t.group.size > 1);

  const ctx: ImportanceContext = { ...opts.importance, model, norm: opts.norm ?? 'l2', seed: opts.seed ?? opts.importance?.seed ?? 0 };
  const scores = await groupChannelScores(graph, active.map((t) => t.group), criterion, ctx, opts.scores);

  const removeCounts = active.map((t) => Math.floor(t.sparsity * t.group.size + 1e-9));
  if (scope === 'global') {
    // One ranking over the non-overridden groups; dividing by the group mean makes layers with
    // different weight scales comparable (Torch-Pruning's "mean" normaliser).
    const pool = active.map((t, i) => ({ t, i })).filter(({ t }) => !t.overridden);
    const entries: { score: number; slot: number }[] = [];
    for (const { i } of pool) {
      const s = scores[i];
      const mean = s.reduce((a, b) => a + b, 0) / s.length;
      for (const v of s) entries.push({ score: mean > 0 ? v / mean : v, slot: i });
      removeCounts[i] = 0;
    }
    entries.sort((a, b) => a.score - b.score || a.slot - b.slot);
    let budget = Math.floor(opts.sparsity * pool.reduce((a, { t }) => a + t.group.size, 0) + 1e-9);
    for (const e of entries) {
      if (budget === 0) break;
      if (removeCounts[e.slot] < active[e.slot].group.size - 1) {
        removeCounts[e.slot]++;
        budget--;
      }
    }
  }

  const keptByGroup = new Map<number, Int32Array>();
  const groups: StructuredGroupStep[] = [];
  active.forEach((t, i) => {
    const kept = keepHighest(scores[i], keepCount(t.group.size, removeCounts[i], opts.roundTo));
    const keptSet = new Set(kept);
    const removed = Array.from({ length: t.group.size }, (_, c) => c).filter((c) => !keptSet.has(c));
    if (removed.length > 0) keptByGroup.set(t.group.id, kept);
    groups.push({ ...describeGroup(graph, t.group), kept: Array.from(kept), removed, scores: summary(scores[i], kept) });
  });

  const pruned = rebuildPruned(model, graph, keptByGroup);
  const plan: StructuredPlanStep = { kind: 'structured', criterion, scope, sparsity: opts.sparsity, roundTo: opts.roundTo ?? null, groups };
  return { model: pruned, plan, report: report(model, pruned, candidates, groups) };
}

/**
 * Replays a structured step on the model it was computed for: the same groups (matched by their
 * producer layers) keep the same channels, so the result's weights equal the original run's.
 * @example const again = applyStructuredPlan(original, result.plan); // same weights as result.model
 */
export function applyStructuredPlan(original: tf.LayersModel, step: StructuredPlanStep): tf.LayersModel {
  if (step?.kind !== 'structured' || !Array.isArray(step.groups)) throw new ConfigError('plan step must be a structured step with groups');
  const graph = buildDependencyGraph(original);
  const byProducers = new Map(graph.groups.map((g) => [[...g.producers].sort().join('\u0000'), g]));
  const keptByGroup = new Map<number, Int32Array>();
  for (const gs of step.groups) {
    const group = byProducers.get([...gs.producers].sort().join('\u0000'));
    const label = gs.producers.join(', ');
    if (!group) throw new ConfigError(`plan group of layer(s) ${label} does not match a channel group of this model`);
    if (group.size !== gs.channels) throw new ConfigError(`plan group of layer(s) ${label}: ${gs.channels} channels in the plan, ${group.size} in the model`);
    if (gs.removed.length === 0) continue;
    if (group.fixed) throw new ConfigError(`plan removes channels of ${label}, which ${group.fixed}`);
    refuseIfUnsupported(group);
    const kept = Int32Array.from(gs.kept).sort();
    if (kept.length === 0 || kept.some((c, i) => !Number.isInteger(c) || c < 0 || c >= group.size || (i > 0 && c === kept[i - 1]))) {
      throw new ConfigError(`plan group of layer(s) ${label}: kept indices must be distinct integers in [0, ${group.size})`);
    }
    keptByGroup.set(group.id, kept);
  }
  return rebuildPruned(original, graph, keptByGroup);
}

/**
 * Replays several structured steps in order (an iterative run records one per round; each was
 * computed on the previous round's model). Intermediate models are disposed; the original is kept.
 * @example const again = applyStructuredSteps(original, plan.steps.filter((s) => s.kind === 'structured'));
 */
export function applyStructuredSteps(original: tf.LayersModel, steps: readonly StructuredPlanStep[]): tf.LayersModel {
  if (steps.length === 0) throw new ConfigError('no structured steps to replay');
  let model = original;
  for (const step of steps) {
    const next = applyStructuredPlan(model, step);
    if (model !== original) model.dispose();
    model = next;
  }
  return model;
}

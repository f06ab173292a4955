/**
 * Whether a pruning request can do what it asks, so that a run never ends `done` having removed
 * nothing. Two checks: before any work (is there anything prunable at all?) and after pruning (did
 * it reach at least half of the target?). Both explain why in terms of the model's channel groups.
 */
import type * as tf from '@tensorflow/tfjs';
import { NothingToPruneError, PruneShortfallError } from '../../common/errors';
import { buildDependencyGraph } from '../graph/depgraph';
import type { ChannelGroup, DependencyGraph } from '../graph/types';
import type { StructuredReport } from './structured';
import type { PruneConfig } from './types';

/** A run that reaches less than this fraction of its target fails (PruneShortfallError). */
export const SHORTFALL_RATIO = 0.5;

/** Why a group cannot lose channels, or undefined when it can. */
function whyFixed(g: ChannelGroup, ignored: ReadonlySet<string>): string | undefined {
  if (g.fixed) return g.fixed;
  if (g.producers.length === 0) return 'have no producing layer';
  if (g.producers.some((p) => ignored.has(p))) return 'belong to a layer in ignore';
  if (g.size <= 1) return 'are a single channel';
  return undefined;
}

/** Groups structured pruning may remove channels from (the candidates of pruneStructured, minus 1-channel groups). */
export function prunableGroups(graph: DependencyGraph, config: Pick<PruneConfig, 'ignore'>): ChannelGroup[] {
  const ignored = new Set(config.ignore ?? []);
  return graph.groups.filter((g) => whyFixed(g, ignored) === undefined);
}

const groupsWord = (n: number) => `${n} group${n === 1 ? '' : 's'}`;

/** `feeds model output "dense": 1 group (dense); model input "x": 1 group (50 input channels)`: why groups are fixed, counted. */
function fixedReasons(graph: DependencyGraph, config: Pick<PruneConfig, 'ignore'>): { total: number; text: string } {
  const ignored = new Set(config.ignore ?? []);
  const byReason = new Map<string, string[]>();
  for (const g of graph.groups) {
    const why = whyFixed(g, ignored);
    if (why === undefined) continue;
    const list = byReason.get(why) ?? [];
    list.push(g.producers.length > 0 ? g.producers.join('+') : `${g.size} input channels`);
    byReason.set(why, list);
  }
  const total = [...byReason.values()].reduce((a, l) => a + l.length, 0);
  const parts = [...byReason].map(([why, names]) => `${why}: ${groupsWord(names.length)} (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`);
  return { total, text: parts.join('; ') };
}

/** `2 of 3 channel groups are fixed — feeds model output "out": 1 group (out); ...`, for error messages. */
export function describeFixedGroups(graph: DependencyGraph, config: Pick<PruneConfig, 'ignore'>): string {
  const { total, text } = fixedReasons(graph, config);
  return total === 0 ? 'no channel group is fixed' : `${total} of ${graph.groups.length} channel groups are fixed — ${text}`;
}

const asked = (config: PruneConfig): boolean => config.sparsity > 0 || Object.values(config.perLayer ?? {}).some((s) => s > 0);

/**
 * Throws NothingToPruneError when a structured request cannot remove anything from `model`: no
 * prunable channel group, or a layer-scope sparsity that rounds every group's removal to 0. Cheap (builds the dependency graph only), so callers
 * run it before any measurement or training.
 * @example checkPrunable(model, validatePruneConfig({ granularity: 'structured', sparsity: 0.5 }, model))
 */
export function checkPrunable(model: tf.LayersModel, config: PruneConfig): void {
  if (!asked(config)) return;
  // Unstructured / N:M without any prunable weight is already a ConfigError of validatePruneConfig.
  if (config.granularity !== 'structured') return;
  const graph = buildDependencyGraph(model);
  const groups = prunableGroups(graph, config);
  if (groups.length === 0) {
    const why = graph.groups.length === 0 ? 'the model has no Dense or convolution layer whose output channels could be removed' : fixedReasons(graph, config).text;
    throw new NothingToPruneError(`structured pruning found no prunable channel group: every group is fixed — ${why}`);
  }
  const overridden = new Set(Object.keys(config.perLayer ?? {}));
  if ((config.scope ?? 'layer') === 'layer' && overridden.size === 0) {
    const rounds = config.schedule.kind === 'iterative' ? config.schedule.rounds : 1;
    const perRound = 1 - Math.pow(1 - config.sparsity, 1 / rounds);
    const largest = Math.max(...groups.map((g) => g.size));
    if (Math.floor(perRound * largest + 1e-9) === 0) {
      throw new NothingToPruneError(
        `structured pruning would remove no channel: sparsity ${+perRound.toFixed(4)} per round of a group of at most ${largest} channels rounds down to 0 removed; ` +
          'ask for a higher sparsity, fewer rounds, or scope global',
      );
    }
  }
}

/** Fraction of the target a structured result reached: its larger relative cut in params or MACs. */
export function structuredReduction(r: StructuredReport): number {
  const cut = (before: number, after: number) => (before > 0 ? 1 - after / before : 0);
  return Math.max(cut(r.paramsBefore, r.paramsAfter), cut(r.macsBefore, r.macsAfter));
}

/**
 * Throws PruneShortfallError when a structured result cut params and MACs by less than half of the
 * target fraction. `graph` is the dependency graph of the model before pruning (for the why).
 */
export function checkStructuredResult(report: StructuredReport, target: number, graph: DependencyGraph, config: PruneConfig): void {
  const reduction = structuredReduction(report);
  if (target <= 0 || reduction >= SHORTFALL_RATIO * target) return;
  throw new PruneShortfallError(
    `structured pruning fell far short of its target: asked to remove ${pct(target)} of units/filters, it cut params ${report.paramsBefore} -> ${report.paramsAfter} ` +
      `and MACs ${report.macsBefore} -> ${report.macsAfter} (${pct(reduction)}, under half the target); ` +
      `${groupsWord(prunableGroups(graph, config).length)} could be pruned, ${describeFixedGroups(graph, config)}`,
  );
}

/** Throws PruneShortfallError when unstructured / N:M pruning reached under half of its target sparsity. */
export function checkUnstructuredResult(achieved: number, target: number): void {
  if (target <= 0 || achieved >= SHORTFALL_RATIO * target) return;
  throw new PruneShortfallError(
    `pruning fell far short of its target: achieved sparsity ${pct(achieved)} of the prunable weights against a target of ${pct(target)} (under half)`,
  );
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * Channel scores for structured pruning: a dependency-graph group is handed to the shared
 * importance criteria (importance/*.ts) as its producers' out-channel weights (kernel and bias)
 * plus the gammas of the BatchNorms that follow it, so every criterion scores groups the same way.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { layoutWidth } from '../graph/rules';
import type { ChannelGroup as GraphGroup, DependencyGraph } from '../graph/types';
import { accumulateGradients, sumGroup, variableByName } from '../importance/common';
import { IMPORTANCE } from '../importance/index';
import type { ChannelGroupMember, ImportanceContext, PruneMethod } from './types';

/** The BatchNorm gammas that follow `group`, each cut to the group's own channels (caller disposes `owned`). */
function bnGammaMembers(graph: DependencyGraph, group: GraphGroup): { members: ChannelGroupMember[]; owned: tf.Tensor[] } {
  const members: ChannelGroupMember[] = [];
  const owned: tf.Tensor[] = [];
  for (const name of group.followers) {
    const node = graph.node(name);
    if (node.className !== 'BatchNormalization' || node.layer.getConfig().scale === false) continue;
    const layout = node.inputLayouts[0];
    if (layout.positions !== 1) continue;
    const gammaVar = node.layer.weights[0];
    let offset = 0;
    for (const seg of layout.segments) {
      // A plain run of the group's channels (repeat 1) has one gamma per channel; a concatenation
      // may hold the same group more than once, and each run contributes.
      if (graph.root(seg.space) === group.id && seg.repeat === 1) {
        let value: tf.Tensor = gammaVar.read();
        if (offset !== 0 || layoutWidth(layout) !== group.size) {
          value = tf.slice(value, [offset], [group.size]);
          owned.push(value);
        }
        members.push({ layer: name, weightName: gammaVar.name, value, axis: 0, role: 'bn-gamma' });
      }
      offset += seg.length * seg.repeat;
    }
  }
  return { members, owned };
}

/** The producers' out-channel weights (kernel and bias) as criterion members. */
function producerMembers(graph: DependencyGraph, group: GraphGroup): ChannelGroupMember[] {
  const members: ChannelGroupMember[] = [];
  for (const p of group.producers) {
    const node = graph.node(p);
    for (const axis of node.rule.outAxes?.(node.layer) ?? []) {
      const v = node.layer.weights[axis.index];
      members.push({ layer: p, weightName: v.name, value: v.read(), axis: axis.axis, role: 'kernel' });
    }
  }
  return members;
}

function externalScores(group: GraphGroup, external: ReadonlyMap<string, Float32Array> | undefined): Float32Array | undefined {
  const given = group.producers.filter((p) => external?.has(p));
  if (given.length === 0) return undefined;
  const out = new Float32Array(group.size);
  for (const p of given) {
    const s = external!.get(p)!;
    if (s.length !== group.size) throw new ConfigError(`scores for layer "${p}" have ${s.length} values, expected ${group.size} (one per output channel)`);
    for (let i = 0; i < s.length; i++) out[i] += s[i];
  }
  return out;
}

/**
 * First-order Taylor scores (|w * dL/dw|, Molchanov et al. 2019) of many groups from one pass over
 * the data; asking the criterion group by group would repeat the gradient pass for every group.
 */
function taylorGroupScores(graph: DependencyGraph, groups: GraphGroup[], ctx: ImportanceContext): Float32Array[] {
  const members = groups.map((g) => producerMembers(graph, g));
  const names = [...new Set(members.flat().map((m) => m.weightName))];
  const vars = names.map((name) => ({ name, variable: variableByName(ctx.model, name) }));
  const element = accumulateGradients(vars, ctx, 'taylor', (w, g) => tf.abs(tf.mul(w, g)));
  return groups.map((g, i) =>
    sumGroup({ channels: g.size, members: members[i] }, ctx.norm ?? 'l2', (m) => {
      const s = element.get(m.weightName);
      return s ? tf.tensor(s, m.value.shape) : null;
    }),
  );
}

/**
 * Scores of each channel of every group (higher = more important). `external` scores, keyed by
 * producer layer name, replace the criterion for their group and are summed across its producers.
 * @example const [s] = await groupChannelScores(graph, [group], 'magnitude', { model, norm: 'l2' })
 */
export async function groupChannelScores(
  graph: DependencyGraph,
  groups: GraphGroup[],
  method: PruneMethod,
  ctx: ImportanceContext,
  external?: ReadonlyMap<string, Float32Array>,
): Promise<Float32Array[]> {
  const out: (Float32Array | undefined)[] = groups.map((g) => externalScores(g, external));
  const open = groups.map((g, i) => ({ g, i })).filter(({ i }) => !out[i]);
  if (method === 'taylor' && open.length > 0) {
    const scores = taylorGroupScores(graph, open.map(({ g }) => g), ctx);
    open.forEach(({ i }, k) => (out[i] = scores[k]));
  }
  const importance = IMPORTANCE[method];
  for (const { g, i } of open) {
    if (out[i]) continue;
    const bn = bnGammaMembers(graph, g);
    // Random draws per group from its own seed, so equal-sized groups do not get the same ranking.
    const groupCtx = method === 'random' ? { ...ctx, seed: (ctx.seed ?? 0) + i } : ctx;
    try {
      out[i] = await importance.groupScores({ channels: g.size, members: [...producerMembers(graph, g), ...bn.members] }, groupCtx);
    } finally {
      for (const t of bn.owned) t.dispose();
    }
  }
  return out as Float32Array[];
}

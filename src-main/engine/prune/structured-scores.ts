/**
 * Channel scores for structured pruning: a dependency-graph group is handed to the shared
 * importance criteria (importance/*.ts) as its producers' out-channel weights (kernel and bias)
 * plus the gammas of the BatchNorms that follow it, so every criterion scores groups the same way.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../../common/errors';
import { layoutWidth } from '../graph/rules';
import type { ChannelGroup as GraphGroup, DependencyGraph } from '../graph/types';
import type { ChannelGroupMember, Importance, ImportanceContext } from './types';

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

/**
 * Scores of each channel of `group` (higher = more important). `external` scores, keyed by
 * producer layer name, replace the criterion and are summed across the group's producers.
 * @example await groupChannelScores(graph, group, magnitude, { model, norm: 'l2' })
 */
export async function groupChannelScores(
  graph: DependencyGraph,
  group: GraphGroup,
  importance: Importance,
  ctx: ImportanceContext,
  external?: ReadonlyMap<string, Float32Array>,
): Promise<Float32Array> {
  const given = group.producers.filter((p) => external?.has(p));
  if (given.length > 0) {
    const out = new Float32Array(group.size);
    for (const p of given) {
      const s = external!.get(p)!;
      if (s.length !== group.size) throw new ConfigError(`scores for layer "${p}" have ${s.length} values, expected ${group.size} (one per output channel)`);
      for (let i = 0; i < s.length; i++) out[i] += s[i];
    }
    return out;
  }
  const members: ChannelGroupMember[] = [];
  for (const p of group.producers) {
    const node = graph.node(p);
    for (const axis of node.rule.outAxes?.(node.layer) ?? []) {
      const v = node.layer.weights[axis.index];
      members.push({ layer: p, weightName: v.name, value: v.read(), axis: axis.axis, role: 'kernel' });
    }
  }
  const bn = bnGammaMembers(graph, group);
  try {
    return await importance.groupScores({ channels: group.size, members: [...members, ...bn.members] }, ctx);
  } finally {
    for (const t of bn.owned) t.dispose();
  }
}

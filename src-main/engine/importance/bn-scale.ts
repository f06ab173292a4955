/**
 * BatchNorm scale criterion (Liu et al. 2017, "Network Slimming"): a channel's importance is |gamma|
 * of the BatchNorm that follows its conv; with an L1 penalty during training, unimportant channels'
 * gammas go to zero. Channel groups only: it says nothing about individual weights.
 * @example await bnScale.groupScores({ channels: 4, members: [{ ..., value: gamma, axis: 0, role: 'bn-gamma' }] }, ctx)
 */
import { ConfigError, UnsupportedLayerError } from '../../common/errors';
import type { Importance } from '../prune/types';
import { channelNorms } from './common';

export const bnScale: Importance = {
  method: 'bn-scale',
  async scores() {
    throw new ConfigError('method bn-scale scores whole channels; it needs granularity structured');
  },
  async groupScores(group) {
    const out = new Float32Array(group.channels);
    let found = false;
    for (const m of group.members) {
      if (m.role !== 'bn-gamma') continue;
      found = true;
      const g = channelNorms(m.value, m.axis, 'l1');
      const off = m.offset ?? 0;
      for (let i = 0; i < g.length && off + i < out.length; i++) out[off + i] += g[i];
    }
    if (!found) {
      const layers = [...new Set(group.members.map((m) => m.layer))].join(', ');
      throw new UnsupportedLayerError(`bn-scale: no BatchNorm follows layer(s) ${layers}; use magnitude or taylor for them`);
    }
    return out;
  },
};

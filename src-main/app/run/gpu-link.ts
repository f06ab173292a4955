/**
 * How a run reaches the GPU peers: one small interface, two ends. In a worker (the app, web mode)
 * the run asks its job host (jobs/worker-runtime callHost -> job-host `answer`); in-process (CLI,
 * tests) it calls the registry directly. Either way the run first asks which peer (or why none),
 * then hands that peer its whole runPruning call.
 */
import type { HostAnswerer } from '../../jobs/job-host';
import type { HostCall } from '../../jobs/worker-runtime';
import type { GpuProgress, GpuPruningRequest, GpuPruningResponse } from '../../engine/remote/wire';
import { choosePeer, type GpuPeers, type GpuPreference, type PeerChoice } from '../gpu-peers';

export interface GpuLink {
  /** The peer that would train a run now, or why none will. */
  choose(): Promise<PeerChoice>;
  runPruning(peerId: string, request: GpuPruningRequest, hooks: { signal?: AbortSignal; onProgress?: (p: GpuProgress) => void }): Promise<GpuPruningResponse>;
}

const METHODS = { choose: 'gpu.choose', runPruning: 'gpu.runPruning' } as const;

/** The registry as a link (no registry: no peers, so `choose` says why). */
export function peersGpuLink(peers: GpuPeers | undefined, preference: () => GpuPreference): GpuLink {
  return {
    choose: async () => (peers ? peers.choose(preference()) : choosePeer(preference(), [])),
    runPruning: (peerId, request, hooks) => {
      if (!peers) throw new Error('no GPU peers here');
      return peers.submit(peerId, request, hooks);
    },
  };
}

/** The worker's end: each call goes to the job host. */
export function hostGpuLink(callHost: HostCall): GpuLink {
  return {
    choose: () => callHost(METHODS.choose, {}) as Promise<PeerChoice>,
    runPruning: (peerId, request, hooks) => callHost(METHODS.runPruning, { peerId, request }, hooks as { signal?: AbortSignal; onProgress?: (p: unknown) => void }) as Promise<GpuPruningResponse>,
  };
}

/** The host's end: answers the worker's calls from `link`. */
export function gpuAnswerer(link: GpuLink): HostAnswerer {
  return async (method, payload, hooks) => {
    if (method === METHODS.choose) return link.choose();
    if (method === METHODS.runPruning) {
      const { peerId, request } = payload as { peerId: string; request: GpuPruningRequest };
      return link.runPruning(peerId, request, { signal: hooks.signal, onProgress: hooks.onProgress });
    }
    throw new Error(`the run host has no method "${method}"`);
  };
}

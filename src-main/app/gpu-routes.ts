/**
 * Web mode's GPU peer routes, /api/gpu/* (token-gated by the server like the rest of /api): a
 * GPU window registers with its GpuInfo, long-polls for a job, posts progress (which doubles as
 * heartbeat and tells it of a cancel) and posts the trained model as one binary body. Thin: every
 * decision is in ./gpu-peers.ts; the bodies' framing is engine/remote/wire.ts. The web server stays
 * transport only: it hands /api/gpu/<route> here (cli/commands/web.ts wires the two).
 */
import { z } from 'zod';
import { describeIssues } from '../common/contract';
import { GpuInfoSchema, type GpuInfo, type GpuReply, type GpuRouteHandler, type GpuRouteRequest } from '../common/contract/gpu';
import { UnknownGpuPeerError, type GpuPeers, type GpuPreference } from './gpu-peers';
import type { SettingsService } from './settings-service';
import { decodeResponse, encodeRequest, GpuWireError, type GpuProgress } from '../engine/remote/wire';


/** How often a window calls in while training (well inside the registry's 15 s). */
export const GPU_HEARTBEAT_MS = 3000;
/** How long one long poll for a job waits before answering "nothing yet". */
const POLL_MS = 8000;

const Peer = z.object({ peerId: z.string().max(64) });
const Heartbeat = Peer.extend({ mainSilentMs: z.number().min(0).optional() });
const Job = Peer.extend({ jobId: z.string().max(64) });
const Progress = Job.extend({ events: z.array(z.record(z.string(), z.unknown())).max(10_000) });
const Failure = Job.extend({ error: z.object({ name: z.string().max(200), message: z.string().max(20_000) }) });

const bad = (message: string): GpuReply => ({ status: 400, json: { error: { name: 'ConfigError', message } } });

/**
 * The /api/gpu/<route> handler over `peers`; `preference` tells a page whether a GPU is wanted;
 * `memoryLimitBytes` (the settings' gpuMemoryLimitMiB, read as each job is handed out) goes with every job.
 */
export function gpuRoutes(peers: GpuPeers, preference: () => GpuPreference, memoryLimitBytes?: () => number): GpuRouteHandler {
  const routes: Record<string, (r: GpuRouteRequest) => Promise<GpuReply>> = {
    // Whether the UI should start a GPU window, and with which ?backend=.
    status: async () => {
      const p = preference();
      return { status: 200, json: { preference: p, wanted: p !== 'cpu', peers: peers.list().map((x) => ({ id: x.id, backend: x.info.backend, adapter: x.info.adapter, software: x.info.software ?? false, busy: x.busy })) } };
    },
    register: async (r) => {
      const info = GpuInfoSchema.parse((await r.json()).info);
      return { status: 200, json: { ...peers.register(info as GpuInfo), heartbeatMs: GPU_HEARTBEAT_MS } };
    },
    heartbeat: async (r) => {
      const h = Heartbeat.parse(await r.json());
      return { status: 200, json: peers.heartbeat(h.peerId, h.mainSilentMs) };
    },
    unregister: async (r) => {
      peers.unregister(Peer.parse(await r.json()).peerId);
      return { status: 200, json: { ok: true } };
    },
    next: async (r) => {
      const job = await peers.nextJob(Peer.parse(await r.json()).peerId, POLL_MS);
      if (!job) return { status: 204 };
      const limit = memoryLimitBytes?.();
      return { status: 200, bytes: encodeRequest(job.jobId, limit ? { ...job.request, gpuMemoryLimitBytes: limit } : job.request) };
    },
    progress: async (r) => {
      const p = Progress.parse(await r.json());
      return { status: 200, json: peers.progress(p.peerId, p.jobId, p.events as unknown as GpuProgress[]) };
    },
    error: async (r) => {
      const f = Failure.parse(await r.json());
      peers.fail(f.peerId, f.jobId, f.error);
      return { status: 200, json: { ok: true } };
    },
    // The trained model: a binary body; which peer and job in the query.
    result: async (r) => {
      const { peerId, jobId } = Job.parse({ peerId: r.query.get('peer'), jobId: r.query.get('job') });
      const response = decodeResponse(await r.bytes());
      peers.complete(peerId, jobId, response);
      return { status: 200, json: { ok: true } };
    },
  };
  return async (route: string, r: GpuRouteRequest): Promise<GpuReply> => {
    const handler = Object.prototype.hasOwnProperty.call(routes, route) ? routes[route] : undefined;
    if (!handler) return { status: 404, json: { error: { name: 'NotFound', message: `unknown GPU route ${route}` } } };
    const method = route === 'status' ? 'GET' : 'POST';
    if (r.method !== method) return { status: 405, json: { error: { name: 'MethodNotAllowed', message: `use ${method}` } } };
    try {
      return await handler(r);
    } catch (err) {
      if (err instanceof z.ZodError) return bad(describeIssues(err.issues, 'body'));
      if (err instanceof GpuWireError) return bad(err.message);
      // The window must register again (it was silent too long, or the app restarted).
      if (err instanceof UnknownGpuPeerError) return { status: 410, json: { error: { name: err.name, message: err.message } } };
      throw err;
    }
  };
}

/** The routes as the web server and the desktop app serve them: the settings decide whether a window is wanted and its memory limit. */
export function settingsGpuRoutes(peers: GpuPeers, settings: Pick<SettingsService, 'windowBackend' | 'gpuMemoryLimitBytes'>): GpuRouteHandler {
  return gpuRoutes(peers, () => settings.windowBackend(), () => settings.gpuMemoryLimitBytes());
}

/**
 * What the GPU side reports: which browser backend (WebGPU, WebGL) it initialized, on which adapter,
 * whether it passed the self-test against the cpu backend, and why any other was not used. The GPU
 * engine runs in a browser window (src-main/gpu/), never in Node: the CLI trains on the CPU.
 */
import { z } from 'zod';

export const GPU_BACKEND_NAMES = ['webgpu', 'webgl'] as const;

export type GpuBackendName = (typeof GPU_BACKEND_NAMES)[number];

/** `TOPIARY_BACKEND` / the page's `?backend=` choice for the window: one of them, or the first that passes. */
export type GpuBackendChoice = GpuBackendName | 'auto';

/** The self-test: a few Adam steps of a tiny net, the GPU backend's loss against the cpu backend's. */
export interface GpuSelfTest {
  steps: number;
  cpuLoss: number;
  gpuLoss: number;
  /** max |gpu - cpu| / max(|cpu|, 1e-3) over the losses of every step and every weight value. */
  relDiff: number;
  tolerance: number;
  passed: boolean;
  ms: number;
}

export interface GpuInfo {
  /** The backend now active, or null when none initialized and passed. */
  backend: GpuBackendName | null;
  /** The adapter as the browser names it: WebGPU adapter info, or WEBGL_debug_renderer_info's renderer. */
  adapter?: string;
  /** Software rasterizer (SwiftShader, llvmpipe) rather than a real GPU. */
  software?: boolean;
  selfTest?: GpuSelfTest;
  /** Backends tried before (or instead of) the chosen one, and why each was not used. */
  skipped: { name: GpuBackendName; reason: string }[];
  tfjsVersion: string;
}

/**
 * What a GPU window sends when it registers (web mode's POST /api/gpu/register): its GpuInfo,
 * checked at the boundary because a peer is a page that anyone with the token could script.
 */
export const GpuInfoSchema = z.object({
  backend: z.enum(GPU_BACKEND_NAMES).nullable(),
  adapter: z.string().max(500).optional(),
  software: z.boolean().optional(),
  selfTest: z
    .object({
      steps: z.number(),
      cpuLoss: z.number().nullable(),
      gpuLoss: z.number().nullable(),
      relDiff: z.number().nullable(),
      tolerance: z.number(),
      passed: z.boolean(),
      ms: z.number(),
    })
    .optional(),
  skipped: z.array(z.object({ name: z.enum(GPU_BACKEND_NAMES), reason: z.string().max(2000) })).max(8),
  tfjsVersion: z.string().max(100),
});

/**
 * Web mode's GPU routes as the server sees them: /api/gpu/<route> handed to one handler (the app's,
 * app/gpu-routes.ts), the body read only when the route asks for it, as JSON or as bytes.
 */
export interface GpuRouteRequest {
  method: string;
  query: URLSearchParams;
  json(): Promise<Record<string, unknown>>;
  bytes(): Promise<Uint8Array>;
}

export type GpuReply = { status: number; json: unknown } | { status: 200; bytes: Uint8Array } | { status: 204 };

export type GpuRouteHandler = (route: string, request: GpuRouteRequest) => Promise<GpuReply>;

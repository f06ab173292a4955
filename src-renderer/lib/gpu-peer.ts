/**
 * Web mode: the app page connects a GPU peer by itself, a hidden frame of gpu.html that registers
 * with the server and trains runs on WebGPU/WebGL (src-main/gpu/peer.ts). A frame, not a worker:
 * the GPU page's backend choice and self-test need a document (canvas, WebGL context), and the
 * same page is what a user opens to see what their browser found. It is opened only when the
 * server says a GPU is wanted (the training backend preference is not cpu): the self-test and a
 * GPU context cost seconds and memory that a CPU-only setup should not pay. The desktop app has
 * no such frame (its GPU window belongs to the main process).
 */
export async function connectGpuPeer(token: string): Promise<void> {
  const res = await fetch('api/gpu/status', { headers: { 'x-topiary-token': token } }).catch(() => undefined);
  if (!res?.ok) return;
  const status = (await res.json()) as { wanted: boolean; preference: string };
  if (!status.wanted) return;
  const backend = status.preference === 'webgl' || status.preference === 'webgpu' ? status.preference : 'auto';
  const frame = document.createElement('iframe');
  frame.src = `gpu.html?backend=${backend}&token=${encodeURIComponent(token)}`;
  frame.title = 'Topiary GPU engine';
  frame.id = 'gpu-peer';
  frame.hidden = true;
  frame.setAttribute('aria-hidden', 'true');
  document.body.append(frame);
}

/**
 * The GPU peer's heartbeat, on its own thread. Training on WebGL can hold the page's main thread
 * for many seconds at a stretch (the first step compiles every shader; SwiftShader on a loaded
 * machine took over 15 s), and timers on that thread wait until it is free, so a heartbeat from
 * there would make a busy window look dead. This worker calls in every few seconds whatever the
 * page does, and says how long the main thread has been silent (`mainSilentMs`), so a window that
 * closed (the worker dies with it) or hung for minutes is still told apart from a busy one.
 */
interface Start {
  type: 'start';
  url: string;
  token: string;
  peerId: string;
  intervalMs: number;
}
type Message = Start | { type: 'tick' } | { type: 'stop' };

let timer: ReturnType<typeof setInterval> | undefined;
let lastTick = Date.now();

const scope = self as unknown as { onmessage: ((e: MessageEvent<Message>) => void) | null; postMessage(m: unknown): void };

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'tick') lastTick = Date.now();
  if (m.type === 'stop' && timer) clearInterval(timer);
  if (m.type !== 'start') return;
  if (timer) clearInterval(timer);
  lastTick = Date.now();
  timer = setInterval(() => {
    const body = JSON.stringify({ peerId: m.peerId, mainSilentMs: Date.now() - lastTick });
    fetch(m.url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-topiary-token': m.token }, body })
      .then(async (r) => scope.postMessage(r.ok ? { cancel: ((await r.json()) as { cancel: string[] }).cancel } : { status: r.status }))
      .catch(() => {});
  }, m.intervalMs);
};

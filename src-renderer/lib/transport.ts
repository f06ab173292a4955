/**
 * The renderer's one way to reach the services: Electron IPC through the preload's `window.topiary`,
 * or HTTP + Server-Sent Events in web mode. Components never know which.
 */
import { EVENT_NAMES, type CommandInput, type CommandName, type CommandResults, type ContractEvent, type DialogRequest, type EventName } from '../../src-main/common/contract';

interface PreloadApi {
  invoke(name: string, payload: unknown): Promise<{ ok: true; result: unknown } | { ok: false; error: { name: string; message: string } }>;
  dialog(request: DialogRequest): Promise<string | null>;
  on(listener: (name: string, payload: unknown) => void): () => void;
}

export class ApiError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Receives every pushed event; narrow on `e.name` to get its payload's type. */
type Listener = (e: ContractEvent) => void;

export interface Transport {
  call<C extends CommandName>(name: C, payload: CommandInput<C>): Promise<CommandResults[C]>;
  /** `replay`: first hand the listener the recent events (a monitor opened just after startRun). */
  on(listener: Listener, opts?: { replay?: boolean }): () => void;
  /** Native dialogs exist only in the desktop app. */
  readonly hasDialogs: boolean;
  dialog(request: DialogRequest): Promise<string | null>;
}

/** Events since the page loaded; enough for a run's whole start-up, bounded for long sessions. */
const RECENT_EVENTS = 2000;

/**
 * One subscription to the services for the page's lifetime, fanned out to components. Listening
 * from the start (not from a component's mount) means no event falls between `startRun` returning
 * and the monitor subscribing, which lost the whole life of runs that failed within milliseconds.
 */
class EventHub {
  private listeners = new Set<Listener>();
  private recent: ContractEvent[] = [];

  /** The main side sends only contract events; the payload is trusted as the contract types it. */
  emit(name: EventName, payload: unknown) {
    const e = { name, payload } as ContractEvent;
    this.recent.push(e);
    if (this.recent.length > RECENT_EVENTS) this.recent.splice(0, this.recent.length - RECENT_EVENTS);
    for (const l of this.listeners) l(e);
  }

  on(listener: Listener, opts: { replay?: boolean } = {}): () => void {
    if (opts.replay) for (const e of this.recent) listener(e);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function electronTransport(api: PreloadApi): Transport {
  const hub = new EventHub();
  api.on((name, payload) => hub.emit(name as EventName, payload));
  return {
    async call(name, payload) {
      const r = await api.invoke(name, payload);
      if (!r.ok) throw new ApiError(r.error.name, r.error.message);
      return r.result as never;
    },
    on: (listener, opts) => hub.on(listener, opts),
    hasDialogs: true,
    dialog: (request) => api.dialog(request),
  };
}

function webTransport(): Transport {
  const params = new URLSearchParams(location.search);
  const token = params.get('token') ?? sessionStorage.getItem('topiary-token') ?? '';
  sessionStorage.setItem('topiary-token', token);
  const hub = new EventHub();
  const source = new EventSource(`api/events?token=${encodeURIComponent(token)}`);
  for (const name of EVENT_NAMES) {
    source.addEventListener(name, (e) => hub.emit(name, JSON.parse((e as MessageEvent).data)));
  }
  return {
    async call(name, payload) {
      const res = await fetch(`api/${name}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'x-topiary-token': token },
        body: JSON.stringify(payload ?? {}),
      });
      const body = await res.json();
      if (!res.ok) throw new ApiError(body.error?.name ?? 'Error', body.error?.message ?? res.statusText);
      return body.result;
    },
    on: (listener, opts) => hub.on(listener, opts),
    hasDialogs: false,
    dialog: async () => null,
  };
}

const preload = (globalThis as { topiary?: PreloadApi }).topiary;
export const transport: Transport = preload ? electronTransport(preload) : webTransport();

/** Web mode's access token (the page's `?token=`, kept for reloads); undefined in the desktop app. */
export const webToken: string | undefined = preload ? undefined : (sessionStorage.getItem('topiary-token') ?? undefined);

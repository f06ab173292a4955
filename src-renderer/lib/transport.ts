/**
 * The renderer's one way to reach the services: Electron IPC through the preload's `window.topiary`,
 * or HTTP + Server-Sent Events in web mode. Components never know which.
 */
import type { CommandInput, CommandName, DialogRequest, EventName } from '../../src-main/common/contract';
import type { ApiResults } from '../../src-main/app/api';

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

export interface Transport {
  call<C extends CommandName>(name: C, payload: CommandInput<C>): Promise<ApiResults[C]>;
  on(listener: (name: EventName, payload: unknown) => void): () => void;
  /** Native dialogs exist only in the desktop app. */
  readonly hasDialogs: boolean;
  dialog(request: DialogRequest): Promise<string | null>;
}

function electronTransport(api: PreloadApi): Transport {
  return {
    async call(name, payload) {
      const r = await api.invoke(name, payload);
      if (!r.ok) throw new ApiError(r.error.name, r.error.message);
      return r.result as never;
    },
    on: (listener) => api.on(listener as (n: string, p: unknown) => void),
    hasDialogs: true,
    dialog: (request) => api.dialog(request),
  };
}

function webTransport(): Transport {
  const params = new URLSearchParams(location.search);
  const token = params.get('token') ?? sessionStorage.getItem('topiary-token') ?? '';
  sessionStorage.setItem('topiary-token', token);
  const listeners = new Set<(name: EventName, payload: unknown) => void>();
  let source: EventSource | undefined;
  const connect = () => {
    source = new EventSource(`api/events?token=${encodeURIComponent(token)}`);
    for (const name of ['runProgress', 'runFinished', 'runLog'] as const) {
      source.addEventListener(name, (e) => {
        const payload = JSON.parse((e as MessageEvent).data);
        for (const l of listeners) l(name, payload);
      });
    }
  };
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
    on(listener) {
      if (!source) connect();
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    hasDialogs: false,
    dialog: async () => null,
  };
}

const preload = (globalThis as { topiary?: PreloadApi }).topiary;
export const transport: Transport = preload ? electronTransport(preload) : webTransport();

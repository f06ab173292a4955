/** Hash routes: #/wizard, #/runs, #/runs/<id>, #/monitor/<id>, #/fit/<jobId>, #/compare?ids=a,b, #/profiles[/<id>], #/settings */
export type Route =
  | { name: 'wizard'; prefill?: string; derive?: string; profile?: string }
  | { name: 'profiles'; id?: string }
  | { name: 'settings' }
  | { name: 'runs'; params?: string }
  | { name: 'run'; id: string }
  | { name: 'monitor'; id: string }
  | { name: 'fit'; id: string }
  | { name: 'compare'; ids: string[] };

export function parseRoute(hash: string): Route {
  const [pathPart, query = ''] = hash.replace(/^#\/?/, '').split('?');
  const params = new URLSearchParams(query);
  const [head, id] = pathPart.split('/');
  if (head === 'runs' && id) return { name: 'run', id };
  if (head === 'runs') return { name: 'runs', params: query };
  if (head === 'monitor' && id) return { name: 'monitor', id };
  if (head === 'fit' && id) return { name: 'fit', id };
  if (head === 'compare') return { name: 'compare', ids: (params.get('ids') ?? '').split(',').filter(Boolean) };
  if (head === 'settings') return { name: 'settings' };
  if (head === 'profiles') return { name: 'profiles', ...(id ? { id: decodeURIComponent(id) } : {}) };
  return { name: 'wizard', prefill: params.get('from') ?? undefined, derive: params.get('derive') ?? undefined, profile: params.get('profile') ?? undefined };
}

export class Router {
  route = $state<Route>(parseRoute(location.hash));

  constructor() {
    addEventListener('hashchange', () => (this.route = parseRoute(location.hash)));
  }

  go(hash: string) {
    location.hash = hash;
  }

  /**
   * Rewrites the current history entry (no new Back step), e.g. History's filters as they are
   * typed: Back still leaves the screen, and coming back or reloading restores them.
   */
  replace(hash: string) {
    if (location.hash === hash) return;
    history.replaceState(history.state, '', hash);
    this.route = parseRoute(hash);
  }
}

export const router = new Router();

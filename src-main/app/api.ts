/**
 * The contract's implementation: one function per command, shared by the Electron IPC handler, the
 * web server and tests. Payloads arrive already validated against src-main/common/contract (the
 * front door calls parsePayload); each handler returns that command's CommandResults entry.
 * Store and history commands are answered here; every command that needs the engine (a model, a
 * dataset, tfjs, LiteRT) goes to the engine worker, and runs and fits to their own workers, so this
 * module loads no tfjs and no native addon: the Electron main process holds it.
 */
import type { CommandName, CommandPayload, CommandResults, ContractEvent, EventListener } from '../common/contract';
import type { RunFilter, RunQuery } from '../store/types';
import { openStoreServices, type AppServices } from './store-services';
import { describeGpuWindows, type GpuPeers } from './gpu-peers';
import { FitJobs } from './fit-jobs';
import { defaultDbPath, topiaryHome } from './paths';
import { ProfileService } from './profile-service';
import { SettingsService, type SettingsView } from './settings-service';
import { createEngine, type EngineCalls, type EngineCommand } from './engine-worker';
import type { EngineHost } from '../jobs/engine-host';

/** What each command returns: the contract's CommandResults (kept under its old name). */
export type ApiResults = CommandResults;

export interface Api {
  /** Runs a command on a payload already validated against its schema (parsePayload). */
  invoke<C extends CommandName>(name: C, payload: unknown): Promise<CommandResults[C]>;
  subscribe(listener: EventListener): () => void;
  close(): Promise<void>;
  services: AppServices;
  /** The engine worker behind the engine commands (started on the first such call). */
  engine: EngineHost<EngineCalls>;
}

type Handlers = { [C in CommandName]: (payload: CommandPayload<C>) => Promise<CommandResults[C]> | CommandResults[C] };

function toStoreQuery(q: CommandPayload<'listRuns'>): RunQuery {
  const { direction, sort, ...rest } = q;
  return { ...rest, direction, sort: sort as RunQuery['sort'] };
}

export async function createApi(opts: { home?: string; dbPath?: string; gpuPeers?: GpuPeers } = {}): Promise<Api> {
  const home = opts.home ?? topiaryHome();
  const dbPath = opts.dbPath ?? defaultDbPath();
  const services = await openStoreServices({ dbPath, home, ...(opts.gpuPeers ? { gpuPeers: opts.gpuPeers } : {}) });
  const { history, runs } = services;
  const profiles = new ProfileService(services.store);
  const settings = new SettingsService(home);
  // Which GPU windows are connected and whether the next run would use each (web mode, desktop app).
  const withGpuWindows = (view: SettingsView): SettingsView =>
    opts.gpuPeers ? { ...view, gpuWindows: describeGpuWindows(opts.gpuPeers.list(), view.training?.choice ?? 'cpu') } : view;
  const listeners = new Set<EventListener>();
  const broadcast = (e: ContractEvent) => {
    for (const l of listeners) l(e.name, e.payload);
  };
  const offRuns = runs.on(broadcast);
  const fits = new FitJobs({ dbPath, home }, broadcast);
  const engine = createEngine({ dbPath, home });
  const inEngine = <C extends EngineCommand>(name: C) => (payload: CommandPayload<C>) => engine.call(name, payload);

  const handlers: Handlers = {
    getInfo: inEngine('getInfo'),
    describeModel: inEngine('describeModel'),
    describeDataset: inEngine('describeDataset'),
    previewDataset: inEngine('previewDataset'),
    startRun: (config) => runs.start(config),
    cancelRun: ({ runId }) => ({ cancelled: runs.cancel(history.resolve(runId)) }),
    listRuns: (q) => history.list(toStoreQuery(q)),
    getRun: ({ runId }) => history.show(runId),
    compareRuns: ({ runIds }) => history.compare(runIds),
    paretoRuns: ({ objectives }) => history.pareto(objectives, {}, { includeAll: true }),
    exportRun: inEngine('exportRun'),
    exportRunsCsv: (q) => {
      const { limit: _l, offset: _o, sort: _s, direction: _d, ...filter } = q;
      return history.exportCsv(filter as RunFilter);
    },
    tagRun: ({ runId, tag, remove }) => ({ tags: remove ? history.untag(runId, [tag]) : history.tag(runId, [tag]) }),
    noteRun: ({ runId, note }) => {
      history.note(runId, note || null);
      return { ok: true as const };
    },
    deleteRun: ({ runId, deleteArtifacts }) => history.delete(runId, { deleteArtifacts }),
    listProfiles: () => profiles.list(),
    checkFit: inEngine('checkFit'),
    startFit: (req) => {
      profiles.get(req.profile); // an unknown profile is refused now, not in the worker
      return fits.start(req);
    },
    cancelFit: ({ jobId }) => ({ cancelled: fits.cancel(jobId) }),
    getProfile: ({ id }) => profiles.get(id),
    duplicateProfile: ({ id, newId, name }) => profiles.duplicate(id, newId, name),
    saveProfile: ({ id, profile }) => profiles.update(id, profile, `profile ${id}`),
    deleteProfile: ({ id }) => profiles.delete(id),
    getSettings: () => withGpuWindows(settings.view()),
    updateSettings: (patch) => withGpuWindows(settings.update(patch)),
  };

  return {
    services,
    engine,
    invoke: async (name, payload) => (handlers[name] as (p: unknown) => never)(payload),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      offRuns();
      await fits.close();
      await engine.close();
      await services.close();
    },
  };
}

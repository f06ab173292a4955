/**
 * The contract's implementation: one function per command, shared by the Electron IPC handler, the
 * web server and tests. Payloads arrive already validated against src-main/common/contract (the
 * front door calls parsePayload); each handler returns that command's CommandResults entry.
 */
import type { CommandName, CommandPayload, CommandResults, ContractEvent, EventListener } from '../common/contract';
import type { RunFilter, RunQuery } from '../store/types';
import { loadDataset, describeDataset } from '../node/datasets';
import { getInfo } from './info-service';
import { describeModel, openModel } from './model-service';
import { loadDatasetForModel } from './model-data';
import { openAppServices, type AppServices } from './services';
import { FitJobs } from './fit-jobs';
import { resolveRunModel } from './run-pipeline';
import { defaultDbPath, topiaryHome } from './paths';
import { exportStoredRun } from './export-service';
import { ProfileService } from './profile-service';
import { checkModelFit } from './fit-service';
import { previewForModel } from './preview-service';

export interface Api {
  /** Runs a command on a payload already validated against its schema (parsePayload). */
  invoke<C extends CommandName>(name: C, payload: unknown): Promise<CommandResults[C]>;
  subscribe(listener: EventListener): () => void;
  close(): Promise<void>;
  services: AppServices;
}

type Handlers = { [C in CommandName]: (payload: CommandPayload<C>) => Promise<CommandResults[C]> | CommandResults[C] };

function toStoreQuery(q: CommandPayload<'listRuns'>): RunQuery {
  const { direction, sort, ...rest } = q;
  return { ...rest, direction, sort: sort as RunQuery['sort'] };
}

export async function createApi(opts: { home?: string; dbPath?: string; mode?: 'worker' | 'in-process' } = {}): Promise<Api> {
  const home = opts.home ?? topiaryHome();
  const services = await openAppServices({ dbPath: opts.dbPath ?? defaultDbPath(), home, mode: opts.mode ?? 'worker' });
  const { history, runs } = services;
  const profiles = new ProfileService(services.store);
  const listeners = new Set<EventListener>();
  const broadcast = (e: ContractEvent) => {
    for (const l of listeners) l(e.name, e.payload);
  };
  const offRuns = runs.on(broadcast);
  const fits = new FitJobs({ dbPath: opts.dbPath ?? defaultDbPath(), home }, broadcast);

  const modelPath = (spec: string) =>
    spec.startsWith('run:') ? resolveRunModel(`run:${history.resolve(spec.slice(4))}`, services.runsDir) : spec;

  const handlers: Handlers = {
    getInfo: () => getInfo(),
    describeModel: ({ spec }) => describeModel(modelPath(spec)),
    describeDataset: async ({ spec, model, inputScale, resize, task }) => {
      if (model === undefined) return describeDataset(await loadDataset(spec, task ? { task } : {}));
      const loaded = await openModel(modelPath(model));
      try {
        return describeDataset((await loadDatasetForModel(loaded.model, spec, { inputScale, resize, ...(task ? { task } : {}) })).dataset);
      } finally {
        loaded.model.dispose();
      }
    },
    previewDataset: (req) => previewForModel({ ...req, model: req.model === undefined ? undefined : modelPath(req.model) }),
    startRun: (config) => runs.start(config),
    cancelRun: ({ runId }) => ({ cancelled: runs.cancel(history.resolve(runId)) }),
    listRuns: (q) => history.list(toStoreQuery(q)),
    getRun: ({ runId }) => history.show(runId),
    compareRuns: ({ runIds }) => history.compare(runIds),
    paretoRuns: ({ objectives }) => history.pareto(objectives, {}, { includeAll: true }),
    exportRun: (req) => exportStoredRun(services, req),
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
    checkFit: (req) => checkModelFit(profiles, req),
    startFit: (req) => {
      profiles.get(req.profile); // an unknown profile is refused now, not in the worker
      return fits.start(req);
    },
    cancelFit: ({ jobId }) => ({ cancelled: fits.cancel(jobId) }),
  };

  return {
    services,
    invoke: async (name, payload) => (handlers[name] as (p: unknown) => never)(payload),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      offRuns();
      await fits.close();
      await services.close();
    },
  };
}

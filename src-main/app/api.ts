/**
 * The contract's implementation: one function per command, shared by the Electron IPC handler, the
 * web server and tests. Payloads arrive already validated against src-main/common/contract.ts.
 */
import type { CommandName, CommandPayload, EventName } from '../common/contract';
import type { RunFilter, RunQuery } from '../store/types';
import { loadDataset, describeDataset, type DatasetSummary } from '../node/datasets';
import { getInfo, type AppInfo } from './info-service';
import { describeModel, openModel, type ModelDescription } from './model-service';
import { loadDatasetForModel } from './model-data';
import { openAppServices, type AppServices } from './services';
import { FitJobs } from './fit-jobs';
import { resolveRunModel } from './run-pipeline';
import { defaultDbPath, topiaryHome } from './paths';
import { exportStoredRun, type StoredExportResult } from './export-service';
import type { BundleImportResult, DeleteResult, ParetoResult, RunComparison } from './history-service';
import type { RunDetail, RunPage } from '../store/types';
import { ProfileService, type ProfileSummary } from './profile-service';
import { checkModelFit, type FitCheckResult } from './fit-service';
import { previewForModel, type DatasetPreviewResult } from './preview-service';

/** What each command returns (the renderer imports this as a type). */
export interface ApiResults {
  getInfo: AppInfo;
  describeModel: ModelDescription;
  describeDataset: DatasetSummary;
  previewDataset: DatasetPreviewResult;
  startRun: { runId: string; queued: number };
  cancelRun: { cancelled: boolean };
  listRuns: RunPage;
  getRun: RunDetail;
  compareRuns: RunComparison;
  paretoRuns: ParetoResult;
  exportRun: StoredExportResult;
  exportRunsCsv: { runs: string; metrics: string };
  tagRun: { tags: string[] };
  noteRun: { ok: true };
  deleteRun: DeleteResult;
  listProfiles: ProfileSummary[];
  checkFit: FitCheckResult;
  startFit: { jobId: string };
  cancelFit: { cancelled: boolean };
}
export type { BundleImportResult };

export interface Api {
  invoke(name: CommandName, payload: unknown): Promise<unknown>;
  subscribe(listener: (name: EventName, payload: unknown) => void): () => void;
  close(): Promise<void>;
  services: AppServices;
}

type Handlers = { [C in CommandName]: (payload: CommandPayload<C>) => Promise<ApiResults[C]> | ApiResults[C] };

function toStoreQuery(q: CommandPayload<'listRuns'>): RunQuery {
  const { direction, sort, ...rest } = q;
  return { ...rest, direction, sort: sort as RunQuery['sort'] };
}

export async function createApi(opts: { home?: string; dbPath?: string; mode?: 'worker' | 'in-process' } = {}): Promise<Api> {
  const home = opts.home ?? topiaryHome();
  const services = await openAppServices({ dbPath: opts.dbPath ?? defaultDbPath(), home, mode: opts.mode ?? 'worker' });
  const { history, runs } = services;
  const profiles = new ProfileService(services.store);
  const listeners = new Set<(name: EventName, payload: unknown) => void>();
  const broadcast = (e: { name: EventName; payload: unknown }) => {
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
    invoke: async (name, payload) => (handlers[name] as (p: unknown) => unknown)(payload),
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

// Worker entry for the engine worker: every engine call the UI makes (describe, preview, export +
// verify, fit check, evaluate, replay), answered off the caller's thread. It opens its own
// connection to the experiment store for `run:<id>` models and for recording exports.
import path from 'node:path';
import { workerData } from 'node:worker_threads';
import { serveMethods } from '../jobs/worker-runtime';
import { describeDataset, loadDataset } from '../node/datasets';
import { openStore, type Store } from '../store/db';
import type { EngineCalls, EngineInit } from './engine-worker';
import { evaluateModel } from './evaluate-service';
import { exportStoredRun } from './export-service';
import { checkModelFit } from './fit-service';
import { HistoryService } from './history-service';
import { getInfo } from './info-service';
import { loadDatasetForModel } from './model-data';
import { describeModel, openModel } from './model-service';
import { previewForModel } from './preview-service';
import { ProfileService } from './profile-service';
import { replayRun } from './replay-service';
import { resolveRunModel } from './run-pipeline';

const init = workerData.init as EngineInit;
const runsDir = path.join(init.home, 'runs');

// Opened on first use: describing `demo` needs no database.
let opened: { store: Store; history: HistoryService; profiles: ProfileService; runsDir: string } | undefined;
function stored() {
  if (!opened) {
    const store = openStore(init.dbPath);
    opened = { store, history: new HistoryService(store, { runsDir }), profiles: new ProfileService(store), runsDir };
  }
  return opened;
}

const modelPath = (spec: string) => (spec.startsWith('run:') ? resolveRunModel(`run:${stored().history.resolve(spec.slice(4))}`, runsDir) : spec);

serveMethods<EngineCalls>({
  getInfo: () => getInfo({ home: init.home }),
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
  exportRun: (req) => exportStoredRun(stored(), req),
  checkFit: (req) => checkModelFit(stored().profiles, req),
  evaluate: (req, { signal, onProgress }) => evaluateModel({ ...req, model: modelPath(req.model) }, { signal, onProgress }),
  replay: ({ runId, outDir }) => replayRun(stored(), runId, outDir),
});

/**
 * Configs of runs this window started, by run id. The store records a run only once its model and
 * data are loaded, so for its first seconds a new run is known to the renderer but not to getRun;
 * the monitor reads its name and epoch count from here meanwhile.
 */
import type { RunConfigInput } from '../../src-main/common/run-config';

export const startedRuns = new Map<string, RunConfigInput>();

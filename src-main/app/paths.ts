/** Where Topiary keeps things on disk: the user's data folder and the app's bundled resources. */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `$TOPIARY_HOME`, else `~/.topiary`. Electron passes its `userData` folder explicitly instead. */
export function topiaryHome(): string {
  return process.env.TOPIARY_HOME ?? path.join(os.homedir(), '.topiary');
}

/** The experiment database: `$TOPIARY_HOME/topiary.db` (the store owns this rule). */
export { defaultDbPath } from '../store/db';

/** The repository (or packaged app) root: two levels above src-main/app; the built app sets TOPIARY_APP_ROOT. */
export function appRoot(): string {
  return process.env.TOPIARY_APP_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Bundled resources (demo model, demo data, icons). `TOPIARY_RESOURCES` overrides (packaged app). */
export function resourcesDir(): string {
  return process.env.TOPIARY_RESOURCES ?? path.join(appRoot(), 'resources');
}

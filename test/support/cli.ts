/**
 * The CLI as a user runs it (`node bin/topiary.mjs ...`) against a test's own data folder, on the
 * wasm backend, waiting for it to exit; what the integration tests of each command share.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A `topiary(args)` bound to the data folder `home`; `timeoutMs` bounds each command.
 * @example const topiary = cliIn(home); topiary(['runs', 'list', '--json']).stdout
 */
export function cliIn(home: string | (() => string), timeoutMs = 180_000): (args: string[], env?: Record<string, string>) => CliResult {
  return (args, env = {}) => {
    const r = spawnSync(process.execPath, [path.join(root, 'bin', 'topiary.mjs'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, TOPIARY_HOME: typeof home === 'string' ? home : home(), TOPIARY_BACKEND: 'wasm', CI: '1', ...env },
      timeout: timeoutMs,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

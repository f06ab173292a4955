/**
 * Up-front checks for where a command will write, so that a destination that cannot work is a
 * ConfigError before any work starts (a prune that runs for an hour and then fails on EEXIST has
 * already been recorded as done). They check what can be known now: what exists at the path, and
 * that the nearest existing ancestor is a folder we may write into.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../common/errors';

/**
 * A folder the command will create and fill: it must not exist yet, or be an empty folder.
 * @example checkOutputFolder(o.out, '--out') // before the run starts
 */
export function checkOutputFolder(p: string, what: string): string {
  const abs = path.resolve(p);
  const stat = statOrUndefined(abs, what);
  if (stat) {
    if (!stat.isDirectory()) throw new ConfigError(`${what} ${abs}: exists and is not a folder`, { file: abs });
    if (fs.readdirSync(abs).length > 0) throw new ConfigError(`${what} ${abs}: folder is not empty; choose a new or empty folder`, { file: abs });
    checkWritable(abs, what);
    return abs;
  }
  checkAncestor(abs, what);
  return abs;
}

/** A file the command will write (replacing an earlier file of that name is allowed; a folder is not). */
export function checkOutputFile(p: string, what: string): string {
  const abs = path.resolve(p);
  const stat = statOrUndefined(abs, what);
  if (stat) {
    if (stat.isDirectory()) throw new ConfigError(`${what} ${abs}: is a folder, expected a file`, { file: abs });
    if (!stat.isFile()) throw new ConfigError(`${what} ${abs}: exists and is not a regular file`, { file: abs });
    try {
      fs.accessSync(abs, fs.constants.W_OK);
    } catch {
      throw new ConfigError(`${what} ${abs}: file is not writable`, { file: abs });
    }
    return abs;
  }
  checkAncestor(abs, what);
  return abs;
}

function statOrUndefined(abs: string, what: string): fs.Stats | undefined {
  try {
    return fs.statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') {
      checkAncestor(abs, what); // names the file that is in the way
    }
    throw new ConfigError(`${what} ${abs}: cannot use this path (${code ?? (err as Error).message})`, { file: abs });
  }
}

/** The nearest existing ancestor must be a writable folder (so mkdir -p and the write can succeed). */
function checkAncestor(abs: string, what: string): void {
  let dir = path.dirname(abs);
  for (;;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new ConfigError(`${what} ${abs}: cannot check ${dir} (${code})`, { file: abs });
    }
    if (stat) {
      if (!stat.isDirectory()) throw new ConfigError(`${what} ${abs}: ${dir} is not a folder`, { file: abs });
      checkWritable(dir, what, abs);
      return;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return;
    dir = parent;
  }
}

function checkWritable(dir: string, what: string, target = dir): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new ConfigError(`${what} ${target}: folder ${dir} is not writable`, { file: target });
  }
}

/**
 * Who owns a running run. A pid alone is not enough: after a crash (or a reboot) the pid can be
 * reused by an unrelated process, and its runs would never be marked interrupted. On Linux the
 * boot id plus the process start time (field 22 of /proc/PID/stat) identify a process uniquely;
 * elsewhere we fall back to "is that pid alive".
 */
import fs from 'node:fs';
import os from 'node:os';
import type { ProcessOwner } from './types';

function readStartToken(pid: number): string | null {
  try {
    const bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces; fields resume after ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = rest[19];
    return startTime ? `${bootId}:${startTime}` : null;
  } catch {
    return null;
  }
}

let self: ProcessOwner | undefined;

/** This process's identity (computed once). */
export function currentOwner(): ProcessOwner {
  self ??= { pid: process.pid, host: os.hostname(), startToken: readStartToken(process.pid) };
  return self;
}

/**
 * Whether the process that owns a run may still be running. Owners on another host (a database on
 * a shared drive) are assumed alive: we cannot check them and must not mark their runs.
 */
export function isOwnerAlive(owner: ProcessOwner): boolean {
  const me = currentOwner();
  if (owner.host !== me.host) return true;
  if (owner.pid === me.pid && owner.startToken === me.startToken) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to someone else; it may still be a reuse, checked below.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startToken === null) return true;
  const token = readStartToken(owner.pid);
  // No /proc (macOS, Windows): the live pid is the best evidence we have.
  if (token === null) return fs.existsSync('/proc/self/stat') ? false : true;
  return token === owner.startToken;
}

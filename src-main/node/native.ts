/**
 * Loads Topiary's native compute addon (native/, built by `npm ci` through scripts/build-native.mjs)
 * and routes the wasm backend's matrix products and convolutions to it. The addon is optional:
 * without a C compiler at install time, or with `TOPIARY_NATIVE=0`, the wasm kernels run and the
 * reason is reported. `TOPIARY_NATIVE_THREADS=N` sets its thread count (default: every core);
 * `TOPIARY_NATIVE_PATH` points at another build of the .node file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../common/errors';
import type { NativeCompute } from '../engine/kernels/native-kernels';
import type { NativeStatus } from '../common/contract/results';
// The contract's types, defined in common/contract, re-exported for this module's callers.
export type { NativeStatus };

const require = createRequire(import.meta.url);

export interface NativeAddon extends NativeCompute {
  info(): { isa: string; threads: number; openmp: boolean };
  setThreads(n: number): void;
}

/** native/build/Release/topiary_native.node under the app root (TOPIARY_APP_ROOT in the built app). */
export function nativeAddonPath(): string {
  if (process.env.TOPIARY_NATIVE_PATH) return path.resolve(process.env.TOPIARY_NATIVE_PATH);
  const root = process.env.TOPIARY_APP_ROOT ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  return path.join(root, 'native', 'build', 'Release', 'topiary_native.node');
}

/** TOPIARY_NATIVE_THREADS as a number, undefined when unset; anything else is a ConfigError. */
export function requestedNativeThreads(): number | undefined {
  const raw = process.env.TOPIARY_NATIVE_THREADS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new ConfigError(`TOPIARY_NATIVE_THREADS must be an integer from 1 to 256, got "${raw}"`);
  return n;
}

/** Whether environment variable `name` turns something off: 0, off or false (any case). */
export function switchedOff(name: string): boolean {
  return /^(0|off|false)$/i.test((process.env[name] ?? '').trim());
}

/**
 * OMP_WAIT_POLICY=passive unless the user set it: libgomp reads it when the addon loads it. With
 * spinning waits, a thread that reaches a barrier first burns its core while the other thread is
 * descheduled by someone else's work; on the shared 2-core box LeNet-5's native step ran at
 * 1,325-1,414 samples/s with active waits and 2,347-2,600 with passive ones (load 18-23). The
 * graph step meets at a few barriers per step, so sleeping there costs little on idle cores.
 */
function preferPassiveOpenMpWaits(): void {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) process.env.OMP_WAIT_POLICY = 'passive';
}

let cached: { addon?: NativeAddon; status: NativeStatus } | undefined;

/**
 * The addon, loaded once per thread, or undefined with the reason in the status.
 * @example const { addon, status } = loadNativeAddon(); if (!addon) console.log(status.reason)
 */
export function loadNativeAddon(): { addon?: NativeAddon; status: NativeStatus } {
  if (cached) return cached;
  const file = nativeAddonPath();
  if (switchedOff('TOPIARY_NATIVE')) {
    cached = { status: { loaded: false, path: file, reason: 'disabled by TOPIARY_NATIVE' } };
  } else if (!fs.existsSync(file)) {
    cached = { status: { loaded: false, path: file, reason: 'not built (needs a C compiler at install time: npm run build:native)' } };
  } else {
    try {
      preferPassiveOpenMpWaits();
      const addon = require(file) as NativeAddon;
      const threads = requestedNativeThreads();
      if (threads !== undefined) addon.setThreads(threads);
      const info = addon.info();
      cached = { addon, status: { loaded: true, path: file, isa: info.isa, threads: info.threads } };
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      cached = { status: { loaded: false, path: file, reason: `failed to load: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` } };
    }
  }
  return cached;
}

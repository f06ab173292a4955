/**
 * `TOPIARY_PAUSE_AT=<phase>` stops a run where it enters that phase (load, baseline, prune,
 * finetune, final, export, verify), after saying so on stderr: the kill test SIGKILLs runs there to
 * check that nothing partial is ever counted as a result. The thread blocks in Atomics.wait (no
 * CPU) until the process is killed. Unset in normal use.
 */
export function pauseIfAsked(phase: string): void {
  if (process.env.TOPIARY_PAUSE_AT !== phase) return;
  // stderr is synchronous for files and pipes on Linux: the line is out before the thread blocks.
  process.stderr.write(`paused at ${phase} (TOPIARY_PAUSE_AT)\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

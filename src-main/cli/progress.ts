import cliProgress from 'cli-progress';

/** A progress reporter for long work: a bar on stderr when it is a terminal, plain lines otherwise. */
export interface Progress {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

/**
 * `startedAt` (ms since the epoch): when the work began, for the plain lines' ETA; default now. A
 * phase's first update usually comes after its first step, so a caller that knows when the phase
 * began (the previous phase's last update) passes it, and the first update already has an ETA.
 */
export function createProgress(title: string, startedAt = Date.now()): Progress {
  const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${title} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {label}`,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, label = '') {
        if (!started) {
          bar.start(total, done, { label });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { label });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  // Not a terminal (CI, pipes): a line every 10% so logs show progress without flooding.
  let lastDecile = -1;
  const start = startedAt;
  return {
    update(done, total, label = '') {
      const decile = total > 0 ? Math.floor((10 * done) / total) : 0;
      if (decile === lastDecile) return;
      lastDecile = decile;
      const elapsed = (Date.now() - start) / 1000;
      const eta = done > 0 ? (elapsed * (total - done)) / done : NaN;
      const etaText = Number.isFinite(eta) ? ` ETA ${eta.toFixed(0)}s` : '';
      // Phases may report fractions of a step (the loader's "1 + files read / files"): one decimal.
      const shown = Number.isInteger(done) ? String(done) : done.toFixed(1);
      process.stderr.write(`${title}: ${shown}/${total} (${decile * 10}%)${etaText} ${label}\n`);
    },
    stop() {},
  };
}

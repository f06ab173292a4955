/** Runs one pruning run in-process with progress bars, then prints (or returns as JSON) its record. */
import fs from 'node:fs';
import path from 'node:path';
import type { RunConfigInput } from '../common/run-config';
import { TopiaryError } from '../common/errors';
import { openAppServices, StoreError } from '../app/services';
import { checkOutputFolder } from '../node/output-paths';
import type { CliContext } from './context';
import { beforeAfter, bytes, exportFactLines, fixed, formatDeployed, formatReceipts, latencyLines, table } from './format';
import type { RunLatency, SpeedReceipt } from '../common/contract';
import { inferencePath, trainingPath, type InferencePathRecord } from '../common/format';
import { createProgress, type Progress } from './progress';
import { formatClassDrops } from './classes-format';

export async function runAndReport(ctx: CliContext, config: RunConfigInput, opts: { out?: string; title?: string } = {}) {
  // Before the run: a destination that cannot take the copy must not cost a whole run (recorded done).
  if (opts.out) checkOutputFolder(opts.out, '--out');
  const services = await openAppServices({ dbPath: ctx.dbPath(), mode: 'in-process' });
  try {
    const bars = new Map<string, Progress>();
    // Phases run one after another: a phase began when the one before it last reported.
    let phaseBegan = Date.now();
    const off = services.runs.on((e) => {
      if (e.name === 'runProgress') {
        const p = e.payload;
        let bar = bars.get(p.phase);
        if (!bar) {
          for (const b of bars.values()) b.stop();
          bars.set(p.phase, (bar = createProgress(p.phase, phaseBegan)));
        }
        phaseBegan = Date.now();
        const extra = [p.epoch ? `epoch ${p.epoch}` : '', p.loss !== undefined ? `loss ${Number.isFinite(p.loss) ? p.loss.toFixed(4) : String(p.loss)}` : '', p.sparsity !== undefined ? `sparsity ${fixed(100 * p.sparsity, 1)}%` : '', p.message ?? '']
          .filter(Boolean)
          .join(' ');
        bar.update(p.done, p.total, extra);
      } else if (e.name === 'runLog') {
        process.stderr.write(`${e.payload.level}: ${e.payload.message}\n`);
      }
    });
    const onSigint = () => services.runs.cancel(runId);
    const { runId } = services.runs.start(config);
    process.once('SIGINT', onSigint);
    const finished = await services.runs.wait(runId);
    process.off('SIGINT', onSigint);
    off();
    for (const b of bars.values()) b.stop();
    if (finished.recordError) {
      // The work is not lost: its record is in the run's folder, and `runs recover` records it.
      throw new StoreError(
        `run ${runId} ${finished.status}, but ${finished.recordError.message}. Record it with \`topiary runs recover\` ` +
          '(into a new database if this one is damaged: move the file aside first).',
      );
    }
    if (finished.status !== 'done') {
      const err = new TopiaryError(`run ${runId} ${finished.status}: ${finished.error?.message ?? ''}`);
      (err as { exitCode: number }).exitCode = finished.error?.exitCode ?? 1;
      // The cause's name (DatasetFormatError, DivergenceError...) says what went wrong; keep it.
      if (finished.error?.name) err.name = finished.error.name;
      throw err;
    }
    const detail = services.history.show(runId);
    if (opts.out) {
      fs.mkdirSync(opts.out, { recursive: true });
      fs.cpSync(path.join(services.runsDir, runId), opts.out, { recursive: true });
    }
    if (ctx.json) return ctx.printJson(detail);
    // From JSON: a NaN or infinite number reads back as null, so every number here may be null.
    const s = (detail.summary ?? {}) as {
      task?: string;
      before?: Record<string, number | null>;
      after?: Record<string, number | null>;
      prune?: Record<string, number | null>;
      training?: { path: string; note?: string; microBatch: number; memoryNote?: string }[];
      inference?: InferencePathRecord;
    };
    ctx.print(`${opts.title ?? 'Run'} ${runId}  (${detail.method}, ${s.task ?? 'classification'}, backend ${detail.backend})`);
    ctx.print(formatDeployed(detail.shipped, detail.fit));
    ctx.print(beforeAfter(s.before, s.after));
    const latency = latencyLines((detail.summary as { latency?: RunLatency } | null)?.latency);
    if (latency) ctx.print(latency);
    if (s.prune) {
      ctx.print(
        `\nsparsity target ${fixed(100 * (s.prune.targetSparsity ?? NaN), 1)} %, achieved ${fixed(100 * (s.prune.achievedSparsity ?? NaN), 1)} %; ` +
          `parameters x${fixed(s.prune.paramsFraction, 3)}, MACs x${fixed(s.prune.macsFraction, 3)}`,
      );
    }
    const drops = formatClassDrops(detail.summary);
    if (drops) ctx.print(`\n${drops}`);
    const trained = trainingPath(s.training?.[0]);
    if (trained) ctx.print(`fine-tuned by: ${trained}`);
    const inferred = inferencePath(s.inference);
    if (inferred) ctx.print(`inference by: ${inferred}`);
    if (detail.artifacts.length) {
      ctx.print('\nExports (verified with an independent runtime):');
      const num = (x: unknown): string => (typeof x === 'number' && Number.isFinite(x) ? x.toPrecision(4) : '-');
      const regression = s.task === 'regression';
      ctx.print(
        table(
          regression
            ? ['format', 'quant', 'size', 'status', 'max |diff|', 'mean |diff|', 'MAE', 'MAE in-app', 'latency', 'path']
            : ['format', 'quant', 'size', 'status', 'max |diff|', 'top-1 agree', 'accuracy', 'latency', 'path'],
          detail.artifacts.map((a) => {
            const v = (a.verification ?? {}) as Record<string, number | null>;
            const judged = regression
              ? [num(v.meanAbsDiff), num(v.mae), num(v.referenceMae)]
              : [
                  typeof v.top1Agreement === 'number' ? `${(100 * v.top1Agreement).toFixed(2)} %` : '-',
                  typeof v.accuracy === 'number' ? `${(100 * v.accuracy).toFixed(2)} %` : '-',
                ];
            return [
              a.format,
              a.quant,
              bytes(a.bytes),
              a.status + (a.reason ? ` (${a.reason})` : ''),
              typeof v.maxAbsDiff === 'number' && Number.isFinite(v.maxAbsDiff) ? v.maxAbsDiff.toExponential(2) : '-',
              ...judged,
              typeof v.latencyMs === 'number' ? `${fixed(v.latencyMs, 3)} ms` : '-',
              a.path,
            ];
          }),
        ),
      );
    }
    const receipts = (detail.summary as { receipts?: SpeedReceipt[] } | null)?.receipts ?? [];
    if (receipts.length) ctx.print(`\n${formatReceipts(receipts)}`);
    const facts = exportFactLines(detail.summary);
    if (facts.length) ctx.print(`\n${facts.join('\n')}`);
    ctx.print(`\nrecorded in ${ctx.dbPath()} — see \`topiary runs show ${runId.slice(0, 8)}\``);
  } finally {
    await services.close();
  }
}


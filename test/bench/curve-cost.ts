/**
 * What keeping training curves costs a run (issue 15, item 4): a real demo run of 250 steps (one
 * curve point a step, the densest a run gets), then, in the same process, the two writes each
 * point costs: one store append (appendCurvePoints, one point) and one rewrite of the run's
 * run.json at its final size (the recorder does at most one a second for curve points). Both as
 * ratios to the median fine-tuning step of that run, read from the curve's own wall times.
 *
 *   npx tsx test/bench/curve-cost.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openAppServices } from '../../src-main/app/services';
import { initBackend } from '../../src-main/node/backend';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  process.env.TOPIARY_BACKEND ??= 'wasm';
  await initBackend();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'topiary-curve-bench-'));
  const services = await openAppServices({ dbPath: path.join(home, 'topiary.db'), home, mode: 'in-process' });
  try {
    const { runId } = services.runs.start({
      model: 'demo', data: 'demo', evalLimit: 200, latencyRuns: 3, sensitivity: false, exports: [], receiptBudgetMs: 0,
      prune: { method: 'magnitude', sparsity: 0.5, finetune: { epochs: 1, maxSamplesPerEpoch: 4000, batchSize: 16 } },
    });
    const done = await services.runs.wait(runId);
    if (done.status !== 'done') throw new Error(`bench run ${done.status}: ${done.error?.message}`);
    const run = services.history.show(runId);
    const steps = run.curves.slice(1).map((p, i) => (p.wallMs - run.curves[i].wallMs) / (p.step - run.curves[i].step));
    const stepMs = median(steps);

    // One point appended 200 times at new steps (what each curve event costs the store).
    const append: number[] = [];
    const last = run.curves[run.curves.length - 1];
    for (let i = 1; i <= 200; i++) {
      const t = performance.now();
      services.store.writer.appendCurvePoints(runId, [{ ...last, step: last.step + i }]);
      append.push(performance.now() - t);
    }
    // run.json rewritten whole, as RunFolderRecord.save does (temporary file + rename).
    const file = path.join(services.runsDir, runId, 'run.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { run: { curves: unknown[] } };
    const saves: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const tmp = `${file}.bench.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(doc)}\n`);
      fs.renameSync(tmp, file);
      saves.push(performance.now() - t);
    }
    const size = fs.statSync(file).size;
    const curveBytes = JSON.stringify(doc.run.curves).length;
    const out = {
      points: run.curves.length,
      stepMsMedian: +stepMs.toFixed(3),
      storeAppendMsMedian: +median(append).toFixed(3),
      runJsonSaveMsMedian: +median(saves).toFixed(3),
      runJsonBytes: size,
      curveBytesInRunJson: curveBytes,
      storeAppendPerStep: +(median(append) / stepMs).toFixed(4),
      runJsonSavePerStep: +(median(saves) / stepMs).toFixed(4),
      loadAverage: os.loadavg().map((x) => +x.toFixed(2)),
    };
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await services.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

await main();

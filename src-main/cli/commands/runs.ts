/**
 * `topiary runs list|show|compare|pareto|export|import|tag|note|delete`: the run history from the
 * terminal. Thin: parses options into a RunFilter, calls HistoryService, prints a table or (with
 * --json) one JSON document.
 */
import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import type { HistoryService } from '../../app/history-service';
import { ConfigError } from '../../common/errors';
import { runPaths } from '../../common/format';
import { checkOutputFile, checkOutputFolder } from '../../node/output-paths';
import type { JsonObject, MetricThreshold, RunComparison, RunDetail, RunFilter, RunHead, RunQuery, RunSortKey, RunStatus } from '../../common/contract';
import type { CliContext } from '../context';
import type { SpeedReceipt } from '../../common/contract';
import { bytes, exportFactLines, formatDeployed, formatReceipts, table } from '../format';
import { formatConfigValue, formatMetric, formatMetricDelta, metricLabel, orderMetrics } from '../../common/labels';
import { formatClassDrops } from '../classes-format';

export interface RunsCommandDeps {
  /** Asks the user a yes/no question (default: a prompt on stderr, refused when stdin is not a terminal). */
  confirm?: (question: string) => Promise<boolean>;
}

interface FilterOptions {
  model?: string;
  dataset?: string;
  profile?: string;
  kind?: string;
  method?: string;
  status?: string;
  tag?: string[];
  since?: string;
  until?: string;
  where?: string[];
  search?: string;
}

const STATUSES: readonly RunStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted'];

export function registerRunsCommand(program: Command, ctx: CliContext, deps: RunsCommandDeps = {}): void {
  const confirm = deps.confirm ?? promptYesNo;
  const runs = program.command('runs').description('the run history: list, show, compare, pareto, export, import, recover, tag, note, replay, delete');

  /**
   * Opens the history for one command and closes it afterwards, whatever happens. `write`: the
   * command changes the database, so it is checked for damage first.
   */
  const withHistory = async <T>(fn: (h: HistoryService) => T | Promise<T>, write = false): Promise<T> => {
    const { HistoryService } = await import('../../app/history-service');
    const { topiaryHome } = await import('../../app/paths');
    // The same run directory the run service writes to (it does not follow --db), so that
    // delete --delete-artifacts finds a run's files and import copies into the runs' own folders.
    const history = HistoryService.open(ctx.dbPath(), { runsDir: path.join(topiaryHome(), 'runs'), verify: write });
    try {
      return await fn(history);
    } finally {
      history.close();
    }
  };

  addFilterOptions(runs.command('list').description('list runs, newest first'))
    .option('--sort <key>', 'created|started|finished|duration|status|method|kind|metric:NAME', 'created')
    .option('--asc', 'ascending order (default descending)')
    .option('--limit <n>', 'page size (at most 1000)', '50')
    .option('--offset <n>', 'skip this many runs', '0')
    .action((opts: FilterOptions & { sort: string; asc?: boolean; limit: string; offset: string }) =>
      withHistory((h) => {
        const query: RunQuery = {
          ...parseFilter(opts),
          sort: opts.sort as RunSortKey,
          direction: opts.asc ? 'asc' : 'desc',
          limit: parseCount(opts.limit, '--limit'),
          offset: parseCount(opts.offset, '--offset'),
        };
        const page = h.list(query);
        if (ctx.json) return ctx.printJson(page);
        if (page.items.length === 0) return ctx.print(page.total === 0 ? 'no runs' : `no runs at offset ${page.offset} (${page.total} in all)`);
        ctx.print(formatRunTable(page.items));
        ctx.print(`\n${page.offset + 1}-${page.offset + page.items.length} of ${page.total}`);
      }),
    );

  runs
    .command('show')
    .description('everything about one run')
    .argument('<run>', 'run id (or a unique prefix of at least 4 characters)')
    .action((id: string) =>
      withHistory(async (h) => {
        const run = h.show(id);
        if (ctx.json) return ctx.printJson(run);
        const { flattenJson } = await import('../../app/history-service');
        ctx.print(formatRunDetail(run, flattenJson));
      }),
    );

  runs
    .command('compare')
    .description('compare 2..N runs: differing config keys, final metrics with deltas, per-layer sparsity')
    .argument('<runs...>', 'run ids (the first is the baseline unless --baseline)')
    .option('--baseline <run>', 'the run deltas are measured against')
    .action((ids: string[], opts: { baseline?: string }) =>
      withHistory((h) => {
        const c = h.compare(ids, { baseline: opts.baseline });
        if (ctx.json) return ctx.printJson(c);
        ctx.print(formatComparison(c));
      }),
    );

  addFilterOptions(
    runs
      .command('pareto')
      .description('the Pareto frontier over final metrics, e.g. `runs pareto accuracy:max sizeBytes:min`')
      .argument('<objectives...>', 'METRIC:max or METRIC:min'),
  )
    .option('--all', 'with --json, include every considered run (for plotting)')
    .action((objectives: string[], opts: FilterOptions & { all?: boolean }) =>
      withHistory((h) => {
        const parsed = objectives.map(parseObjective);
        const result = h.pareto(parsed, parseFilter(opts), { includeAll: Boolean(opts.all) });
        if (ctx.json) return ctx.printJson(result);
        const notCounted = formatUnfinished(result.unfinished);
        if (result.frontier.length === 0) return ctx.print(`no finished runs have all of ${parsed.map((o) => o.metric).join(', ')}${notCounted}`);
        const header = ['ID', 'METHOD', 'MODEL', ...parsed.map((o) => `${o.metric} (${o.direction})`), 'TAGS'];
        const rows = result.frontier.map((f) => [shortId(f.runId), f.run.method ?? f.run.kind, baseName(f.run.modelSource), ...f.values.map(formatNumber), f.run.tags.join(',')]);
        ctx.print(listing(header, rows));
        const lacking = result.skipped - result.unfinished.reduce((n, u) => n + u.runs, 0);
        ctx.print(`\n${result.frontier.length} on the frontier of ${result.considered} runs${lacking > 0 ? ` (${lacking} lack an objective)` : ''}${notCounted}`);
      }),
    );

  addFilterOptions(
    runs
      .command('export')
      .description('export runs (filtered, or the given ids) to CSV or JSON, or as a run bundle for another machine')
      .argument('[runs...]', 'run ids (default: every run matching the filters)'),
  )
    .requiredOption('--format <format>', 'csv | json | bundle')
    .option('--out <path>', 'output file (csv: FILE.csv plus FILE.metrics.csv; bundle: a folder, or a .json file without artifacts)')
    .action((ids: string[], opts: FilterOptions & { format: string; out?: string }) =>
      withHistory((h) => {
        const filter = parseFilter(opts);
        if (ids.length > 0) filter.ids = ids.map((id) => h.resolve(id));
        if (opts.format !== 'bundle' && opts.format !== 'json' && opts.format !== 'csv') throw new ConfigError(`--format must be csv, json or bundle, got ${opts.format}`);
        // Every destination is checked before anything is gathered or copied.
        if (opts.out && opts.format === 'bundle') {
          if (opts.out.toLowerCase().endsWith('.json')) checkOutputFile(opts.out, '--out');
          else checkOutputFolder(opts.out, '--out');
        } else if (opts.out) {
          checkOutputFile(opts.out, '--out');
          if (opts.format === 'csv') checkOutputFile(csvMetricsFile(opts.out), '--out (metrics)');
        }
        if (opts.format === 'bundle') {
          if (!opts.out) throw new ConfigError('--format bundle needs --out DIR (or --out FILE.json)');
          const chosen = filter.ids ?? h.matchingIds(filter);
          const result = h.exportBundle(chosen, opts.out);
          if (ctx.json) return ctx.printJson(result);
          ctx.print(`wrote ${result.runs.length} run(s) to ${result.file}, ${result.artifactsCopied} artifact(s) copied`);
          for (const missing of result.artifactsMissing) ctx.print(`  not on disk, row only: ${missing}`);
          return;
        }
        if (opts.format === 'json') {
          const doc = h.exportJson(filter);
          if (!opts.out) return ctx.printJson(doc);
          writeFile(opts.out, `${JSON.stringify(doc, null, 1)}\n`);
          return report(ctx, { file: opts.out, runs: doc.runs.length });
        }
        if (opts.format === 'csv') {
          const csv = h.exportCsv(filter);
          if (!opts.out) {
            if (ctx.json) return ctx.printJson({ runs: csv.runs, metrics: csv.metrics });
            return ctx.print(csv.runs.trimEnd());
          }
          const metricsFile = csvMetricsFile(opts.out);
          writeFile(opts.out, csv.runs);
          writeFile(metricsFile, csv.metrics);
          return report(ctx, { file: opts.out, metricsFile, runs: csv.runs.trimEnd().split('\r\n').length - 1 });
        }
      }),
    );

  runs
    .command('import')
    .description('merge a run bundle (folder or .json) into this history; runs already here are skipped')
    .argument('<bundle>', 'bundle folder or .json file')
    .option('--artifacts-dir <dir>', 'folder for the copied artifacts, one sub-folder per run (default: $TOPIARY_HOME/runs, the only place runs delete --delete-artifacts removes files from)')
    .action((bundle: string, opts: { artifactsDir?: string }) =>
      withHistory((h) => {
        const result = h.importBundle(bundle, { artifactsDir: opts.artifactsDir });
        if (ctx.json) return ctx.printJson(result);
        ctx.print(`imported ${result.imported.length} run(s), skipped ${result.skipped.length} already present, copied ${result.artifactsCopied} artifact(s)`);
      }, true),
    );

  runs
    .command('recover')
    .description("record runs again from their folders' run.json (e.g. into a new database after a damaged one was moved aside); runs already recorded are skipped")
    .option('--from <dir>', 'a runs folder (one sub-folder per run) or one run folder (default: $TOPIARY_HOME/runs)')
    .action((opts: { from?: string }) =>
      withHistory((h) => {
        const result = h.recover(opts.from);
        for (const f of result.failed) process.stderr.write(`warning: ${f.reason}\n`);
        if (ctx.json) return ctx.printJson(result);
        ctx.print(`recorded ${result.recovered.length} run(s) from their folders, skipped ${result.skipped.length} already recorded${result.failed.length ? `, ${result.failed.length} unreadable` : ''}`);
      }, true),
    );

  runs
    .command('tag')
    .description('add tags to a run (or remove them with --remove)')
    .argument('<run>', 'run id')
    .argument('<tags...>', 'tags')
    .option('--remove', 'remove these tags instead')
    .action((id: string, tags: string[], opts: { remove?: boolean }) =>
      withHistory((h) => {
        const now = opts.remove ? h.untag(id, tags) : h.tag(id, tags);
        if (ctx.json) return ctx.printJson({ runId: h.resolve(id), tags: now });
        ctx.print(now.length ? `tags: ${now.join(', ')}` : 'no tags');
      }, true),
    );

  runs
    .command('note')
    .description('set the note of a run (an empty note clears it)')
    .argument('<run>', 'run id')
    .argument('<text...>', 'the note')
    .action((id: string, words: string[]) =>
      withHistory((h) => {
        const text = words.join(' ').trim();
        h.note(id, text || null);
        if (ctx.json) return ctx.printJson({ runId: h.resolve(id), note: text || null });
        ctx.print(text ? 'note saved' : 'note cleared');
      }, true),
    );

  runs
    .command('replay')
    .description("re-apply a run's stored pruning plan to its original model (no fine-tuning) and save the result")
    .argument('<run>', 'run id (or its first characters)')
    .requiredOption('--out <dir>', 'folder for the replayed tfjs model')
    .action(async (id: string, opts: { out: string }) => {
      const { openAppServices } = await import('../../app/services');
      const { replayRun } = await import('../../app/replay-service');
      checkOutputFolder(opts.out, '--out');
      const services = await openAppServices({ dbPath: ctx.dbPath(), mode: 'in-process' });
      try {
        const r = await replayRun(services, id, opts.out);
        if (ctx.json) return ctx.printJson(r);
        ctx.print(`replayed ${r.steps} plan step(s) of run ${r.runId} on ${r.model}: ${r.nonZeros} non-zeros of ${r.params} parameters, ${r.macs} MACs; saved to ${r.outDir}`);
      } finally {
        await services.close();
      }
    });

  runs
    .command('delete')
    .description('delete runs from the history (asks first; artifact files stay unless --delete-artifacts)')
    .argument('<runs...>', 'run ids')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--delete-artifacts', 'also delete the runs’ exported files from disk')
    .action((ids: string[], opts: { yes?: boolean; deleteArtifacts?: boolean }) =>
      withHistory(async (h) => {
        const heads = ids.map((id) => h.show(id));
        if (!opts.yes) {
          const what = heads.map((r) => `  ${r.id}  ${r.kind}/${r.method ?? '-'}  ${r.status}  ${r.createdAt}`).join('\n');
          const files = heads.reduce((n, r) => n + r.artifacts.length, 0);
          const question = `Delete ${heads.length} run(s)?\n${what}\n${opts.deleteArtifacts ? `and ${files} artifact file(s) on disk` : `(${files} artifact file(s) on disk are kept)`} [y/N] `;
          if (!(await confirm(question))) {
            if (ctx.json) return ctx.printJson({ deleted: [] });
            return ctx.print('nothing deleted');
          }
        }
        const results = heads.map((r) => h.delete(r.id, { deleteArtifacts: Boolean(opts.deleteArtifacts) }));
        for (const r of results) {
          // Stderr, so that --json output stays one document and scripts still see the refusal.
          for (const refused of r.artifactsRefused) process.stderr.write(`warning: kept ${refused.path}: ${refused.reason}\n`);
        }
        if (ctx.json) return ctx.printJson({ deleted: results });
        for (const r of results) {
          ctx.print(`deleted ${r.runId}${r.artifactsDeleted.length ? `, ${r.artifactsDeleted.length} artifact(s) removed` : ''}${r.artifactsKept.length ? `, ${r.artifactsKept.length} artifact(s) kept on disk` : ''}`);
        }
      }, true),
    );
}

// ---------------------------------------------------------------------------------------------
// Options

function addFilterOptions(cmd: Command): Command {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  return cmd
    .option('--model <text>', 'model id, or text in its source/name')
    .option('--dataset <text>', 'dataset id, or text in its source')
    .option('--profile <id>', 'device profile id')
    .option('--kind <kind>', 'prune, export, fit...')
    .option('--method <method>', 'magnitude, taylor, movement, lamp, random...')
    .option('--status <list>', `comma-separated: ${STATUSES.join(',')}`)
    .option('--tag <tag>', 'has this tag (repeatable: all of them)', collect)
    .option('--since <date>', 'created at or after (ISO date)')
    .option('--until <date>', 'created before (ISO date)')
    .option('--where <cond>', 'final-metric threshold like "accuracy>=0.9" (repeatable)', collect)
    .option('--search <text>', 'words that must appear in the name, tags, note, model, dataset, method or profile');
}

/** Command-line filter options -> RunFilter, with errors that name the option. */
export function parseFilter(opts: FilterOptions): RunFilter {
  const filter: RunFilter = {};
  for (const key of ['model', 'dataset', 'profile', 'kind', 'method', 'since', 'until'] as const) {
    if (opts[key] !== undefined) filter[key] = opts[key];
  }
  if (opts.status) {
    const statuses = opts.status.split(',').map((s) => s.trim()).filter(Boolean);
    for (const s of statuses) {
      if (!STATUSES.includes(s as RunStatus)) throw new ConfigError(`--status must be among ${STATUSES.join(', ')}, got ${s}`);
    }
    filter.status = statuses as RunStatus[];
  }
  if (opts.tag?.length) filter.tag = opts.tag;
  if (opts.search?.trim()) filter.text = opts.search.trim();
  if (opts.where?.length) filter.metrics = opts.where.map(parseThreshold);
  return filter;
}

/** `accuracy>=0.9` -> { name: 'accuracy', op: '>=', value: 0.9 }. */
export function parseThreshold(text: string): MetricThreshold {
  const m = /^\s*([A-Za-z0-9_.-]+)\s*(>=|<=|>|<|==?)\s*(\S+)\s*$/.exec(text);
  const value = m ? Number(m[3]) : Number.NaN;
  if (!m || Number.isNaN(value)) throw new ConfigError(`--where must look like accuracy>=0.9 (metric, one of >= <= > < =, number), got ${JSON.stringify(text)}`);
  return { name: m[1], op: (m[2] === '==' ? '=' : m[2]) as MetricThreshold['op'], value };
}

function parseObjective(text: string): { metric: string; direction: 'max' | 'min' } {
  const m = /^([A-Za-z0-9_.-]+):(max|min)$/.exec(text);
  if (!m) throw new ConfigError(`an objective must look like accuracy:max or sizeBytes:min, got ${JSON.stringify(text)}`);
  return { metric: m[1], direction: m[2] as 'max' | 'min' };
}

function parseCount(text: string, option: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`${option} must be a whole number >= 0, got ${text}`);
  return n;
}

async function promptYesNo(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new ConfigError('refusing to delete without confirmation: stdin is not a terminal, pass --yes');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/** `runs.csv` -> `runs.metrics.csv`: the second CSV of a csv export. */
function csvMetricsFile(out: string): string {
  return out.replace(/(\.csv)?$/i, '.metrics.csv');
}

function writeFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
}

function report(ctx: CliContext, result: Record<string, unknown>): void {
  if (ctx.json) return ctx.printJson(result);
  ctx.print(Object.entries(result).map(([k, v]) => `${k}: ${String(v)}`).join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Final metrics most runs have (accuracy for classifiers, mae for regressors), shown as list columns when present. */
const LIST_METRICS = ['accuracy', 'mae', 'sizeBytes', 'latencyMs'];

function formatRunTable(items: readonly RunHead[]): string {
  const metrics = LIST_METRICS.filter((m) => items.some((r) => m in r.final));
  // The size a run ships (its profile's exported file, else in-memory float32), labelled.
  const header = ['ID', 'CREATED', 'STATUS', 'KIND/METHOD', 'MODEL', 'DATASET', ...metrics, 'SHIPPED SIZE', 'TAGS'];
  const rows = items.map((r) => [
    shortId(r.id), r.createdAt.slice(0, 16).replace('T', ' '), r.status, `${r.kind}/${r.method ?? '-'}`, baseName(r.modelSource),
    r.datasetSource ?? '-', ...metrics.map((m) => (m in r.final ? formatNumber(r.final[m]) : '-')),
    r.shipped ? `${bytes(r.shipped.bytes)} ${r.shipped.label}` : '-', r.tags.join(','),
  ]);
  return listing(header, rows);
}

function formatRunDetail(r: RunDetail, flatten: (v: JsonObject) => Record<string, unknown>): string {
  const lines = [
    `run       ${r.id}${r.name ? `  (${r.name})` : ''}`,
    `status    ${r.status}${r.error ? `: ${r.error}` : ''}`,
    `kind      ${r.kind}/${r.method ?? '-'}   backend ${r.backend}`,
    `paths     ${runPaths(r.summary) ?? '-'}`,
    `model     ${r.model.source} (${r.model.format}, ${r.model.params} params, sha256 ${r.model.sha256.slice(0, 12)})`,
    `dataset   ${r.dataset ? `${r.dataset.source} (${r.dataset.trainSize} train / ${r.dataset.testSize} test)` : '-'}`,
    `profile   ${r.profileId ?? '-'}`,
    `created   ${r.createdAt}   started ${r.startedAt ?? '-'}   finished ${r.finishedAt ?? '-'}${r.durationMs !== null ? `   (${(r.durationMs / 1000).toFixed(1)} s)` : ''}`,
  ];
  if (r.parentRunId) lines.push(`parent    ${r.parentRunId}`);
  if (r.childRunIds.length) lines.push(`children  ${r.childRunIds.join(', ')}`);
  if (r.tags.length) lines.push(`tags      ${r.tags.join(', ')}`);
  if (r.note) lines.push(`note      ${r.note}`);
  lines.push(`versions  ${Object.entries(r.versions).map(([k, v]) => `${k} ${String(v)}`).join(', ') || '-'}`);
  lines.push('', 'config', ...Object.entries(flatten(r.config)).map(([k, v]) => `  ${k} = ${JSON.stringify(v)}`));
  const before = r.summary?.before ?? {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(r.final)])].sort();
  if (names.length) {
    lines.push('', listing(['METRIC', 'BEFORE', 'FINAL'], names.map((n) => [n, n in before ? formatNumber(before[n]) : '-', n in r.final ? formatNumber(r.final[n]) : '-'])));
  }
  if (r.metrics.length) {
    lines.push('', listing(['SERIES', 'POINTS', 'FIRST', 'LAST'], r.metrics.map((s) => [`${s.phase}/${s.name}`, String(s.points.length), formatNumber(s.points[0].value), formatNumber(s.points[s.points.length - 1].value)])));
  }
  if (r.curves.length) {
    const [first, last] = [r.curves[0], r.curves[r.curves.length - 1]];
    const loss = first.values.loss !== undefined && last.values.loss !== undefined ? `, loss ${formatNumber(first.values.loss)} -> ${formatNumber(last.values.loss)}` : '';
    lines.push('', `curves    ${r.curves.length} points, steps ${first.step}-${last.step}, epoch ${last.epoch.toFixed(2)} at the end${loss} (all in --json)`);
  }
  const after = r.layers.filter((l) => l.phase === 'after');
  if (after.length) {
    lines.push('', listing(['LAYER', 'CLASS', 'PARAMS', 'NON-ZEROS', 'SPARSITY'], after.map((l) => [l.layer, l.className, String(l.params), String(l.nonZeros), `${(l.sparsity * 100).toFixed(1)}%`])));
  }
  if (r.artifacts.length) {
    lines.push('', listing(['ARTIFACT', 'FORMAT', 'QUANT', 'BYTES', 'STATUS'], r.artifacts.map((a) => [a.path, a.format, a.quant, String(a.bytes), a.status + (a.reason ? ` (${a.reason})` : '')])));
  }
  const drops = formatClassDrops(r.summary);
  if (drops) lines.push('', drops);
  const receipts = (r.summary as { receipts?: SpeedReceipt[] } | null)?.receipts ?? [];
  if (receipts.length) lines.push('', formatReceipts(receipts));
  if (r.shipped || r.fit) lines.push('', formatDeployed(r.shipped, r.fit));
  const facts = exportFactLines(r.summary);
  if (facts.length) lines.push('', ...facts);
  if (r.plan !== null) lines.push('', 'pruning plan stored (replayable; see --json)');
  return lines.join('\n');
}

/** `; not counted: 1 interrupted, 2 failed` (empty when every run finished). */
function formatUnfinished(unfinished: readonly { status: RunStatus; runs: number }[]): string {
  return unfinished.length ? `; not counted (did not finish): ${unfinished.map((u) => `${u.runs} ${u.status}`).join(', ')}` : '';
}

function formatComparison(c: RunComparison): string {
  // A run that did not finish is labelled with its status: its numbers are partial, not results.
  const ids = c.runs.map((r, i) => `${shortId(r.id)}${i === c.baseline ? '*' : ''}${r.status === 'done' ? '' : ` (${r.status})`}`);
  const out: string[] = [];
  out.push(
    c.config.length
      ? listing(['CONFIG', ...ids], c.config.map((row) => [row.key, ...row.values.map((v, i) => (row.missing.includes(i) ? '(not set)' : formatConfigValue(row.key, v)))]))
      : 'configs are identical',
  );
  out.push(`(${c.identicalConfigKeys} identical config key(s) hidden; * = baseline)`);
  if (c.unfinished.length) out.push(`not finished, partial numbers: ${c.unfinished.map((i) => `${shortId(c.runs[i].id)} ${c.runs[i].status}`).join(', ')}`);
  if (c.metrics.length) {
    // The same labels and units as the app's Compare screen (common/labels.ts).
    const byName = new Map(c.metrics.map((m) => [m.name, m]));
    out.push('', listing(['FINAL', ...ids], orderMetrics(byName.keys()).map((name) => {
      const m = byName.get(name) as (typeof c.metrics)[number];
      return [metricLabel(name), ...m.values.map((v, i) => {
        if (v === null) return '-';
        const d = m.deltas[i];
        return i === c.baseline || d === null ? formatMetric(name, v) : `${formatMetric(name, v)} (${formatMetricDelta(name, d)})`;
      })];
    })));
  }
  if (c.layers.length) {
    out.push('', listing(['LAYER SPARSITY', ...ids], c.layers.map((l) => [l.layer, ...l.sparsity.map((s) => (s === null ? '-' : `${(s * 100).toFixed(1)}%`))])));
  }
  if (c.series.length) out.push('', `series: ${c.series.map((s) => `${s.phase}/${s.name}`).join(', ')} (use --json for the points)`);
  return out.join('\n');
}

/** The CLI table without a rule under the header (run listings read like a log, as before). */
function listing(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return table(header, rows, [], { rule: false });
}

function formatNumber(v: number | null | undefined): string {
  // A JSON round trip turns NaN and Infinity into null: print what is known, never throw.
  if (typeof v !== 'number') return '-';
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? 'Inf' : '-Inf';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(4)).toString();
}

function shortId(id: string): string {
  return id.slice(0, 8);
}

function baseName(source: string): string {
  return source.split(/[\\/]/).filter(Boolean).pop() ?? source;
}

/**
 * Export bundles: one folder per export holding the model file(s), `report.json` and a
 * self-contained `report.html`. The folder appears complete or not at all: everything is written
 * into a hidden temp sibling and renamed into place, so a crash or a failed write never leaves a
 * half-written folder under the chosen name.
 *
 * Every bundle carries `.topiary-export.json`, the list of files the export wrote. `overwrite`
 * replaces a folder only when that list accounts for everything in it, so pointing `--out` at a
 * folder of one's own (photos, a repository) with `--overwrite` is refused instead of erasing it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, TopiaryError } from '../../common/errors';
import { parseExportReport, type ExportReport, type ExportReportInput } from '../../common/export-report';
import { renderReportHtml } from './report-html';

export interface BundleFile {
  /** A plain file name: no separators, no `..`, not a report file name. */
  name: string;
  bytes: Uint8Array;
}

export interface WrittenBundle {
  /** Absolute path of the bundle folder. */
  dir: string;
  /** Every file written (model files, then report.json and report.html), absolute paths. */
  files: { path: string; bytes: number; sha256: string }[];
  /** The report as written to report.json (validated, defaults filled, `files` added). */
  report: ExportReport;
}

/** The manifest of an export folder: which files the export wrote (and may replace). */
export const EXPORT_MANIFEST = '.topiary-export.json';

interface ExportManifest {
  format: 'topiary-export';
  version: 1;
  createdAt: string;
  files: string[];
}

const REPORT_FILES = new Set(['report.json', 'report.html', EXPORT_MANIFEST]);

/**
 * Checks that an export may be written at `dir`, before any work is done (front doors call it up
 * front; writeExportBundle calls it again): `dir` must not exist, be an empty folder, or, with
 * `overwrite`, be an earlier export folder holding only the files its manifest lists. Anything
 * else is a ConfigError naming the folder and what is in the way. Returns what is there.
 */
export async function checkExportTarget(dir: string, opts: { overwrite?: boolean } = {}): Promise<{ target: string; existing: 'none' | 'empty' | 'export' }> {
  const target = path.resolve(dir);
  if (target === path.dirname(target)) throw new ConfigError(`export folder cannot be a filesystem root: ${dir}`);
  const stat = await fs.lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new ConfigError(`${target}: cannot check the export folder (${err.code ?? err.message})`, { file: target, cause: err });
  });
  if (!stat) return { target, existing: 'none' };
  if (!stat.isDirectory()) throw new ConfigError(`${target}: exists and is not a folder; refusing to replace it (choose another --out)`, { file: target });
  const entries = await fs.readdir(target);
  if (entries.length === 0) return { target, existing: 'empty' };
  if (!opts.overwrite) throw new ConfigError(`${target}: export folder already exists and is not empty; refusing to overwrite (use overwrite)`, { file: target });
  const manifest = await readManifest(target);
  const listed = new Set(manifest.files);
  const foreign: string[] = [];
  for (const name of entries) {
    if (name === EXPORT_MANIFEST) continue;
    const isFile = (await fs.lstat(path.join(target, name))).isFile();
    if (!listed.has(name) || !isFile) foreign.push(name);
  }
  if (foreign.length > 0) {
    const shown = foreign.sort().slice(0, 5).join(', ') + (foreign.length > 5 ? `, … (${foreign.length} in all)` : '');
    throw new ConfigError(`${target}: holds files this export did not write: ${shown}; refusing to overwrite (move them, or choose another --out)`, { file: target });
  }
  return { target, existing: 'export' };
}

async function readManifest(target: string): Promise<ExportManifest> {
  const file = path.join(target, EXPORT_MANIFEST);
  const notOurs = (why: string) =>
    new ConfigError(`${target}: is not a Topiary export folder (${why}) and is not empty; refusing to overwrite it (choose an empty or new --out)`, { file: target });
  const stat = await fs.lstat(file).catch(() => undefined);
  if (!stat?.isFile()) throw notOurs(`no ${EXPORT_MANIFEST}`);
  let data: Partial<ExportManifest> | null;
  try {
    data = JSON.parse(await fs.readFile(file, 'utf8')) as Partial<ExportManifest> | null;
  } catch {
    throw notOurs(`${EXPORT_MANIFEST} is not valid JSON`);
  }
  if (data?.format !== 'topiary-export' || !Array.isArray(data.files) || !data.files.every((n) => typeof n === 'string' && isPlainName(n))) {
    throw notOurs(`${EXPORT_MANIFEST} is not an export manifest`);
  }
  return data as ExportManifest;
}

/**
 * Writes an export bundle folder at `dir`. Refuses (ConfigError) what checkExportTarget refuses:
 * an existing file, a non-empty folder without `overwrite`, and with it any folder holding more
 * than an earlier export's manifest lists; refuses file names that could escape the folder. The report is
 * validated, gets the model files' sizes and sha256 added (`files`), and is written as report.json
 * and rendered as report.html.
 * @example await writeExportBundle('/out/lenet-int8', { files: [{ name: 'model.tflite', bytes }], report });
 */
export async function writeExportBundle(
  dir: string,
  bundle: { files: BundleFile[]; report: ExportReportInput },
  opts: { overwrite?: boolean } = {},
): Promise<WrittenBundle> {
  checkNames(bundle.files);
  const { target, existing } = await checkExportTarget(dir, opts);
  const parent = path.dirname(target);

  const hashed = bundle.files.map((f) => ({ ...f, sha256: sha256(f.bytes) }));
  const report = parseExportReport({ ...bundle.report, files: hashed.map((f) => ({ name: f.name, bytes: f.bytes.byteLength, sha256: f.sha256 })) });
  const reportJson = new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`);
  const reportHtml = new TextEncoder().encode(renderReportHtml(report));
  const written = [...hashed, { name: 'report.json', bytes: reportJson, sha256: sha256(reportJson) }, { name: 'report.html', bytes: reportHtml, sha256: sha256(reportHtml) }];
  const manifest: ExportManifest = { format: 'topiary-export', version: 1, createdAt: report.createdAt, files: written.map((f) => f.name) };
  const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
  const all = [...written, { name: EXPORT_MANIFEST, bytes: manifestBytes, sha256: sha256(manifestBytes) }];

  await fs.mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const tmp = path.join(parent, `.${path.basename(target)}.tmp-${tag}`);
  await fs.mkdir(tmp);
  try {
    for (const f of all) {
      // 'wx': never follow or clobber something that appeared in our private temp folder.
      const fh = await fs.open(path.join(tmp, f.name), 'wx');
      try {
        await fh.writeFile(f.bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await swapIntoPlace(tmp, target, existing !== 'none', tag);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    if (err instanceof TopiaryError) throw err;
    throw new TopiaryError(`${target}: could not write export bundle (${(err as Error).message})`, { file: target, cause: err });
  }
  return { dir: target, files: all.map((f) => ({ path: path.join(target, f.name), bytes: f.bytes.byteLength, sha256: f.sha256 })), report };
}

/** Moves the finished temp folder to `target`; an existing target is moved aside first and restored on failure. */
async function swapIntoPlace(tmp: string, target: string, exists: boolean, tag: string): Promise<void> {
  if (!exists) {
    await fs.rename(tmp, target);
    return;
  }
  const old = path.join(path.dirname(target), `.${path.basename(target)}.old-${tag}`);
  await fs.rename(target, old);
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rename(old, target).catch(() => undefined);
    throw err;
  }
  // Remove only what the old manifest lists (checked just before): should anything else have
  // appeared meanwhile, rmdir fails and the old folder stays, hidden but intact.
  const names = await readManifest(old).then((m) => [...m.files, EXPORT_MANIFEST]).catch(() => [] as string[]);
  for (const name of names) await fs.rm(path.join(old, name), { force: true });
  await fs.rmdir(old).catch(() => undefined);
}

function checkNames(files: BundleFile[]): void {
  if (files.length === 0) throw new ConfigError('export bundle needs at least one model file');
  const seen = new Set<string>();
  for (const f of files) {
    const n = f.name;
    if (!isPlainName(n)) throw new ConfigError(`export bundle file name ${JSON.stringify(n)} is not a plain file name (no separators, '..' or absolute paths)`);
    if (REPORT_FILES.has(n.toLowerCase())) throw new ConfigError(`export bundle file name "${n}" is reserved for the report`);
    if (seen.has(n.toLowerCase())) throw new ConfigError(`export bundle file name "${n}" appears twice`);
    seen.add(n.toLowerCase());
    if (!(f.bytes instanceof Uint8Array)) throw new ConfigError(`export bundle file "${n}" has no byte content`);
  }
}

/** A file name that stays in its folder on every OS: no separators, `..`, drive letters or NUL. */
function isPlainName(n: unknown): n is string {
  return (
    typeof n === 'string' && n.length > 0 && n.length <= 255 && n !== '.' && !n.includes('..') && !/[/\\\0:]/.test(n) && !path.isAbsolute(n) && !path.win32.isAbsolute(n)
  );
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

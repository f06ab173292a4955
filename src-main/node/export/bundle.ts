/**
 * Export bundles: one folder per export holding the model file(s), `report.json` and a
 * self-contained `report.html`. The folder appears complete or not at all: everything is written
 * into a hidden temp sibling and renamed into place, so a crash or a failed write never leaves a
 * half-written folder under the chosen name.
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

const REPORT_FILES = new Set(['report.json', 'report.html']);

/**
 * Writes an export bundle folder at `dir`. Refuses (ConfigError) when `dir` exists and is not an
 * empty folder unless `overwrite`; refuses file names that could escape the folder. The report is
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
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  if (target === parent) throw new ConfigError(`export folder cannot be a filesystem root: ${dir}`);

  const existing = await fs.lstat(target).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing) {
    if (!existing.isDirectory()) {
      if (!opts.overwrite) throw new ConfigError(`${target}: exists and is not a folder; refusing to replace it (use overwrite)`);
    } else if ((await fs.readdir(target)).length > 0 && !opts.overwrite) {
      throw new ConfigError(`${target}: export folder already exists and is not empty; refusing to overwrite (use overwrite)`);
    }
  }

  const hashed = bundle.files.map((f) => ({ ...f, sha256: sha256(f.bytes) }));
  const report = parseExportReport({ ...bundle.report, files: hashed.map((f) => ({ name: f.name, bytes: f.bytes.byteLength, sha256: f.sha256 })) });
  const reportJson = new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`);
  const reportHtml = new TextEncoder().encode(renderReportHtml(report));
  const all = [...hashed, { name: 'report.json', bytes: reportJson, sha256: sha256(reportJson) }, { name: 'report.html', bytes: reportHtml, sha256: sha256(reportHtml) }];

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
    await swapIntoPlace(tmp, target, existing !== undefined, tag);
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
  await fs.rm(old, { recursive: true, force: true });
}

function checkNames(files: BundleFile[]): void {
  if (files.length === 0) throw new ConfigError('export bundle needs at least one model file');
  const seen = new Set<string>();
  for (const f of files) {
    const n = f.name;
    const bad =
      typeof n !== 'string' || n.length === 0 || n.length > 255 || n === '.' || n.includes('..') || /[/\\\0:]/.test(n) || path.isAbsolute(n) || path.win32.isAbsolute(n);
    if (bad) throw new ConfigError(`export bundle file name ${JSON.stringify(n)} is not a plain file name (no separators, '..' or absolute paths)`);
    if (REPORT_FILES.has(n.toLowerCase())) throw new ConfigError(`export bundle file name "${n}" is reserved for the report`);
    if (seen.has(n.toLowerCase())) throw new ConfigError(`export bundle file name "${n}" appears twice`);
    seen.add(n.toLowerCase());
    if (!(f.bytes instanceof Uint8Array)) throw new ConfigError(`export bundle file "${n}" has no byte content`);
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

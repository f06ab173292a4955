/**
 * CSV tables: a header row, numeric feature columns and one label column (named `label`, any case,
 * else the last column; `#target=NAME` on the spec, i.e. `CsvOptions.targets`, picks it by name).
 * For regression (`CsvOptions.numeric`) the target columns (one or more, `#target=a,b`) are read as
 * float targets instead of class labels. Fields may be quoted ("a,b", "" for a quote) as in RFC 4180; a field may not
 * span lines. Labels that are all non-negative integers are class indices (names "0".."max");
 * otherwise each distinct label string is a class, numbered in natural sort order.
 *
 * Errors name the file, line and column (by number) and the problem, never a cell's text: a file
 * that is not really a table (a key file, a config) must not come back quoted in a message.
 */
import fs from 'node:fs';
import { DatasetFormatError, inFile } from '../../common/errors';
import { compareNames } from './images';
import { MAX_CLASSES } from './store';

export interface CsvTable {
  featureNames: string[];
  /** rows x features, row-major. */
  features: Float32Array;
  /** Class index a row (classification); empty when `targets` is read. */
  labels: Int32Array;
  classNames: string[];
  labelColumn: string;
  /** Regression: rows x targetNames.length float targets, row-major. */
  targets?: Float32Array;
  targetNames?: string[];
}

export interface CsvOptions {
  /** Target column names (case-insensitive); default `label`, else the last column. */
  targets?: string[];
  /** Read the targets as numbers (regression) rather than class labels. */
  numeric?: boolean;
}

function fail(file: string, problem: string): never {
  throw new DatasetFormatError(inFile(file, problem), { file });
}

/** Splits one line into fields; returns undefined for an unterminated quote. */
export function splitCsvLine(line: string, delimiter: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // Anything between the closing quote and the delimiter is kept, as most spreadsheet tools do.
      const next = line.indexOf(delimiter, i);
      value += next < 0 ? line.slice(i) : line.slice(i, next);
      fields.push(value);
      if (next < 0) return fields;
      i = next + 1;
    } else {
      const next = line.indexOf(delimiter, i);
      if (next < 0) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, next));
      i = next + 1;
    }
  }
}

/**
 * Reads a CSV file into features and labels. Tab-separated when the file name ends in .tsv or the
 * header has tabs and no commas; semicolons likewise; else commas.
 * @example const t = await readCsv('iris.csv') // t.classNames ['setosa', 'versicolor', 'virginica']
 */
export async function readCsv(file: string, onRows?: (done: number, total: number) => void, options: CsvOptions = {}): Promise<CsvTable> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    fail(file, code === 'ENOENT' ? 'file not found' : `cannot read: ${code ?? String(err)}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  let pos = 0;
  let lineNo = 0;
  const nextLine = (): string | undefined => {
    while (pos < text.length) {
      let end = text.indexOf('\n', pos);
      if (end < 0) end = text.length;
      let line = text.slice(pos, end);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      pos = end + 1;
      lineNo++;
      if (line.trim().length > 0) return line;
    }
    return undefined;
  };

  const headerLine = nextLine();
  if (headerLine === undefined) fail(file, 'empty dataset: the file has no header row');
  const delimiter = file.toLowerCase().endsWith('.tsv') || (headerLine.includes('\t') && !headerLine.includes(','))
    ? '\t'
    : headerLine.includes(';') && !headerLine.includes(',') ? ';' : ',';
  const header = splitCsvLine(headerLine, delimiter)?.map((h) => h.trim());
  if (!header) fail(file, `line ${lineNo}: unterminated quoted field in the header`);
  if (header.length < 2) fail(file, `line ${lineNo}: the header has ${header.length} column; need at least one feature and a label`);
  const targetCols = targetColumns(header, options.targets, file);
  if (!options.numeric && targetCols.length !== 1) {
    fail(file, `a classification target is one column, got ${targetCols.length} (${options.targets?.join(', ')}); several targets need --task regression`);
  }
  const isTarget = new Set(targetCols);
  const labelCol = targetCols[0];
  const featureNames = header.filter((_, j) => !isTarget.has(j));
  if (featureNames.length === 0) fail(file, `line ${lineNo}: no feature columns are left besides the target (column ${targetCols.map((j) => j + 1).join(', ')})`);
  const width = header.length;
  const nf = featureNames.length;
  const nt = targetCols.length;
  let targets = options.numeric ? new Float32Array(Math.max(64, nt * 64)) : undefined;

  // Features grow by doubling; rough row estimate from the file size avoids most regrowth.
  let features = new Float32Array(Math.max(nf * 64, Math.min(nf * Math.ceil(text.length / Math.max(1, headerLine.length)), 1 << 22)));
  const rawLabels: string[] = [];
  let rows = 0;
  for (let line = nextLine(); line !== undefined; line = nextLine()) {
    const fields = splitCsvLine(line, delimiter);
    if (!fields) fail(file, `line ${lineNo}: unterminated quoted field`);
    if (fields.length !== width) {
      fail(file, `line ${lineNo}: ragged row: ${fields.length} fields, but the header has ${width} columns`);
    }
    if ((rows + 1) * nf > features.length) {
      const grown = new Float32Array(features.length * 2);
      grown.set(features);
      features = grown;
    }
    let k = rows * nf;
    for (let j = 0; j < width; j++) {
      if (isTarget.has(j)) continue;
      const s = fields[j].trim();
      const v = s.length === 0 ? Number.NaN : Number(s);
      if (!Number.isFinite(v)) {
        fail(file, `line ${lineNo}, column ${j + 1}: ${s.length === 0 ? 'empty feature value' : 'not a number'}`);
      }
      features[k++] = v;
    }
    if (targets) {
      if ((rows + 1) * nt > targets.length) {
        const grown = new Float32Array(targets.length * 2);
        grown.set(targets);
        targets = grown;
      }
      for (const [t, j] of targetCols.entries()) {
        const text = fields[j].trim();
        const v = text.length === 0 ? Number.NaN : Number(text);
        if (!Number.isFinite(v)) fail(file, `line ${lineNo}, column ${j + 1}: the regression target is ${text.length === 0 ? 'empty' : 'not a number'}`);
        targets[rows * nt + t] = v;
      }
    } else {
      const label = fields[labelCol].trim();
      if (label.length === 0) fail(file, `line ${lineNo}, column ${labelCol + 1}: empty label`);
      rawLabels.push(label);
    }
    rows++;
    if (onRows && rows % 5000 === 0) onRows(pos, text.length);
  }
  onRows?.(text.length, text.length);
  if (rows === 0) fail(file, 'empty dataset: the file has a header but no data rows');

  if (targets) {
    return {
      featureNames,
      features: features.slice(0, rows * nf),
      labels: new Int32Array(0),
      classNames: [],
      labelColumn: header[labelCol],
      targets: targets.slice(0, rows * nt),
      targetNames: targetCols.map((j) => header[j]),
    };
  }
  const { labels, classNames } = encodeLabels(rawLabels, file);
  return { featureNames, features: features.slice(0, rows * nf), labels, classNames, labelColumn: header[labelCol] };
}

/** Indices of the target columns: the named ones, else `label`, else the last column. */
function targetColumns(header: string[], names: string[] | undefined, file: string): number[] {
  if (names && names.length > 0) {
    return names.map((name) => {
      const j = header.findIndex((h) => h.toLowerCase() === name.toLowerCase());
      if (j < 0) fail(file, `no column named ${JSON.stringify(name)} for the target among the header's ${header.length} columns`);
      return j;
    });
  }
  const j = header.findIndex((h) => h.toLowerCase() === 'label');
  return [j < 0 ? header.length - 1 : j];
}

function encodeLabels(raw: string[], file: string): { labels: Int32Array; classNames: string[] } {
  const labels = new Int32Array(raw.length);
  if (raw.every((s) => /^-?\d+$/.test(s))) {
    let max = 0;
    for (let i = 0; i < raw.length; i++) {
      const v = Number(raw[i]);
      if (v < 0) fail(file, `label ${v} on data row ${i + 1} is out of range: integer labels must be >= 0`);
      if (v >= MAX_CLASSES) fail(file, `label ${v} on data row ${i + 1} implies more than ${MAX_CLASSES} classes`);
      labels[i] = v;
      if (v > max) max = v;
    }
    return { labels, classNames: Array.from({ length: max + 1 }, (_, i) => String(i)) };
  }
  const classNames = [...new Set(raw)].sort(compareNames);
  if (classNames.length > MAX_CLASSES) fail(file, `${classNames.length} distinct labels; at most ${MAX_CLASSES} classes are supported`);
  const index = new Map(classNames.map((c, i) => [c, i]));
  for (let i = 0; i < raw.length; i++) labels[i] = index.get(raw[i])!;
  return { labels, classNames };
}

/**
 * CSV tables: a header row, numeric feature columns and one label column (named `label`, any case,
 * else the last column). Fields may be quoted ("a,b", "" for a quote) as in RFC 4180; a field may not
 * span lines. Labels that are all non-negative integers are class indices (names "0".."max");
 * otherwise each distinct label string is a class, numbered in natural sort order.
 */
import fs from 'node:fs';
import { DatasetFormatError, inFile } from '../../common/errors';
import { compareNames } from './images';
import { MAX_CLASSES } from './store';

export interface CsvTable {
  featureNames: string[];
  /** rows x features, row-major. */
  features: Float32Array;
  labels: Int32Array;
  classNames: string[];
  labelColumn: string;
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
export async function readCsv(file: string, onRows?: (done: number, total: number) => void): Promise<CsvTable> {
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
  let labelCol = header.findIndex((h) => h.toLowerCase() === 'label');
  if (labelCol < 0) labelCol = header.length - 1;
  const featureNames = header.filter((_, j) => j !== labelCol);
  const width = header.length;
  const nf = featureNames.length;

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
      if (j === labelCol) continue;
      const s = fields[j].trim();
      const v = s.length === 0 ? Number.NaN : Number(s);
      if (!Number.isFinite(v)) {
        fail(file, `line ${lineNo}, column ${j + 1} (${header[j]}): non-numeric feature value ${JSON.stringify(fields[j])}`);
      }
      features[k++] = v;
    }
    const label = fields[labelCol].trim();
    if (label.length === 0) fail(file, `line ${lineNo}, column ${labelCol + 1} (${header[labelCol]}): empty label`);
    rawLabels.push(label);
    rows++;
    if (onRows && rows % 5000 === 0) onRows(pos, text.length);
  }
  onRows?.(text.length, text.length);
  if (rows === 0) fail(file, 'empty dataset: the file has a header but no data rows');

  const { labels, classNames } = encodeLabels(rawLabels, file);
  return { featureNames, features: features.slice(0, rows * nf), labels, classNames, labelColumn: header[labelCol] };
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

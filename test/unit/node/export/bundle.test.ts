import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../../../src-main/common/errors';
import { parseExportReport, type ExportReportInput } from '../../../../src-main/common/export-report';
import { writeExportBundle } from '../../../../src-main/node/export/bundle';

function report(overrides: Partial<ExportReportInput> = {}): ExportReportInput {
  return {
    version: 1,
    createdAt: '2026-11-27T18:00:00.000Z',
    app: { name: 'topiary', version: '0.1.0' },
    tfjsVersion: '4.22.0',
    backend: 'cpu',
    source: { spec: 'demo', name: 'LeNet-5 <demo>' },
    format: 'tflite',
    quant: 'int8',
    config: { calib: 'demo', samples: 200 },
    sizes: { rawBytes: 12, gzipBytes: 30, baselineRawBytes: 48 },
    metrics: { before: { accuracy: 0.9, params: 61706 }, after: { accuracy: 0.893, params: 61706, nonZeros: 6170 } },
    series: [{ name: 'accuracy', x: 'epoch', points: [{ x: 0, y: 0.5 }, { x: 1, y: 0.8 }, { x: 2, y: 0.89 }] }],
    layers: [
      { name: 'conv1', className: 'Conv2D', outputShape: [null, 24, 24, 6], params: 156, nonZeros: 20, sparsity: 1 - 20 / 156, macs: 86400 },
      { name: '<img src=x onerror=alert(1)>', className: 'Dense', params: 100, nonZeros: 100, sparsity: 0 },
      { name: 'flatten', className: 'Flatten', params: 0, nonZeros: 0, sparsity: 0 },
    ],
    verification: { runtime: 'litert 2.5.3 (wasm)', samples: 100, maxAbsDiff: 0.004, top1Agreement: 0.99, accuracy: 0.89, latencyMs: 0.21, passed: true, reason: null },
    ...overrides,
  };
}

const model = { name: 'model.tflite', bytes: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) };

let root: string;
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'topiary-bundle-test-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function siblings(dir: string): Promise<string[]> {
  return (await fs.readdir(path.dirname(dir))).filter((n) => n.startsWith(`.${path.basename(dir)}.`));
}

describe('writeExportBundle', () => {
  it('writes the model files, report.json and report.html with sizes and sha256', async () => {
    const dir = path.join(root, 'fresh', 'bundle');
    const out = await writeExportBundle(dir, { files: [model], report: report() });
    expect(out.dir).toBe(dir);
    expect((await fs.readdir(dir)).sort()).toEqual(['.topiary-export.json', 'model.tflite', 'report.html', 'report.json']);
    expect(JSON.parse(await fs.readFile(path.join(dir, '.topiary-export.json'), 'utf8')).files).toEqual(['model.tflite', 'report.json', 'report.html']);
    for (const f of out.files) {
      const bytes = await fs.readFile(f.path);
      expect(bytes.byteLength).toBe(f.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
    }
    const json = parseExportReport(JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')));
    expect(json.files).toEqual([{ name: 'model.tflite', bytes: 12, sha256: out.files[0].sha256 }]);
    expect(json.verification?.top1Agreement).toBe(0.99);
    expect(json.layers).toHaveLength(3);
    expect(await siblings(dir)).toEqual([]);
  });

  it('report.html is self-contained: inline SVG charts, no scripts or URLs, all text escaped (more in report-html.test.ts)', async () => {
    const dir = path.join(root, 'html');
    await writeExportBundle(dir, { files: [model], report: report() });
    const html = await fs.readFile(path.join(dir, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain("Content-Security-Policy\" content=\"default-src 'none'");
    expect(html.match(/<svg /g)?.length).toBe(2); // layer bars + one series (SvgChart, as Chart.svelte draws it on the server)
    expect(html).toContain('<polyline');
    expect(html).not.toMatch(/<script|https?:|src=["']|<link|@import/i);
    expect(html).not.toContain('<img');
    // Svelte escapes '<' and '&' in text: enough for no markup to start (a bare '>' is text).
    expect(html).toContain('&lt;img src=x onerror=alert(1)>');
    expect(html).toContain('LeNet-5 &lt;demo>');
    expect(html).toContain('passed');
    expect(html).toContain('0.250×'); // 12 / 48 bytes vs baseline
  });

  it('shows a failed verification with its reason', async () => {
    const dir = path.join(root, 'failed');
    const verification = { runtime: 'litert', samples: 10, maxAbsDiff: 0.5, top1Agreement: 0.7, accuracy: 0.6, latencyMs: 1, passed: false, reason: 'top-1 agreement 70% < 99.9%' };
    await writeExportBundle(dir, { files: [model], report: report({ verification }) });
    const html = await fs.readFile(path.join(dir, 'report.html'), 'utf8');
    expect(html).toContain('FAILED');
    expect(html).toContain('top-1 agreement 70% &lt; 99.9%');
  });

  it('refuses to overwrite a non-empty folder unless asked, and even when asked if it is not an earlier export', async () => {
    const dir = path.join(root, 'existing');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'keep.txt'), 'user data');
    await expect(writeExportBundle(dir, { files: [model], report: report() })).rejects.toThrow(/not empty; refusing to overwrite/);
    await expect(writeExportBundle(dir, { files: [model], report: report() }, { overwrite: true })).rejects.toThrow(/not a Topiary export folder/);
    expect(await fs.readdir(dir)).toEqual(['keep.txt']);
    expect(await fs.readFile(path.join(dir, 'keep.txt'), 'utf8')).toBe('user data');
    expect(await siblings(dir)).toEqual([]);
  });

  it('overwrite replaces an earlier export completely', async () => {
    const dir = path.join(root, 'earlier');
    await writeExportBundle(dir, { files: [{ name: 'old.bin', bytes: new Uint8Array([7]) }], report: report() });
    await writeExportBundle(dir, { files: [model], report: report() }, { overwrite: true });
    expect((await fs.readdir(dir)).sort()).toEqual(['.topiary-export.json', 'model.tflite', 'report.html', 'report.json']);
    expect(await siblings(dir)).toEqual([]);
  });

  it('accepts an existing empty folder', async () => {
    const dir = path.join(root, 'empty');
    await fs.mkdir(dir);
    await writeExportBundle(dir, { files: [model], report: report() });
    expect((await fs.readdir(dir)).length).toBe(4);
  });

  it('refuses to replace a plain file without overwrite', async () => {
    const file = path.join(root, 'a-file');
    await fs.writeFile(file, 'x');
    await expect(writeExportBundle(file, { files: [model], report: report() })).rejects.toThrow(/is not a folder/);
  });

  for (const name of ['../escape.bin', '/etc/passwd', 'a/b.bin', 'a\\b.bin', '..', '.', '', 'C:evil', 'report.json', 'REPORT.HTML']) {
    it(`rejects the file name ${JSON.stringify(name)} and writes nothing`, async () => {
      const dir = path.join(root, `names-${Buffer.from(name).toString('hex') || 'empty'}`);
      const err = await writeExportBundle(dir, { files: [{ name, bytes: new Uint8Array(1) }], report: report() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      await expect(fs.stat(dir)).rejects.toThrow(/ENOENT/);
      await expect(fs.stat(path.join(root, 'escape.bin'))).rejects.toThrow(/ENOENT/);
    });
  }

  it('rejects duplicate names, no files, and an invalid report', async () => {
    const dir = path.join(root, 'invalid');
    await expect(writeExportBundle(dir, { files: [model, model], report: report() })).rejects.toThrow(/appears twice/);
    await expect(writeExportBundle(dir, { files: [], report: report() })).rejects.toThrow(/at least one model file/);
    const bad = report({ verification: { runtime: 'x', samples: 1, maxAbsDiff: NaN, top1Agreement: 2, accuracy: null, latencyMs: null, passed: true, reason: null } });
    await expect(writeExportBundle(dir, { files: [model], report: bad })).rejects.toThrow(/verification\.maxAbsDiff.*verification\.top1Agreement/);
    await expect(fs.stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it('a failure while moving into place leaves no folder and no temp files behind', async () => {
    const dir = path.join(root, 'crash');
    vi.spyOn(fs, 'rename').mockRejectedValueOnce(new Error('disk on fire'));
    await expect(writeExportBundle(dir, { files: [model], report: report() })).rejects.toThrow(/could not write export bundle \(disk on fire\)/);
    await expect(fs.stat(dir)).rejects.toThrow(/ENOENT/);
    expect(await siblings(dir)).toEqual([]);
  });

  it('a failure while replacing restores the previous bundle', async () => {
    const dir = path.join(root, 'restore');
    await writeExportBundle(dir, { files: [{ name: 'old.bin', bytes: new Uint8Array([7]) }], report: report() });
    const realRename = fs.rename;
    let calls = 0;
    vi.spyOn(fs, 'rename').mockImplementation(async (a, b) => {
      calls += 1;
      if (calls === 2) throw new Error('rename failed'); // old moved aside, new one fails to land
      return realRename(a, b);
    });
    await expect(writeExportBundle(dir, { files: [model], report: report() }, { overwrite: true })).rejects.toThrow(/rename failed/);
    expect((await fs.readdir(dir)).sort()).toEqual(['.topiary-export.json', 'old.bin', 'report.html', 'report.json']);
    expect(await siblings(dir)).toEqual([]);
  });
});

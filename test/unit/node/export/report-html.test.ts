import { describe, expect, it } from 'vitest';
import { parseExportReport, type ExportReportInput } from '../../../../src-main/common/export-report';
import { bytes, count } from '../../../../src-main/common/format';
import { renderReportHtml } from '../../../../src-main/node/export/report-html';

// renderReportHtml renders src-renderer/report/ExportReportPage.svelte (and the run detail's
// ArtifactTable, Summary, LayerTable and Chart) with svelte/server; these tests read its output.

const HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>';

function report(overrides: Partial<ExportReportInput> = {}) {
  return parseExportReport({
    version: 1,
    createdAt: '2026-11-27T18:00:00.000Z',
    app: { name: 'topiary', version: '0.1.0' },
    tfjsVersion: '4.22.0',
    backend: 'cpu',
    source: { spec: 'run:abc', runId: 'abc', name: 'LeNet-5' },
    format: 'tflite',
    quant: 'int8',
    config: { verifySamples: 200, notes: ['kept 2 tensors float32'] },
    sizes: { rawBytes: 15_360, gzipBytes: 9_000, baselineRawBytes: 246_824 },
    weightZeros: { weights: 1000, zeros: 900, implicitZeros: 0, sparseTensors: 0 },
    metrics: { before: { accuracy: 0.9, params: 61706, temperature: 1.5 }, after: { accuracy: 0.893, params: 61706, nonZeros: 6170, temperature: 1.25 } },
    series: [{ name: 'val accuracy', x: 'epoch', points: [{ x: 0, y: 0.5 }, { x: 1, y: 0.8 }, { x: 2, y: 0.89 }] }],
    layers: [
      { name: 'conv1', className: 'Conv2D', outputShape: [null, 24, 24, 6], params: 156, nonZeros: 20, sparsity: 1 - 20 / 156, macs: 86400, paramsBefore: 156 },
      { name: 'dense', className: 'Dense', params: 1_000_000, nonZeros: 100_000, sparsity: 0.9, macs: 1_000_000, paramsBefore: 1_200_000 },
    ],
    verification: { runtime: 'litert 2.5.3 (wasm)', samples: 100, maxAbsDiff: 0.004, top1Agreement: 0.99, accuracy: 0.89, latencyMs: 0.21, passed: true, reason: null },
    files: [{ name: 'model.tflite', bytes: 15_360, sha256: 'a'.repeat(64) }],
    ...overrides,
  });
}

/** Every tag name the page opens: it may only be structure, tables and SVG, never anything that runs or loads. */
function tags(html: string): Set<string> {
  return new Set([...html.matchAll(/<([a-zA-Z][\w-]*)/g)].map((m) => m[1].toLowerCase()));
}
const ALLOWED = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'h3', 'p', 'span', 'strong', 'br', 'div', 'table', 'caption', 'thead', 'tbody', 'tr', 'th', 'td', 'code', 'svg', 'text', 'rect', 'line', 'polyline', 'circle']);

describe('renderReportHtml', () => {
  it('shows the figures in the formats of the common formatter (sizes, counts, percentages)', () => {
    const html = renderReportHtml(report());
    expect(html).toContain(`<title>Topiary export: LeNet-5</title>`);
    expect(html).toContain(bytes(15_360)); // "15.0 KiB": the shipped file, headline and artifact row
    expect(html).toContain(`Size ${bytes(15_360)}`);
    expect(html).toContain(bytes(246_824)); // baseline
    expect(html).toContain('0.062×'); // 15360 / 246824
    expect(html).toContain(count(1_200_000)); // params before, a column the app's stored rows lack
    expect(html).toContain(count(86400));
    expect(html).toContain('87.2 %'); // conv1 sparsity, as LayerTable writes it
    expect(html).toContain('90.00 % of weights zero in the file'); // ArtifactTable's weightZeros fact
    expect(html).toMatch(/<td>top-1 agreement<\/td><td>99\.0%<\/td>/);
    expect(html).toMatch(/<td>latency per sample<\/td><td>0\.21 ms<\/td>/);
    expect(html).toContain('-0.70 pts'); // Summary's accuracy change
    // A metric Summary has no row for is still listed, with its change.
    expect(html).toMatch(/<td>temperature<\/td><td class="num">1\.500<\/td><td class="num">1\.250<\/td><td class="num">-0\.2500<\/td>/);
    expect(html).toContain('a'.repeat(64));
    expect(html).toContain('<code>["kept 2 tensors float32"]</code>');
  });

  it('draws the charts as static SVG (a canvas cannot be drawn without a browser)', () => {
    const html = renderReportHtml(report());
    expect(html).not.toContain('<canvas');
    expect(html.match(/<svg /g)?.length).toBe(2);
    expect(html).toContain('data-series="parameters|non-zeros"');
    expect(html).toContain('data-series="val accuracy" data-points="3"');
    expect(html).toMatch(/<polyline [^>]*points="[\d., ]+"/);
    // Two bars per weighted layer, each with its value in a tooltip.
    expect(html.match(/<rect [^>]*><title>/g)?.length).toBe(4);
    expect(html).toContain(`<title>dense · non-zeros: ${count(100_000)}</title>`);
  });

  it('a failed verification shows FAILED with its reason; a missing one says not verified', () => {
    const failed = renderReportHtml(report({ verification: { runtime: 'litert', samples: 10, maxAbsDiff: 0.5, top1Agreement: 0.7, accuracy: 0.6, latencyMs: 1, passed: false, reason: 'top-1 agreement 70% < 99.9%' } }));
    expect(failed).toContain('<span class="badge fail">FAILED</span>');
    expect(failed).toContain('<td>reason</td><td>top-1 agreement 70% &lt; 99.9%</td>');
    expect(failed).toContain('class="error">failed – top-1 agreement 70% &lt; 99.9%');
    const none = renderReportHtml(report({ verification: null }));
    expect(none).toContain('<span class="badge none">not verified</span>');
    expect(none).toContain('class="muted">unverified');
  });

  it('a regressor is reported by its error, not by top-1 agreement', () => {
    const html = renderReportHtml(
      report({ verification: { runtime: 'litert', samples: 10, maxAbsDiff: 0.01, top1Agreement: null, accuracy: null, latencyMs: null, passed: true, reason: null, task: 'regression', meanAbsDiff: 0.002, mae: 0.31, referenceMae: 0.3, rule: 'max |diff| <= 5% of scale' } }),
    );
    expect(html).toContain('<td>MAE of the exported file</td><td>0.31</td>');
    expect(html).toContain('<td>pass rule</td><td>max |diff| &lt;= 5% of scale</td>');
    expect(html).not.toContain('top-1 agreement</td>');
    expect(html).toContain('<th class="num">MAE in-app</th>');
  });

  it('escapes hostile text everywhere it appears: no markup, handler or URL can come from the report', () => {
    const html = renderReportHtml(
      report({
        source: { spec: HOSTILE, runId: `"><script>x</script>`, name: HOSTILE },
        config: { [HOSTILE]: HOSTILE },
        layers: [{ name: HOSTILE, className: HOSTILE, params: 10, nonZeros: 1, sparsity: 0.9 }],
        series: [{ name: HOSTILE, x: HOSTILE, points: [{ x: 0, y: 1 }, { x: 1, y: 2 }] }],
        metrics: { before: { [HOSTILE]: 1 }, after: { [HOSTILE]: 2 } },
        verification: { runtime: HOSTILE, samples: 1, maxAbsDiff: 0, top1Agreement: 1, accuracy: 1, latencyMs: 1, passed: false, reason: HOSTILE },
        files: [{ name: HOSTILE, bytes: 1, sha256: HOSTILE }],
      }),
    );
    expect([...tags(html)].filter((t) => !ALLOWED.has(t))).toEqual([]);
    expect(html).not.toMatch(/<[^>]*\son\w+\s*=/i); // no event handler attribute inside any tag
    expect(html).toContain('&lt;script>alert("x")&lt;/script>&lt;img src=x onerror=alert(1)>');
    // In attributes (aria-label of the charts) quotes are escaped too.
    expect(html).toContain('aria-label="&lt;script>alert(&quot;x&quot;)&lt;/script>');
  });

  it('has no external references and needs no script: one file that opens offline', () => {
    const html = renderReportHtml(report());
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<script|<link|<iframe|<object|<img|\bsrc=|\bhref=|url\(|@import|https?:\/\//i);
    // The shared components' own <style> blocks come inline in the head.
    expect(html).toMatch(/<style id="svelte-[\w-]+">\.svg-chart/);
  });
});

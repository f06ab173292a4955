/**
 * Renders an ExportReport as one self-contained HTML page: inline CSS and inline SVG charts drawn
 * here from the per-layer table and metric series, no scripts, no external URLs, and a CSP that
 * forbids loading anything, so the page opens offline and cannot phone home. Every piece of text
 * from the report goes through `esc`.
 */
import type { ExportLayerRow, ExportReport, MetricSeries } from '../../common/export-report';
import { bytes, count, isFiniteNumber, percent } from '../../common/format';

/** HTML-escapes text for element content and double- or single-quoted attributes. */
export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function fmtNum(n: number | null | undefined): string {
  if (!isFiniteNumber(n)) return '—';
  if (Number.isInteger(n)) return count(n);
  const a = Math.abs(n);
  // Four significant digits without trailing zeros: 0.901, -0.008, 0.42.
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? n.toExponential(3) : String(Number(n.toPrecision(4)));
}

const pct = (x: number): string => percent(x, 1, '');

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:#1d2327;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e4;padding-bottom:4px}
.sub{color:#5b6770}table{border-collapse:collapse;width:100%;margin:6px 0}th,td{padding:4px 8px;border-bottom:1px solid #eceff1;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f5f7f8;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}.pass{background:#d7f5dd;color:#125d24}.fail{background:#fde0dd;color:#8a1c12}.none{background:#eceff1;color:#444}
.kv td{text-align:left}.kv td:first-child{color:#5b6770;width:220px}svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#333}
code{background:#f5f7f8;padding:1px 4px;border-radius:3px}`;

/**
 * Horizontal bars per layer: the full bar is the layer's parameter count, the dark inner bar its
 * non-zeros, so pruning shows as the light remainder.
 */
export function layerBarsSvg(rows: ExportLayerRow[]): string {
  const withWeights = rows.filter((r) => r.params > 0);
  if (withWeights.length === 0) return '<p class="sub">No layer has weights.</p>';
  const labelW = 170;
  const barW = 560;
  const valueW = 190;
  const rowH = 20;
  const top = 24;
  const height = top + withWeights.length * rowH + 8;
  const width = labelW + barW + valueW;
  const max = Math.max(...withWeights.map((r) => r.params));
  const parts: string[] = [
    `<svg role="img" aria-label="Parameters and non-zeros per layer" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`,
    `<rect x="${labelW}" y="4" width="12" height="12" fill="#b9d3ea"/><text x="${labelW + 16}" y="14">parameters</text>`,
    `<rect x="${labelW + 100}" y="4" width="12" height="12" fill="#2f6fa8"/><text x="${labelW + 116}" y="14">non-zeros</text>`,
  ];
  withWeights.forEach((r, i) => {
    const y = top + i * rowH;
    const w = (r.params / max) * barW;
    const nz = (r.nonZeros / max) * barW;
    const label = r.name.length > 24 ? `${r.name.slice(0, 23)}…` : r.name;
    parts.push(
      `<g><title>${esc(`${r.name} (${r.className}): ${count(r.nonZeros)} of ${count(r.params)} non-zero, sparsity ${pct(r.sparsity)}`)}</title>`,
      `<text x="${labelW - 6}" y="${y + 13}" text-anchor="end">${esc(label)}</text>`,
      `<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(2)}" height="${rowH - 5}" fill="#b9d3ea"/>`,
      `<rect x="${labelW}" y="${y + 2}" width="${nz.toFixed(2)}" height="${rowH - 5}" fill="#2f6fa8"/>`,
      `<text x="${labelW + barW + 6}" y="${y + 13}">${esc(`${count(r.nonZeros)} / ${count(r.params)} (${pct(r.sparsity)} sparse)`)}</text></g>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A line chart of one metric series with min/max ticks on both axes; points carry tooltips. */
export function seriesSvg(s: MetricSeries): string {
  const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length === 0) return `<p class="sub">${esc(s.name)}: no points.</p>`;
  const W = 640;
  const H = 220;
  const L = 64;
  const R = 16;
  const T = 24;
  const B = 36;
  let [x0, x1] = [Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x))];
  let [y0, y1] = [Math.min(...pts.map((p) => p.y)), Math.max(...pts.map((p) => p.y))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.05, y1 + Math.abs(y1 || 1) * 0.05];
  const sx = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const line = pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ');
  return [
    `<svg role="img" aria-label="${esc(s.name)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">`,
    `<text x="${L}" y="14" font-weight="600">${esc(s.name)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#999"/>`,
    `<text x="${L - 6}" y="${sy(y1) + 4}" text-anchor="end">${esc(fmtNum(y1))}</text>`,
    `<text x="${L - 6}" y="${sy(y0) + 4}" text-anchor="end">${esc(fmtNum(y0))}</text>`,
    `<text x="${L}" y="${H - B + 16}" text-anchor="middle">${esc(fmtNum(x0))}</text>`,
    `<text x="${W - R}" y="${H - B + 16}" text-anchor="middle">${esc(fmtNum(x1))}</text>`,
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(s.x)}</text>`,
    `<polyline fill="none" stroke="#2f6fa8" stroke-width="2" points="${line}"/>`,
    ...pts.map((p) => `<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="#2f6fa8"><title>${esc(`${s.x} ${fmtNum(p.x)}: ${fmtNum(p.y)}`)}</title></circle>`),
    '</svg>',
  ].join('');
}

function metricsTable(r: ExportReport): string {
  const keys = [...new Set([...Object.keys(r.metrics.before), ...Object.keys(r.metrics.after)])];
  if (keys.length === 0) return '<p class="sub">No metrics recorded.</p>';
  const rows = keys.map((k) => {
    const b = r.metrics.before[k];
    const a = r.metrics.after[k];
    const delta = typeof a === 'number' && typeof b === 'number' ? a - b : null;
    return `<tr><td>${esc(k)}</td><td>${esc(fmtNum(b))}</td><td>${esc(fmtNum(a))}</td><td>${esc(delta === null ? '—' : (delta > 0 ? '+' : '') + fmtNum(delta))}</td></tr>`;
  });
  return `<table><thead><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function verificationBlock(r: ExportReport): string {
  const v = r.verification;
  if (!v) return '<p><span class="badge none">not verified</span></p>';
  const badge = v.passed ? '<span class="badge pass">passed</span>' : '<span class="badge fail">FAILED</span>';
  const rows: [string, string][] = [
    ['runtime', v.runtime],
    ['samples', count(v.samples)],
    ['max |diff| vs in-app model', fmtNum(v.maxAbsDiff)],
    ...((v.task === 'regression'
      ? [
          ['mean |diff| vs in-app model', v.meanAbsDiff === undefined ? '—' : fmtNum(v.meanAbsDiff)],
          ['MAE of the exported file', v.mae == null ? '—' : fmtNum(v.mae)],
          ['MAE of the in-app model', v.referenceMae == null ? '—' : fmtNum(v.referenceMae)],
          ['pass rule', v.rule ?? '—'],
        ]
      : [
          ['top-1 agreement', v.top1Agreement === null ? '—' : pct(v.top1Agreement)],
          ['accuracy of the exported file', v.accuracy === null ? '—' : pct(v.accuracy)],
        ]) as [string, string][]),
    ['latency per sample', v.latencyMs === null ? '—' : `${fmtNum(v.latencyMs)} ms`],
  ];
  if (v.reason) rows.push([v.passed ? 'note' : 'reason', v.reason]);
  return `<p>${badge}</p><table class="kv"><tbody>${rows.map(([k, val]) => `<tr><td>${esc(k)}</td><td>${esc(val)}</td></tr>`).join('')}</tbody></table>`;
}

function layerTable(rows: ExportLayerRow[]): string {
  if (rows.length === 0) return '<p class="sub">No per-layer table.</p>';
  const hasMacs = rows.some((r) => r.macs !== undefined);
  const hasBefore = rows.some((r) => r.paramsBefore !== undefined);
  const head = ['layer', 'class', 'output', ...(hasBefore ? ['params before'] : []), 'params', 'non-zeros', 'sparsity', ...(hasMacs ? ['MACs'] : [])];
  const body = rows.map((r) => {
    const cells = [
      r.name,
      r.className,
      r.outputShape ? `[${r.outputShape.map((d) => (d === null ? '?' : d)).join(', ')}]` : '—',
      ...(hasBefore ? [r.paramsBefore === undefined ? '—' : count(r.paramsBefore)] : []),
      count(r.params),
      count(r.nonZeros),
      pct(r.sparsity),
      ...(hasMacs ? [r.macs === undefined ? '—' : count(r.macs)] : []),
    ];
    return `<tr>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
  });
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>`;
}

/**
 * The whole report page; `r.files` (name, size, sha256), when present, are listed under Artifact.
 * @example await fs.writeFile('report.html', renderReportHtml(report))
 */
export function renderReportHtml(r: ExportReport): string {
  const title = `Topiary export: ${r.source.name ?? r.source.spec}`;
  const sizeRows: [string, string][] = [
    ['format', r.format],
    ['weight quantization', r.quant],
    ['model files on disk', bytes(r.sizes.rawBytes)],
    ['gzip (as served over HTTP)', bytes(r.sizes.gzipBytes)],
  ];
  if (r.sizes.baselineRawBytes) {
    sizeRows.push(['baseline (float32) size', bytes(r.sizes.baselineRawBytes)]);
    sizeRows.push(['size vs baseline', `${(r.sizes.rawBytes / r.sizes.baselineRawBytes).toFixed(3)}×`]);
  }
  sizeRows.push(['source', r.source.spec]);
  if (r.source.runId) sizeRows.push(['run', r.source.runId]);
  if (r.backend) sizeRows.push(['compute backend', r.backend]);
  const configRows = Object.entries(r.config).map(([k, v]) => `<tr><td>${esc(k)}</td><td><code>${esc(JSON.stringify(v))}</code></td></tr>`);
  const files = r.files ?? [];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="sub">${esc(`created ${r.createdAt} · ${r.app.name} ${r.app.version} · tfjs ${r.tfjsVersion}`)}</p>
<h2>Verification</h2>
${verificationBlock(r)}
<h2>Artifact</h2>
<table class="kv"><tbody>${sizeRows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</tbody></table>
${files.length ? `<table><thead><tr><th>file</th><th>bytes</th><th>sha256</th></tr></thead><tbody>${files.map((f) => `<tr><td>${esc(f.name)}</td><td>${esc(count(f.bytes))}</td><td><code>${esc(f.sha256)}</code></td></tr>`).join('')}</tbody></table>` : ''}
<h2>Metrics</h2>
${metricsTable(r)}
${r.series.length ? `<h2>Metric series</h2>${r.series.map(seriesSvg).join('\n')}` : ''}
<h2>Layers</h2>
${layerBarsSvg(r.layers)}
${layerTable(r.layers)}
${configRows.length ? `<h2>Export settings</h2><table class="kv"><tbody>${configRows.join('')}</tbody></table>` : ''}
</body></html>
`;
}

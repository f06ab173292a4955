/**
 * Renders an ExportReport as one self-contained HTML page with Svelte's server renderer, from the
 * components the run detail shows in the window (src-renderer/report/ExportReportPage.svelte and
 * the runs/ components it uses), so the report and the app cannot drift apart. Svelte escapes every
 * piece of text and attribute; the charts are static SVG (Chart.svelte draws SvgChart when there is
 * no window); the CSS is inline; there are no scripts and no external URLs, and a CSP forbids
 * loading anything, so the page opens offline and cannot phone home.
 *
 * `.svelte` files load through scripts/svelte-server.mjs: a Node hook under tsx, a Vite plugin in
 * Vitest, an esbuild plugin in the built app.
 */
import { render } from 'svelte/server';
import type { ExportReport } from '../../common/export-report';
import ExportReportPage from '../../../src-renderer/report/ExportReportPage.svelte';

/**
 * The report's own stylesheet: the page's frame and the classes and colour variables the app's
 * stylesheet (src-renderer/app.css) gives the shared components in the window.
 */
const STYLE = `
:root{--fg:#1d2327;--bg:#fff;--muted:#5b6770;--border:#dde1e4;--accent:#0969da;--ok:#1a7f37;--danger:#cf222e;--warn:#9a6700}
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1000px;color:var(--fg);background:var(--bg);padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid var(--border);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:var(--muted)}.ok{color:var(--ok)}.error{color:var(--danger)}.warn{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{padding:4px 8px;border-bottom:1px solid #eceff1;text-align:left;vertical-align:top}
th{background:#f5f7f8;font-weight:600}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}.pass{background:#d7f5dd;color:#125d24}.fail{background:#fde0dd;color:#8a1c12}.none{background:#eceff1;color:#444}
.kv td:first-child{color:var(--muted);width:220px}
code{background:#f5f7f8;padding:1px 4px;border-radius:3px;word-break:break-all}`;

/**
 * The whole report page; `r.files` (name, size, sha256), when present, are listed under Artifact.
 * @example await fs.writeFile('report.html', renderReportHtml(report))
 */
export function renderReportHtml(r: ExportReport): string {
  const { head, body } = render(ExportReportPage, { props: { report: r } });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style>
${head}</head>
<body>
${body}
</body></html>
`;
}

// What Compare Images and Classify Folder show, from the CLI's JSON (`embedlab verify --json`, `embedlab classify
// --json`): the compare panel's HTML and the dashboard's ClassificationView. Pure: tested without VS Code.
import * as path from 'node:path';
import type { ClassificationView } from '../protocol/webview';

/** `embedlab verify a b --json`'s line. */
export interface VerifyResult { a: string; b: string; distance: number; metric: string; threshold: number; thresholdSource: string; same: boolean }

/** The verify line of the CLI's JSON output, checked; undefined when there is none or it is malformed. */
export function verifyResultOf(lines: ReadonlyArray<Record<string, unknown>>): VerifyResult | undefined {
  const o = lines.find((x) => x.type === 'verify');
  if (!o || typeof o.distance !== 'number' || typeof o.threshold !== 'number' || typeof o.same !== 'boolean' || typeof o.a !== 'string' || typeof o.b !== 'string') return undefined;
  return { a: o.a, b: o.b, distance: o.distance, metric: String(o.metric ?? ''), threshold: o.threshold, thresholdSource: String(o.thresholdSource ?? ''), same: o.same };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)).toString() : String(x));

/**
 * The Compare Images panel: both thumbnails, the distance, the threshold and the verdict. No script; the CSP allows
 * only the webview's own resources (the two images) and inline styles.
 */
export function compareImagesHtml(r: VerifyResult, o: { aSrc: string; bSrc: string; cspSource: string; model: string }): string {
  const verdict = r.same ? 'same' : 'different';
  const rule = `${num(r.distance)} ${r.same ? '<' : '≥'} ${num(r.threshold)}`;
  const img = (src: string, file: string, id: string) =>
    `<figure><img id="${id}" src="${esc(src)}" alt="${esc(path.basename(file))}"><figcaption title="${esc(file)}">${esc(path.basename(file))}</figcaption></figure>`;
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${o.cspSource}; style-src 'unsafe-inline';">
<title>Compare Images</title>
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 12px; }
.pair { display: flex; gap: 24px; flex-wrap: wrap; }
figure { margin: 0; } img { max-width: 256px; max-height: 256px; image-rendering: pixelated; border: 1px solid var(--vscode-panel-border, #444); }
#verdict { font-size: 1.4em; font-weight: bold; } #verdict.same { color: var(--vscode-testing-iconPassed, #73c991); } #verdict.different { color: var(--vscode-errorForeground, #f48771); }
table th { text-align: left; font-weight: normal; opacity: 0.8; padding-right: 16px; }
</style></head><body>
<h1>Compare Images</h1>
<div class="pair">${img(o.aSrc, r.a, 'image-a')}${img(o.bSrc, r.b, 'image-b')}</div>
<p id="verdict" class="${verdict}" role="status">${verdict}</p>
<table id="compare-stats">
<tr><th scope="row">${esc(r.metric || 'distance')} distance</th><td id="distance">${num(r.distance)}</td></tr>
<tr><th scope="row">threshold</th><td id="threshold">${num(r.threshold)}</td></tr>
<tr><th scope="row">rule</th><td>same when the distance is below the threshold: ${esc(rule)}</td></tr>
<tr><th scope="row">threshold from</th><td>${esc(r.thresholdSource)}</td></tr>
<tr><th scope="row">model</th><td>${esc(o.model)}</td></tr>
</table></body></html>`;
}

/** The dashboard's view of `embedlab classify --json`'s summary; null when the queries were not labelled (no confusion). */
export function classificationViewOf(summary: Record<string, unknown>): ClassificationView | null {
  const r = summary.report as { known?: unknown; correct?: unknown; accuracy?: unknown; confusion?: unknown } | undefined;
  if (!r || typeof r.confusion !== 'object' || r.confusion === null) return null;
  return {
    table: String(summary.table), queries: Number(summary.queries), classes: Object.keys((r as { perClass?: object }).perClass ?? {}),
    known: Number(r.known), correct: Number(r.correct), accuracy: typeof r.accuracy === 'number' ? r.accuracy : NaN,
    unknown: Number(summary.unknown ?? 0), threshold: typeof summary.threshold === 'number' ? summary.threshold : null,
    thresholdSource: String(summary.thresholdSource ?? ''), confusion: r.confusion as Record<string, Record<string, number>>,
  };
}

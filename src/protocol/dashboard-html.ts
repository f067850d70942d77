// The dashboard webview's HTML, as a pure function: the extension host (with webview.cspSource and asWebviewUri)
// and the browser-test harness (with its own origin) build the page the same way, under the same CSP.
//
// CSP: nothing remote, one script (by nonce), styles only from our stylesheet.
// - plotly.js adds its base CSS rules through a <style> element it creates at load time, which a strict
//   `style-src` blocks. plotly skips that when an element with id "plotly.js-style-global" and class
//   "no-inline-styles" exists, so our <link> carries that id and class, and dist/webview.css holds plotly's rules.
// - Everything else plotly (and our code) styles goes through the CSSOM (element.style.x = …), which CSP allows;
//   no style="" attributes, no inline <style>. So `style-src` needs neither 'unsafe-inline' nor a nonce.
// - img-src: thumbnails come from cspSource; `data:` and `blob:` are for plotly's toImage (PNG export renders the
//   SVG through an <img> with a data: URL) and for picked images the host passes as data: URLs.

export interface DashboardHtmlOptions {
  /** URI of dist/webview.js (asWebviewUri in VS Code). plotly is bundled into it. */
  scriptUri: string;
  /** URI of dist/webview.css (esbuild emits it beside webview.js). */
  styleUri: string;
  /** webview.cspSource in VS Code; the harness origin in tests. */
  cspSource: string;
  /** A fresh random nonce per page load ([A-Za-z0-9+/=]). */
  nonce: string;
  /** Optional separate plotly script (not needed with the default build, which bundles plotly into scriptUri). */
  plotlyUri?: string;
  /** Page title. */
  title?: string;
}

/**
 * plotly's strict bundle carries maplibre-gl, which injects its CSS as an inline <style> (blocked by the CSP) unless
 * an element with this id exists. The dashboard draws no maps, so an empty placeholder is all it needs.
 */
export const MAPLIBRE_STYLE_ID = '9f215cf04c5486422605d13261cb87401f4e7763b6296af81e98efbc0130da53';

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The Content-Security-Policy value for the dashboard. */
export function dashboardCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src ${cspSource} data: blob:`,
    `font-src ${cspSource}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** A nonce of 32 characters from [A-Za-z0-9], from any source of random bytes (crypto.getRandomValues/randomBytes). */
export function makeNonce(randomBytes: (n: number) => Uint8Array): string {
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(32);
  let s = '';
  for (let i = 0; i < 32; i++) s += chars[bytes[i] % chars.length];
  return s;
}

export function dashboardHtml(o: DashboardHtmlOptions): string {
  if (!/^[A-Za-z0-9+/=]{16,}$/.test(o.nonce)) throw new Error('dashboardHtml: the nonce must be at least 16 base64 characters');
  const csp = dashboardCsp(o.cspSource, o.nonce);
  const plotly = o.plotlyUri ? `\n  <script nonce="${o.nonce}" src="${escapeAttr(o.plotlyUri)}"></script>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link id="plotly.js-style-global" class="no-inline-styles" rel="stylesheet" href="${escapeAttr(o.styleUri)}">
  <meta id="${MAPLIBRE_STYLE_ID}" name="embedlab-no-inline-styles">
  <title>${escapeAttr(o.title ?? 'Embedding Lab')}</title>
</head>
<body>
  <main id="app" aria-busy="true"><p class="placeholder">Loading the dashboard…</p></main>${plotly}
  <script nonce="${o.nonce}" src="${escapeAttr(o.scriptUri)}"></script>
</body>
</html>
`;
}

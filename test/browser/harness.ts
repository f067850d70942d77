/// <reference lib="dom" />
// Browser-test harness for the dashboard webview: a tiny HTTP server on 127.0.0.1 that serves the page built by
// dashboardHtml (CSP as a header and a <meta>), dist/webview.js and .css, and thumbnails; Debian's chromium through
// playwright-core; and a stand-in for acquireVsCodeApi that hands the webview's messages to node.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { dashboardCsp, dashboardHtml, makeNonce } from '../../src/protocol/dashboard-html';
import type { HostToWebview, WebviewToHost } from '../../src/protocol/webview';

export const ROOT = path.resolve(__dirname, '..', '..');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.bmp': 'image/bmp',
};

export interface Harness {
  origin: string;
  page: Page;
  context: BrowserContext;
  /** Messages the webview posted, in order. */
  received: WebviewToHost[];
  consoleErrors: string[];
  cspViolations: string[];
  send(m: HostToWebview): Promise<void>;
  waitFor(type: WebviewToHost['type'], from?: number, timeoutMs?: number): Promise<WebviewToHost>;
  close(): Promise<void>;
}

/** Serves the dashboard; `imagesRoot` is served under /img/ (the thumbnails' base URI). */
export async function startHarness(opts: { imagesRoot?: string; onMessage?: (m: WebviewToHost) => void; viewport?: { width: number; height: number } } = {}): Promise<Harness> {
  for (const f of ['dist/webview.js', 'dist/webview.css']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`node scripts/build.mjs\` first`);
  }
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const send = (code: number, body: string | Buffer, type: string, headers: Record<string, string> = {}) => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    if (url.pathname === '/favicon.ico') return send(204, '', 'image/x-icon');
    if (url.pathname === '/') {
      const nonce = makeNonce((n) => randomBytes(n));
      const html = dashboardHtml({ scriptUri: `${origin}/dist/webview.js`, styleUri: `${origin}/dist/webview.css`, cspSource: origin, nonce });
      return send(200, html, 'text/html; charset=utf-8', { 'content-security-policy': dashboardCsp(origin, nonce) });
    }
    let file: string | null = null;
    if (url.pathname.startsWith('/dist/')) file = path.join(ROOT, 'dist', path.basename(decodeURIComponent(url.pathname)));
    else if (url.pathname.startsWith('/img/') && opts.imagesRoot) {
      const rel = decodeURIComponent(url.pathname.slice(5));
      const abs = path.resolve(opts.imagesRoot, rel);
      if (abs.startsWith(path.resolve(opts.imagesRoot) + path.sep)) file = abs;
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) return send(404, 'not found', 'text/plain');
    return send(200, fs.readFileSync(file), TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'embedlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: opts.viewport ?? { width: 1280, height: 900 },
    env: { ...process.env, HOME: profile, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const received: WebviewToHost[] = [];
  const consoleErrors: string[] = [];
  const cspViolations: string[] = [];
  const waiters: Array<() => void> = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await page.exposeFunction('__embedlabSend', (m: WebviewToHost) => {
    received.push(m);
    opts.onMessage?.(m);
    for (const w of waiters.splice(0)) w();
  });
  await page.exposeFunction('__embedlabCsp', (v: string) => { cspViolations.push(v); });
  // Runs before the page's own script; injected by the devtools protocol, so the page's CSP does not apply to it.
  // A string, not a function: tsx's transform would add `__name(...)` calls that do not exist in the page; the shim
  // covers the functions that tests pass to page.evaluate.
  await page.addInitScript(`
    globalThis.__name = (f) => f;
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__embedlabCsp(e.violatedDirective + ' blocked ' + e.blockedURI + ' (' + e.sourceFile + ':' + e.lineNumber + ') ' + e.sample));
    let state;
    window.__embedlabHost = { postMessage: (m) => window.__embedlabSend(m), getState: () => state, setState: (s) => { state = s; } };
  `);
  await page.goto(origin + '/');

  const h: Harness = {
    origin, page, context, received, consoleErrors, cspViolations,
    send: async (m) => { await page.evaluate((msg) => window.postMessage(msg, '*'), m); },
    waitFor: (type, from = 0, timeoutMs = 30_000) => new Promise((resolve, reject) => {
      const check = () => {
        const hit = received.slice(from).find((m) => m.type === type);
        if (hit) { clearTimeout(timer); resolve(hit); return true; }
        return false;
      };
      const timer = setTimeout(() => reject(new Error(`no '${type}' message from the webview within ${timeoutMs} ms`)), timeoutMs);
      if (!check()) {
        const again = () => { if (!check()) waiters.push(again); };
        waiters.push(again);
      }
    }),
    close: async () => {
      await context.close().catch(() => undefined);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
  return h;
}

/** Theme variables as VS Code sets them on <html> (a subset), and the body class it toggles. */
export const THEMES = {
  dark: { cls: 'vscode-dark', vars: { '--vscode-editor-background': '#1e1e1e', '--vscode-foreground': '#cccccc', '--vscode-descriptionForeground': '#9d9d9d', '--vscode-panel-border': '#454545', '--vscode-editorWidget-border': '#454545' } },
  light: { cls: 'vscode-light', vars: { '--vscode-editor-background': '#ffffff', '--vscode-foreground': '#333333', '--vscode-descriptionForeground': '#717171', '--vscode-panel-border': '#d4d4d4', '--vscode-editorWidget-border': '#c8c8c8',
    '--vscode-button-background': '#005fb8', '--vscode-input-background': '#ffffff', '--vscode-input-foreground': '#333333', '--vscode-input-border': '#cecece', '--vscode-sideBar-background': '#f3f3f3',
    '--vscode-editorHoverWidget-background': '#f3f3f3', '--vscode-inputValidation-warningBackground': '#fff4ce' } },
  /** VS Code's "Default High Contrast" (dark): black, white text, cyan contrast borders, orange focus. */
  'high-contrast': { cls: 'vscode-high-contrast', vars: { '--vscode-editor-background': '#000000', '--vscode-foreground': '#ffffff', '--vscode-descriptionForeground': '#ffffff',
    '--vscode-contrastBorder': '#6fc3df', '--vscode-contrastActiveBorder': '#f38518', '--vscode-focusBorder': '#f38518', '--vscode-panel-border': '#6fc3df',
    '--vscode-editorWidget-border': '#6fc3df', '--vscode-button-background': '#000000', '--vscode-button-foreground': '#ffffff', '--vscode-button-border': '#6fc3df',
    '--vscode-input-background': '#000000', '--vscode-input-foreground': '#ffffff', '--vscode-input-border': '#6fc3df', '--vscode-sideBar-background': '#000000',
    '--vscode-editorHoverWidget-background': '#0c141f', '--vscode-editorHoverWidget-border': '#6fc3df', '--vscode-inputValidation-warningBackground': '#000000',
    '--vscode-inputValidation-warningBorder': '#6fc3df', '--vscode-textLink-foreground': '#21a6ff' } },
} as const;

export async function setTheme(page: Page, theme: keyof typeof THEMES): Promise<void> {
  const t = THEMES[theme];
  await page.evaluate(({ cls, vars }) => {
    const root = document.documentElement;
    for (const k of [...root.style]) if (k.startsWith('--vscode-')) root.style.removeProperty(k);
    for (const [k, v] of Object.entries(vars)) root.style.setProperty(k, v); // CSSOM: allowed by the CSP
    document.body.classList.remove('vscode-dark', 'vscode-light', 'vscode-high-contrast', 'vscode-high-contrast-light');
    document.body.classList.add(cls);
  }, t);
}

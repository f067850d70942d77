// Small DOM helpers. No innerHTML with data, no style="" attributes (the CSP forbids inline styles): classes and
// the CSSOM only.
import type { WebviewToHost } from '../src/protocol/webview';

export interface HostApi {
  postMessage(m: WebviewToHost): void;
  getState(): unknown;
  setState(s: unknown): void;
}

declare global {
  interface Window {
    /** The browser-test harness's stand-in for acquireVsCodeApi(). */
    __embedlabHost?: HostApi;
  }
}
declare const acquireVsCodeApi: undefined | (() => HostApi);

export function hostApi(): HostApi {
  if (typeof acquireVsCodeApi === 'function') return acquireVsCodeApi();
  if (window.__embedlabHost) return window.__embedlabHost;
  let state: unknown;
  return { postMessage: (m) => console.debug('[embedlab] no host for', m.type), getState: () => state, setState: (s) => { state = s; } };
}

type Attrs = Record<string, string | number | boolean | undefined>;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function button(label: string, attrs: Attrs, onClick: () => void): HTMLButtonElement {
  const b = el('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', onClick); // a <button> fires click on Enter and Space
  return b;
}

/**
 * Fills `table` with named values: 'columns' → one header row of names over one row of values (a few values side by
 * side); 'rows' → a name | value row each (a long list). Values get `id`s (the tests and screen readers find them).
 */
export function statsTable(table: HTMLElement, items: ReadonlyArray<readonly [string, string, string]>, layout: 'columns' | 'rows'): void {
  if (layout === 'columns') {
    table.replaceChildren(
      el('thead', {}, el('tr', {}, ...items.map(([k]) => el('th', { scope: 'col' }, k)))),
      el('tbody', {}, el('tr', {}, ...items.map(([, v, id]) => el('td', { id }, v)))));
  } else {
    table.replaceChildren(el('tbody', {}, ...items.map(([k, v, id]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', { id }, v)))));
  }
}

export function fmt(v: number | undefined | null, digits = 4): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–';
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}

export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '–';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${sec} s` : `${sec} s`;
}

/** The theme, read from VS Code's CSS variables (with fallbacks for the harness). */
export interface Theme { font: string; fg: string; bg: string; grid: string; muted: string; kind: 'light' | 'dark' | 'high-contrast'; palette: string[] }

export function readTheme(): Theme {
  const cs = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  const cls = document.body.classList;
  const kind = cls.contains('vscode-high-contrast') || cls.contains('vscode-high-contrast-light') ? 'high-contrast' : cls.contains('vscode-light') ? 'light' : 'dark';
  const fg = v('--vscode-foreground', kind === 'light' ? '#333333' : '#cccccc');
  return {
    font: v('--vscode-font-family', 'system-ui, sans-serif'),
    fg,
    bg: v('--vscode-editor-background', kind === 'light' ? '#ffffff' : '#1e1e1e'),
    // High contrast: the grid and axis lines in the theme's contrast border colour, as VS Code draws its borders.
    grid: kind === 'high-contrast' ? v('--vscode-contrastBorder', v('--vscode-editorWidget-border', '#6fc3df')) : v('--vscode-editorWidget-border', kind === 'light' ? '#d0d0d0' : '#454545'),
    muted: v('--vscode-descriptionForeground', kind === 'light' ? '#717171' : '#9d9d9d'),
    kind,
    palette: [
      v('--vscode-charts-blue', '#3794ff'), v('--vscode-charts-orange', '#d18616'), v('--vscode-charts-green', '#89d185'),
      v('--vscode-charts-red', '#f14c4c'), v('--vscode-charts-purple', '#b180d7'), v('--vscode-charts-yellow', '#cca700'),
      '#17becf', '#e377c2', '#8c564b', '#7f7f7f', '#bcbd22', '#1f77b4', '#aec7e8', '#ffbb78', '#98df8a', '#ff9896',
      '#c5b0d5', '#c49c94', '#f7b6d2', '#9edae5',
    ],
  };
}

export function baseLayout(t: Theme, title: string, x: string, y: string): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const axis = (text: string) => ({ title: { text }, color: t.fg, gridcolor: t.grid, zerolinecolor: t.grid, automargin: true });
  return {
    title: { text: title, font: { size: 13 }, x: 0, xanchor: 'left' },
    paper_bgcolor: 'rgba(0,0,0,0)', plot_bgcolor: 'rgba(0,0,0,0)',
    font: { color: t.fg, family: t.font, size: 11 },
    margin: { l: 50, r: 12, t: 30, b: 40 }, xaxis: axis(x), yaxis: axis(y),
    legend: { orientation: 'h', y: -0.25, font: { size: 10 } },
    hoverlabel: { namelength: -1 }, uirevision: 'keep',
  };
}

export const PLOT_CONFIG = { displayModeBar: false, responsive: true, displaylogo: false, scrollZoom: false };

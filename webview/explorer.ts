// Embedding explorer: the host's 2-D projection (PCA, UMAP or t-SNE, chosen here; computed by the host's worker
// thread and cached beside the table) of every table row as one scattergl point (no sampling), coloured by label or
// by k-means cluster; hover card with thumbnail, path and label; click = query; lasso = gallery filter. While the
// host computes, a progress bar (with its percentage in text) shows; the controls are native, keyboard-operable.
import type { ClustersView, ProjectionMethod, ProjectionView, TableView, ThumbnailMap } from '../src/protocol/webview';
import { defaultClusterK, isProjectionMethod, thumbnailUri } from '../src/protocol/webview';
import { Plotly, type GraphDiv, type PlotlyEvent, type Trace } from './plotly';
import { baseLayout, button, el, fmt, PLOT_CONFIG, readTheme, type HostApi } from './util';

export interface ExplorerCallbacks {
  onSelection(rows: number[] | null): void;
  /** k null: the default (the number of labels). */
  onColorBy(mode: 'label' | 'cluster', k: number | null): void;
  onMethod(method: ProjectionMethod): void;
}

export const METHOD_LABELS: Record<ProjectionMethod, string> = { pca: 'PCA', umap: 'UMAP', tsne: 't-SNE' };

/** Opacity of the points outside a lasso selection, per theme (a dark background needs more to keep them visible). */
export const DIMMED_OPACITY: Record<'light' | 'dark' | 'high-contrast', number> = { light: 0.25, dark: 0.45, 'high-contrast': 0.55 };

export class ExplorerPanel {
  readonly root: HTMLElement;
  readonly gd: GraphDiv;
  private table: TableView | null = null;
  private projection: ProjectionView | null = null;
  private clusters: ClustersView | null = null;
  private thumbs: ThumbnailMap = { base: null };
  private colorBy: 'label' | 'cluster' = 'label';
  /** The k chosen for k-means; null: the number of labels of the table. */
  private clusterK: number | null = null;
  private queryRow: number | null = null;
  private readonly info: HTMLElement;
  private readonly hover: HTMLElement;
  private readonly hoverImg: HTMLImageElement;
  private readonly hoverText: HTMLElement;
  private readonly colorSel: HTMLSelectElement;
  private readonly kInput: HTMLInputElement;
  private readonly dragSel: HTMLSelectElement;
  private readonly methodSel: HTMLSelectElement;
  private readonly progress: HTMLProgressElement;
  private readonly progressText: HTMLElement;
  /** The method asked of the host and not arrived yet (null: none pending). */
  private pendingMethod: ProjectionMethod | null = null;
  /** The plot's uirevision: zoom and lasso belong to one projection of one table (see render). */
  private revision: string | null = null;
  private hasSelection = false;
  private bound = false;
  /** Groups (labels or clusters) hidden through the legend, and the groups of the last render, sorted. */
  private hiddenGroups = new Set<string>();
  private groupNames: string[] = [];
  /** Resolves after the latest render. */
  rendered: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: HostApi, private readonly cb: ExplorerCallbacks) {
    this.gd = el('div', { class: 'chart chart-tall', id: 'chart-projection', role: 'img', 'aria-label': '2-D projection of the embedding table' }) as GraphDiv;
    this.info = el('p', { class: 'muted', id: 'projection-info', 'aria-live': 'polite' }, 'No embedding table loaded.');
    this.hoverImg = el('img', { alt: '', width: 96, height: 96 });
    this.hoverText = el('div', { class: 'hover-text' });
    this.hover = el('div', { class: 'hover-card hidden', id: 'hover-card', role: 'tooltip' }, this.hoverImg, this.hoverText);
    this.colorSel = el('select', { id: 'color-by' }, el('option', { value: 'label' }, 'label'), el('option', { value: 'cluster' }, 'k-means cluster'));
    this.kInput = el('input', { type: 'number', id: 'cluster-k', min: 1, max: 200, value: defaultClusterK([]), 'aria-label': 'k for k-means' });
    this.dragSel = el('select', { id: 'drag-mode' }, el('option', { value: 'zoom' }, 'zoom'), el('option', { value: 'pan' }, 'pan'), el('option', { value: 'lasso' }, 'lasso'), el('option', { value: 'select' }, 'box select'));
    this.methodSel = el('select', { id: 'projection-method' }, ...(['pca', 'umap', 'tsne'] as const).map((m) => el('option', { value: m }, METHOD_LABELS[m])));
    this.progress = el('progress', { id: 'projection-progress', class: 'hidden', max: 1, value: 0, 'aria-label': 'Projection progress' });
    this.progressText = el('span', { id: 'projection-progress-text', class: 'muted', 'aria-live': 'polite' });
    this.methodSel.addEventListener('change', () => this.requestMethod());
    this.colorSel.addEventListener('change', () => this.requestColor());
    this.kInput.addEventListener('change', () => {
      const k = Math.floor(Number(this.kInput.value));
      if (k >= 1) this.clusterK = k === this.defaultK() ? null : k;
      if (this.colorSel.value === 'cluster') this.requestColor();
      else this.cb.onColorBy(this.colorBy, this.clusterK);
    });
    this.dragSel.addEventListener('change', () => void Plotly.relayout(this.gd, { dragmode: this.dragSel.value }));
    const controls = el('div', { class: 'controls' },
      el('label', { for: 'projection-method' }, 'Projection '), this.methodSel,
      el('label', { for: 'color-by' }, ' Colour by '), this.colorSel,
      el('label', { for: 'cluster-k' }, ' k '), this.kInput,
      el('label', { for: 'drag-mode' }, ' Mouse '), this.dragSel,
      button('Clear selection', { id: 'clear-selection' }, () => this.clearSelection()),
      button('Export CSV', { id: 'export-projection' }, () => this.host.postMessage({ type: 'exportCsv', what: 'projection' })),
      button('Save PNG', { 'data-chart': 'projection' }, () => void this.savePng()));
    this.root = el('section', { class: 'panel', id: 'panel-explorer', 'aria-labelledby': 'h-explorer' },
      el('h2', { id: 'h-explorer' }, 'Embedding explorer'), controls, el('div', { class: 'progress-line' }, this.progress, this.progressText), this.info,
      el('div', { class: 'chart-wrap' }, this.gd, this.hover));
  }

  /**
   * Clears the lasso: plotly keeps a lasso as a shape in layout.selections (and re-applies it on every redraw), so
   * resetting the trace's selectedpoints alone leaves it in place.
   */
  private clearSelection(): void {
    this.hasSelection = false;
    this.cb.onSelection(null);
    void Plotly.relayout(this.gd, { selections: [] }).then(() => Plotly.restyle(this.gd, { selectedpoints: [null] }));
  }

  private requestMethod(): void {
    const method = this.methodSel.value;
    if (!isProjectionMethod(method)) return;
    this.cb.onMethod(method);
    if (this.projection?.method === method && this.pendingMethod === null) return;
    this.showProgress(method, 0, 1);
    this.host.postMessage({ type: 'requestProjection', method });
  }

  /** The method selector's value (the settings' method; the host computes it if the snapshot lacks it). */
  setMethod(method: ProjectionMethod): void {
    this.methodSel.value = method;
    if (this.table && this.projection?.method !== method) {
      if (this.pendingMethod !== method) this.showProgress(method, 0, 1);
    } else if (this.pendingMethod !== null) {
      this.pendingMethod = null;
      this.hideProgress();
    }
  }

  /** The host's progress on a projection: a determinate bar and its percentage. */
  setProgress(method: ProjectionMethod, done: number, total: number): void {
    if (this.pendingMethod !== null && method !== this.pendingMethod) return; // an older request's last word
    this.showProgress(method, done, total);
  }

  private showProgress(method: ProjectionMethod, done: number, total: number): void {
    this.pendingMethod = method;
    const f = total > 0 ? Math.max(0, Math.min(1, done / total)) : 0;
    this.progress.value = f;
    this.progress.classList.remove('hidden');
    this.progress.setAttribute('aria-valuetext', `${METHOD_LABELS[method]} ${Math.round(f * 100)} %`);
    this.progressText.textContent = `Computing ${METHOD_LABELS[method]}… ${Math.round(f * 100)} %`;
  }

  /** The host could not compute the projection: the selector goes back to what is shown. */
  projectionFailed(): void {
    this.pendingMethod = null;
    this.hideProgress();
    if (this.projection) this.methodSel.value = this.projection.method;
  }

  private hideProgress(): void {
    this.progress.classList.add('hidden');
    this.progressText.textContent = '';
  }

  /** k-means' k when none is chosen: the number of labels of the table. */
  private defaultK(): number {
    return defaultClusterK(this.table?.labels ?? []);
  }

  /** Shows the chosen k, else the table's number of labels. */
  private syncK(): void {
    this.kInput.value = String(this.clusterK ?? this.defaultK());
  }

  private requestColor(): void {
    const mode = this.colorSel.value === 'cluster' ? 'cluster' : 'label';
    const k = Math.max(1, Math.floor(Number(this.kInput.value) || this.defaultK()));
    this.colorBy = mode;
    this.cb.onColorBy(mode, this.clusterK);
    if (mode === 'cluster' && (!this.clusters || this.clusters.k !== k)) this.host.postMessage({ type: 'requestClusters', k });
    else this.render();
  }

  private async savePng(): Promise<void> {
    const dataUrl = await Plotly.toImage(this.gd, { format: 'png', width: 1000, height: 800 });
    this.host.postMessage({ type: 'savePng', chart: 'projection', dataUrl });
  }

  setTable(table: TableView | null, thumbs: ThumbnailMap): void {
    if (table !== this.table) this.hiddenGroups.clear();
    this.table = table;
    this.thumbs = thumbs;
    if (this.projection && table && this.projection.x.length !== table.rows) this.projection = null;
    this.syncK();
    this.render();
  }

  setProjection(p: ProjectionView | null): void {
    this.projection = p;
    if (p && (this.pendingMethod === null || this.pendingMethod === p.method)) {
      this.pendingMethod = null;
      this.hideProgress();
      this.methodSel.value = p.method;
    }
    this.render();
  }
  setClusters(c: ClustersView | null): void { this.clusters = c; if (c) { this.kInput.value = String(c.k); } this.render(); }
  setColorBy(mode: 'label' | 'cluster', k: number | null): void { this.colorBy = mode; this.colorSel.value = mode; this.clusterK = k; this.syncK(); }
  setQuery(row: number | null): void {
    if (row === this.queryRow) return;
    this.queryRow = row;
    this.render();
  }

  /** Sets table, clusters and projection together (the snapshot): one render instead of three. */
  setAll(table: TableView | null, thumbs: ThumbnailMap, clusters: ClustersView | null, projection: ProjectionView | null): void {
    if (table !== this.table) this.hiddenGroups.clear();
    this.table = table;
    this.thumbs = thumbs;
    this.clusters = clusters;
    this.syncK();
    if (clusters) this.kInput.value = String(clusters.k);
    this.projection = projection && table && projection.x.length === table.rows ? projection : null;
    if (this.projection && this.pendingMethod === this.projection.method) this.pendingMethod = null;
    if (this.pendingMethod === null) this.hideProgress();
    // Colouring by cluster was restored without clusters (the host computes them on request).
    if (table && this.colorBy === 'cluster' && (!clusters || clusters.assignments.length !== table.rows)) {
      this.host.postMessage({ type: 'requestClusters', k: Math.max(1, Math.floor(Number(this.kInput.value) || this.defaultK())) });
    }
    this.render();
  }

  render(): void {
    const t = readTheme();
    const table = this.table, p = this.projection;
    if (!table || !p || p.x.length !== table.rows) {
      this.info.textContent = !table ? 'No embedding table loaded.' : 'Computing the projection…';
      this.rendered = Plotly.react(this.gd, [], baseLayout(t, '', '', ''), PLOT_CONFIG);
      return;
    }
    const n = table.rows;
    const useClusters = this.colorBy === 'cluster' && this.clusters && this.clusters.assignments.length === n;
    // All points are ONE scattergl trace (one draw call, one colour buffer) with a per-point colour; customdata =
    // the row. The legend is one empty SVG trace per group (only when there are
    // few groups); clicking it hides / isolates the group (see bind), which rebuilds the point trace.
    const groupOf = new Int32Array(n);
    const ids = new Map<string, number>();
    const firstNames: string[] = [];
    for (let i = 0; i < n; i++) {
      const g = useClusters ? `cluster ${this.clusters!.assignments[i]}` : table.labels[i] || '(unlabelled)';
      let id = ids.get(g);
      if (id === undefined) { id = firstNames.length; ids.set(g, id); firstNames.push(g); }
      groupOf[i] = id;
    }
    const names = [...firstNames].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    this.groupNames = names;
    for (const g of [...this.hiddenGroups]) if (!ids.has(g)) this.hiddenGroups.delete(g);
    // rank[id] = the group's position in sorted order = its palette colour (as before: one colour per sorted group).
    const rank = new Int32Array(firstNames.length);
    names.forEach((g, i) => { rank[ids.get(g)!] = i; });
    const hidden = new Uint8Array(firstNames.length);
    for (const g of this.hiddenGroups) hidden[ids.get(g)!] = 1;
    const nShown = n - (this.hiddenGroups.size ? groupOf.reduce((c, id) => c + hidden[id], 0) : 0);
    const all = nShown === n;
    const x: number[] = all ? p.x : new Array(nShown), y: number[] = all ? p.y : new Array(nShown);
    // Colours as shared [r, g, b, a] channel arrays (0–1): plotly's scattergl takes them as they are, whereas
    // colour strings (or numbers through a colorscale) are parsed once per point, which cost ~0.5 s for 50,000.
    const rgbaPalette = t.palette.map(cssRgba);
    const rows: number[] = new Array(nShown), color: number[][] = new Array(nShown);
    for (let i = 0, j = 0; i < n; i++) {
      const id = groupOf[i];
      if (hidden[id]) continue;
      if (!all) { x[j] = p.x[i]; y[j] = p.y[i]; }
      rows[j] = i;
      color[j++] = rgbaPalette[rank[id] % rgbaPalette.length];
    }
    const size = n > 20000 ? 3 : n > 2000 ? 4 : 6;
    // Points outside a lasso are dimmed, not hidden: plotly's default (a fifth of the opacity) leaves them nearly
    // invisible on a dark background, so the dimmed opacity depends on the theme.
    const dimmed = DIMMED_OPACITY[t.kind];
    const traces: Trace[] = [{
      type: 'scattergl', mode: 'markers', name: 'points', uid: 'pts-all', x, y, customdata: rows, hoverinfo: 'none', showlegend: false,
      marker: { size, color, opacity: 0.8 }, selected: { marker: { opacity: 0.9 } }, unselected: { marker: { opacity: dimmed } },
    }];
    if (names.length <= 40) {
      names.forEach((g, gi) => traces.push({
        // uid: plotly builds CSS selectors from it ('.cb' + uid) when a trace goes away, so no label text in it.
        type: 'scatter', mode: 'markers', name: g, uid: `legend-${gi}`, meta: g, x: [null], y: [null], hoverinfo: 'skip',
        marker: { size: 8, color: t.palette[gi % t.palette.length] }, visible: this.hiddenGroups.has(g) ? 'legendonly' : true,
      }));
    }
    if (this.queryRow !== null && this.queryRow < n) {
      const q = this.queryRow;
      traces.push({ type: 'scattergl', mode: 'markers', name: 'query', uid: 'query', x: [p.x[q]], y: [p.y[q]], customdata: [q], hoverinfo: 'none', showlegend: false,
        marker: { size: 14, symbol: 'star', color: t.fg, line: { color: t.bg, width: 1 } } });
    }
    const params = p.params ? Object.entries(p.params).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    const method = METHOD_LABELS[p.method] + (p.seed !== undefined && p.method !== 'pca' ? ` (seed ${p.seed}${params ? `, ${params}` : ''})` : '');
    const ev = p.explained ? ` — axes explain ${fmt(p.explained[0] * 100, 1)} % and ${fmt(p.explained[1] * 100, 1)} % of the variance` : '';
    const hid = this.hiddenGroups.size ? ` (${n - nShown} hidden)` : '';
    this.info.textContent = `${n} points${hid}, ${method}${p.cached ? ' (cached)' : ''}${ev}. Click a point to search its neighbours.`;
    // Zoom and lasso persist across redraws (uirevision) of the same projection of the same table; another projection
    // starts afresh (a lasso drawn in t-SNE coordinates means nothing in PCA's), and its selection is dropped.
    const revision = `${table.file}|${n}|${p.method}|${p.seed ?? ''}|${p.params ? JSON.stringify(p.params) : ''}`;
    if (this.revision !== null && this.revision !== revision && this.hasSelection) {
      this.hasSelection = false;
      this.cb.onSelection(null);
    }
    this.revision = revision;
    const layout = {
      ...baseLayout(t, '', p.method === 'pca' ? 'PC 1' : 'dim 1', p.method === 'pca' ? 'PC 2' : 'dim 2'), uirevision: revision,
      dragmode: this.dragSel.value, hovermode: 'closest', margin: { l: 40, r: 10, t: 10, b: 40 },
    };
    this.rendered = Plotly.react(this.gd, traces, layout, PLOT_CONFIG).then(() => this.bind());
  }

  private bind(): void {
    if (this.bound) return;
    this.bound = true;
    this.gd.on('plotly_click', (e: PlotlyEvent) => {
      const row = e.points?.[0]?.customdata;
      if (typeof row === 'number') this.host.postMessage({ type: 'selectQuery', row });
    });
    this.gd.on('plotly_hover', (e: PlotlyEvent) => this.showHover(e));
    this.gd.on('plotly_unhover', () => this.hover.classList.add('hidden'));
    this.gd.on('plotly_selected', (e: (PlotlyEvent & { selections?: unknown[]; lassoPoints?: unknown; range?: unknown }) | undefined) => {
      // No event, or the one plotly sends when the lasso shapes are removed (Clear selection): no selection, which
      // is not the same as a lasso around no point (an empty selection).
      if (!e || !e.points || (Array.isArray(e.selections) && e.selections.length === 0 && !e.lassoPoints && !e.range)) {
        this.hasSelection = false;
        this.cb.onSelection(null);
        return;
      }
      const rows = e.points.map((pt) => pt.customdata).filter((r): r is number => typeof r === 'number' && pt_isPoint(r));
      this.hasSelection = true;
      this.cb.onSelection(rows);
    });
    this.gd.on('plotly_deselect', () => { this.hasSelection = false; this.cb.onSelection(null); });
    // Legend entries are stand-ins: toggling one rebuilds the single point trace without (or with) that group.
    const group = (e: { data?: Trace[]; curveNumber?: number }) => {
      const tr = e.data?.[e.curveNumber ?? -1];
      return String(tr?.uid ?? '').startsWith('legend-') && typeof tr?.meta === 'string' ? tr.meta : null;
    };
    this.gd.on('plotly_legendclick', (e: { data?: Trace[]; curveNumber?: number }) => {
      const g = group(e);
      if (g === null) return true;
      if (this.hiddenGroups.has(g)) this.hiddenGroups.delete(g); else this.hiddenGroups.add(g);
      this.render();
      return false;
    });
    this.gd.on('plotly_legenddoubleclick', (e: { data?: Trace[]; curveNumber?: number }) => {
      const g = group(e);
      if (g === null) return true;
      const isolated = this.hiddenGroups.size === this.groupNames.length - 1 && !this.hiddenGroups.has(g);
      this.hiddenGroups = new Set(isolated ? [] : this.groupNames.filter((x) => x !== g));
      this.render();
      return false;
    });
  }

  private showHover(e: PlotlyEvent): void {
    const row = e.points?.[0]?.customdata;
    if (typeof row !== 'number' || !this.table) return;
    const path = this.table.paths[row];
    const uri = thumbnailUri(this.thumbs, path);
    if (uri) { this.hoverImg.src = uri; this.hoverImg.classList.remove('hidden'); } else this.hoverImg.classList.add('hidden');
    this.hoverImg.alt = path;
    this.hoverText.replaceChildren(el('div', { class: 'path' }, path), el('div', {}, `label: ${this.table.labels[row] || '(none)'}`), el('div', { class: 'muted' }, `row ${row}`));
    const box = this.gd.getBoundingClientRect();
    const x = (e.event?.clientX ?? box.left) - box.left, y = (e.event?.clientY ?? box.top) - box.top;
    this.hover.style.left = `${Math.min(x + 12, box.width - 220)}px`;
    this.hover.style.top = `${Math.max(0, y - 40)}px`;
    this.hover.classList.remove('hidden');
  }

  /** For tests: the method selected and the one shown. */
  methods(): { selected: string; shown: ProjectionMethod | null; pending: ProjectionMethod | null } {
    return { selected: this.methodSel.value, shown: this.projection?.method ?? null, pending: this.pendingMethod };
  }

  /** For tests: points per trace (the query marker excluded). */
  pointCount(): number {
    return (this.gd.data ?? []).filter((tr) => String(tr.uid).startsWith('pts-')).reduce((s, tr) => s + (tr.x as unknown[]).length, 0);
  }
}

let colorCtx: CanvasRenderingContext2D | null = null;
/** A CSS colour as [r, g, b, a] in 0–1 (the canvas normalises any CSS colour to #rrggbb or rgba(…)). */
export function cssRgba(css: string): [number, number, number, number] {
  colorCtx ??= document.createElement('canvas').getContext('2d');
  let v = css;
  if (colorCtx) { colorCtx.fillStyle = '#000000'; colorCtx.fillStyle = css; v = String(colorCtx.fillStyle); }
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(v);
  if (hex) return [parseInt(hex[1], 16) / 255, parseInt(hex[2], 16) / 255, parseInt(hex[3], 16) / 255, 1];
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+))?/i.exec(v);
  if (m) return [Number(m[1]) / 255, Number(m[2]) / 255, Number(m[3]) / 255, m[4] === undefined ? 1 : Number(m[4])];
  return [0.5, 0.5, 0.5, 1];
}

function pt_isPoint(r: number): boolean { return Number.isInteger(r) && r >= 0; }

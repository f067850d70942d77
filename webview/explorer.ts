// Embedding explorer: the host's 2-D projection of every table row as one scattergl point (no sampling), coloured by
// label or by k-means cluster; hover card with thumbnail, path and label; click = query; lasso = gallery filter.
import type { ClustersView, ProjectionView, TableView, ThumbnailMap } from '../src/protocol/webview';
import { thumbnailUri } from '../src/protocol/webview';
import { Plotly, type GraphDiv, type PlotlyEvent, type Trace } from './plotly';
import { baseLayout, button, el, fmt, PLOT_CONFIG, readTheme, type HostApi } from './util';

export interface ExplorerCallbacks {
  onSelection(rows: number[] | null): void;
  onColorBy(mode: 'label' | 'cluster', k: number): void;
}

export class ExplorerPanel {
  readonly root: HTMLElement;
  readonly gd: GraphDiv;
  private table: TableView | null = null;
  private projection: ProjectionView | null = null;
  private clusters: ClustersView | null = null;
  private thumbs: ThumbnailMap = { base: null };
  private colorBy: 'label' | 'cluster' = 'label';
  private queryRow: number | null = null;
  private readonly info: HTMLElement;
  private readonly hover: HTMLElement;
  private readonly hoverImg: HTMLImageElement;
  private readonly hoverText: HTMLElement;
  private readonly colorSel: HTMLSelectElement;
  private readonly kInput: HTMLInputElement;
  private readonly dragSel: HTMLSelectElement;
  private bound = false;
  /** Resolves after the latest render. */
  rendered: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: HostApi, private readonly cb: ExplorerCallbacks) {
    this.gd = el('div', { class: 'chart chart-tall', id: 'chart-projection', role: 'img', 'aria-label': '2-D projection of the embedding table' }) as GraphDiv;
    this.info = el('p', { class: 'muted', id: 'projection-info', 'aria-live': 'polite' }, 'No embedding table loaded.');
    this.hoverImg = el('img', { alt: '', width: 96, height: 96 });
    this.hoverText = el('div', { class: 'hover-text' });
    this.hover = el('div', { class: 'hover-card hidden', id: 'hover-card', role: 'tooltip' }, this.hoverImg, this.hoverText);
    this.colorSel = el('select', { id: 'color-by' }, el('option', { value: 'label' }, 'label'), el('option', { value: 'cluster' }, 'k-means cluster'));
    this.kInput = el('input', { type: 'number', id: 'cluster-k', min: 1, max: 200, value: 8, 'aria-label': 'k for k-means' });
    this.dragSel = el('select', { id: 'drag-mode' }, el('option', { value: 'zoom' }, 'zoom'), el('option', { value: 'pan' }, 'pan'), el('option', { value: 'lasso' }, 'lasso'), el('option', { value: 'select' }, 'box select'));
    this.colorSel.addEventListener('change', () => this.requestColor());
    this.kInput.addEventListener('change', () => { if (this.colorSel.value === 'cluster') this.requestColor(); });
    this.dragSel.addEventListener('change', () => void Plotly.relayout(this.gd, { dragmode: this.dragSel.value }));
    const controls = el('div', { class: 'controls' },
      el('label', { for: 'color-by' }, 'Colour by '), this.colorSel,
      el('label', { for: 'cluster-k' }, ' k '), this.kInput,
      el('label', { for: 'drag-mode' }, ' Mouse '), this.dragSel,
      button('Clear selection', { id: 'clear-selection' }, () => { void Plotly.restyle(this.gd, { selectedpoints: [null] }); this.cb.onSelection(null); }),
      button('Export CSV', { id: 'export-projection' }, () => this.host.postMessage({ type: 'exportCsv', what: 'projection' })),
      button('Save PNG', { 'data-chart': 'projection' }, () => void this.savePng()));
    this.root = el('section', { class: 'panel', id: 'panel-explorer', 'aria-labelledby': 'h-explorer' },
      el('h2', { id: 'h-explorer' }, 'Embedding explorer'), controls, this.info, el('div', { class: 'chart-wrap' }, this.gd, this.hover));
  }

  private requestColor(): void {
    const mode = this.colorSel.value === 'cluster' ? 'cluster' : 'label';
    const k = Math.max(1, Math.floor(Number(this.kInput.value) || 8));
    this.colorBy = mode;
    this.cb.onColorBy(mode, k);
    if (mode === 'cluster' && (!this.clusters || this.clusters.k !== k)) this.host.postMessage({ type: 'requestClusters', k });
    else this.render();
  }

  private async savePng(): Promise<void> {
    const dataUrl = await Plotly.toImage(this.gd, { format: 'png', width: 1000, height: 800 });
    this.host.postMessage({ type: 'savePng', chart: 'projection', dataUrl });
  }

  setTable(table: TableView | null, thumbs: ThumbnailMap): void {
    this.table = table;
    this.thumbs = thumbs;
    if (this.projection && table && this.projection.x.length !== table.rows) this.projection = null;
    this.render();
  }

  setProjection(p: ProjectionView | null): void { this.projection = p; this.render(); }
  setClusters(c: ClustersView | null): void { this.clusters = c; if (c) { this.kInput.value = String(c.k); } this.render(); }
  setColorBy(mode: 'label' | 'cluster', k: number): void { this.colorBy = mode; this.colorSel.value = mode; this.kInput.value = String(k); }
  setQuery(row: number | null): void {
    if (row === this.queryRow) return;
    this.queryRow = row;
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
    const useClusters = this.colorBy === 'cluster' && this.clusters && this.clusters.assignments.length === table.rows;
    // One trace per group (label or cluster): the legend then toggles groups. customdata = the row.
    const groups = new Map<string, number[]>();
    for (let i = 0; i < table.rows; i++) {
      const g = useClusters ? `cluster ${this.clusters!.assignments[i]}` : table.labels[i] || '(unlabelled)';
      let arr = groups.get(g);
      if (!arr) groups.set(g, (arr = []));
      arr.push(i);
    }
    const names = [...groups.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const size = table.rows > 20000 ? 3 : table.rows > 2000 ? 4 : 6;
    const traces: Trace[] = names.map((g, gi) => {
      const rows = groups.get(g)!;
      return {
        type: 'scattergl', mode: 'markers', name: g, uid: `pts:${g}`, x: rows.map((r) => p.x[r]), y: rows.map((r) => p.y[r]), customdata: rows,
        marker: { size, color: t.palette[gi % t.palette.length], opacity: 0.8 }, hoverinfo: 'none',
        showlegend: names.length <= 40,
      };
    });
    if (this.queryRow !== null && this.queryRow < table.rows) {
      const q = this.queryRow;
      traces.push({ type: 'scattergl', mode: 'markers', name: 'query', uid: 'query', x: [p.x[q]], y: [p.y[q]], customdata: [q], hoverinfo: 'none',
        marker: { size: 14, symbol: 'star', color: t.fg, line: { color: t.bg, width: 1 } } });
    }
    const method = p.method.toUpperCase() + (p.seed !== undefined && p.method !== 'pca' ? ` (seed ${p.seed})` : '');
    const ev = p.explained ? ` — axes explain ${fmt(p.explained[0] * 100, 1)} % and ${fmt(p.explained[1] * 100, 1)} % of the variance` : '';
    this.info.textContent = `${table.rows} points, ${method}${p.cached ? ' (cached)' : ''}${ev}. Click a point to search its neighbours.`;
    const layout = { ...baseLayout(t, '', p.method === 'pca' ? 'PC 1' : 'dim 1', p.method === 'pca' ? 'PC 2' : 'dim 2'), dragmode: this.dragSel.value, hovermode: 'closest', margin: { l: 40, r: 10, t: 10, b: 40 } };
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
    this.gd.on('plotly_selected', (e: PlotlyEvent | undefined) => {
      if (!e || !e.points) { this.cb.onSelection(null); return; }
      const rows = e.points.map((pt) => pt.customdata).filter((r): r is number => typeof r === 'number' && pt_isPoint(r));
      this.cb.onSelection(rows);
    });
    this.gd.on('plotly_deselect', () => this.cb.onSelection(null));
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

  /** For tests: points per trace (the query marker excluded). */
  pointCount(): number {
    return (this.gd.data ?? []).filter((tr) => String(tr.uid).startsWith('pts:')).reduce((s, tr) => s + (tr.x as unknown[]).length, 0);
  }
}

function pt_isPoint(r: number): boolean { return Number.isInteger(r) && r >= 0; }

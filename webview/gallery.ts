// Nearest-neighbour gallery: the query (a point, Find Similar Images, or a picked image) and its k nearest rows with
// distances; wrong-label neighbours and matches beyond the threshold are marked (text badges, not colour alone).
// Keyboard: the list is one tab stop (roving tabindex); arrows/Home/End move, Enter/Space makes the item the query.
import type { NeighborsView, TableView, ThumbnailMap } from '../src/protocol/webview';
import { thumbnailUri } from '../src/protocol/webview';
import { button, el, fmt, type HostApi } from './util';

export class GalleryPanel {
  readonly root: HTMLElement;
  private nb: NeighborsView | null = null;
  private table: TableView | null = null;
  private thumbs: ThumbnailMap = { base: null };
  private threshold: number | null = null;
  private selection: Set<number> | null = null;
  private readonly queryBox: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly kInput: HTMLInputElement;
  private readonly onlySel: HTMLInputElement;
  private readonly selBox: HTMLElement;
  private focusIndex = 0;
  /** Thumbnail nodes by place (query, list, selection) and path: built once and moved between renders, so a
   * re-render (threshold, selection, new query) neither re-creates <img> elements nor re-decodes the images. */
  private thumbCache = new Map<string, HTMLElement>();
  /** Nodes handed out in the current render (a path shown twice gets a copy). */
  private thumbUsed = new Set<HTMLElement>();

  constructor(private readonly host: HostApi) {
    this.queryBox = el('div', { class: 'query', id: 'gallery-query', 'aria-live': 'polite' });
    this.list = el('ol', { class: 'gallery', id: 'gallery', role: 'listbox', 'aria-label': 'Nearest neighbours' });
    this.kInput = el('input', { type: 'number', id: 'gallery-k', min: 1, max: 500, value: 8 });
    this.kInput.addEventListener('change', () => {
      const k = Math.floor(Number(this.kInput.value));
      if (k >= 1) this.host.postMessage({ type: 'setK', k });
    });
    this.onlySel = el('input', { type: 'checkbox', id: 'only-selection', checked: true });
    this.onlySel.addEventListener('change', () => this.render());
    this.selBox = el('div', { class: 'selection', id: 'selection-box' });
    this.list.addEventListener('keydown', (e) => this.onKey(e));
    const controls = el('div', { class: 'controls' },
      el('label', { for: 'gallery-k' }, 'k '), this.kInput,
      button('Pick image…', { id: 'pick-image' }, () => this.host.postMessage({ type: 'pickImage' })),
      button('Export CSV', { id: 'export-neighbors' }, () => this.host.postMessage({ type: 'exportCsv', what: 'neighbors' })),
      el('label', { for: 'only-selection' }, this.onlySel, ' only the lasso selection'));
    this.root = el('section', { class: 'panel', id: 'panel-gallery', 'aria-labelledby': 'h-gallery' },
      el('h2', { id: 'h-gallery' }, 'Nearest neighbours'), controls, this.queryBox, this.list, this.selBox);
  }

  setTable(t: TableView | null, thumbs: ThumbnailMap): void { this.table = t; this.thumbs = thumbs; this.thumbCache.clear(); this.render(); }
  setNeighbors(nb: NeighborsView | null): void { this.nb = nb; this.focusIndex = 0; if (nb) this.kInput.value = String(nb.k); this.render(); }
  setK(k: number): void { this.kInput.value = String(k); }
  setThreshold(t: number | null): void { if (t === this.threshold) return; this.threshold = t; this.render(); }
  setSelection(rows: number[] | null): void { this.selection = rows ? new Set(rows) : null; this.render(); }

  private thumb(path: string, alt: string, place: 'q' | 'n' | 's' = 'n'): HTMLElement {
    const key = `${place}\0${path}`;
    let node = this.thumbCache.get(key);
    if (!node) {
      const uri = thumbnailUri(this.thumbs, path);
      node = uri ? el('img', { src: uri, alt, width: 96, height: 96, loading: 'lazy' }) : el('div', { class: 'no-thumb', 'aria-hidden': 'true' }, '?');
      if (this.thumbCache.size > 2000) this.thumbCache.clear();
      this.thumbCache.set(key, node);
    }
    if (this.thumbUsed.has(node)) return node.cloneNode(true) as HTMLElement;
    this.thumbUsed.add(node);
    return node;
  }

  render(): void {
    this.thumbUsed.clear();
    const nb = this.nb;
    if (!nb) {
      this.queryBox.replaceChildren(el('p', { class: 'muted' }, 'Click a point, use “Find Similar Images”, or pick an image.'));
      this.list.replaceChildren();
    } else {
      const q = nb.query;
      const qUri = q.kind === 'image' && q.uri ? q.uri : null;
      this.queryBox.replaceChildren(
        qUri ? el('img', { src: qUri, alt: q.path, width: 96, height: 96 }) : this.thumb(q.path, q.path, 'q'),
        el('div', {}, el('div', { class: 'path', id: 'query-path' }, q.path), el('div', {}, `label: ${q.label || '(none)'}`),
          el('div', { class: 'muted' }, `${nb.neighbors.length} nearest by ${nb.distance}${this.threshold !== null ? `, threshold ${fmt(this.threshold)}` : ''}`)));
      const filter = this.selection && this.onlySel.checked ? this.selection : null;
      const shown = nb.neighbors.filter((n) => !filter || n.row === undefined || filter.has(n.row));
      this.focusIndex = Math.min(this.focusIndex, Math.max(0, shown.length - 1));
      this.list.replaceChildren(...shown.map((n, i) => {
        const wrong = !!q.label && !!n.label && n.label !== q.label;
        const beyond = this.threshold !== null && n.distance > this.threshold;
        const li = el('li', {
          role: 'option', tabindex: i === this.focusIndex ? 0 : -1, 'aria-selected': i === this.focusIndex ? 'true' : 'false',
          class: `card${wrong ? ' wrong-label' : ''}${beyond ? ' beyond-threshold' : ''}`,
          'data-rank': n.rank, 'data-path': n.path, 'data-distance': String(n.distance), 'data-row': n.row,
          'aria-label': `${n.rank}. ${n.path}, label ${n.label || 'none'}, distance ${fmt(n.distance)}${wrong ? ', wrong label' : ''}${beyond ? ', beyond threshold' : ''}`,
        },
        this.thumb(n.path, n.path),
        el('div', { class: 'rank' }, `#${n.rank}`),
        el('div', { class: 'path', title: n.path }, n.path),
        el('div', { class: 'label' }, n.label || '(none)'),
        el('div', { class: 'distance' }, fmt(n.distance)),
        wrong ? el('span', { class: 'badge badge-wrong' }, 'wrong label') : null,
        beyond ? el('span', { class: 'badge badge-beyond' }, 'beyond threshold') : null);
        li.addEventListener('click', () => { this.focusIndex = i; this.activate(n.row); });
        return li;
      }));
      if (filter && shown.length < nb.neighbors.length) this.list.append(el('li', { class: 'muted', role: 'presentation' }, `${nb.neighbors.length - shown.length} outside the selection hidden`));
    }
    this.renderSelection();
  }

  private renderSelection(): void {
    if (!this.selection || !this.table) { this.selBox.replaceChildren(); return; }
    const rows = [...this.selection].slice(0, 60);
    this.selBox.replaceChildren(el('h3', {}, `Lasso selection: ${this.selection.size} images${this.selection.size > rows.length ? ` (first ${rows.length} shown)` : ''}`),
      el('ul', { class: 'sel-grid' }, ...rows.map((r) => {
        const b = button('', { class: 'sel-item', 'aria-label': `Search with ${this.table!.paths[r]}`, 'data-row': r }, () => this.activate(r));
        b.append(this.thumb(this.table!.paths[r], this.table!.paths[r], 's'));
        return el('li', {}, b);
      })));
  }

  private activate(row: number | undefined): void {
    if (row !== undefined) this.host.postMessage({ type: 'selectQuery', row });
  }

  private onKey(e: KeyboardEvent): void {
    const items = [...this.list.querySelectorAll<HTMLElement>('li[role=option]')];
    if (!items.length) return;
    const perRow = Math.max(1, Math.round(this.list.clientWidth / Math.max(1, items[0].offsetWidth + 8)));
    let i = items.indexOf(document.activeElement as HTMLElement);
    if (i < 0) i = this.focusIndex;
    const next = ({ ArrowRight: i + 1, ArrowLeft: i - 1, ArrowDown: i + perRow, ArrowUp: i - perRow, Home: 0, End: items.length - 1 } as Record<string, number>)[e.key];
    if (next !== undefined) {
      e.preventDefault();
      this.focusIndex = Math.max(0, Math.min(items.length - 1, next));
      items.forEach((it, j) => { it.tabIndex = j === this.focusIndex ? 0 : -1; it.setAttribute('aria-selected', j === this.focusIndex ? 'true' : 'false'); });
      items[this.focusIndex].focus();
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      const row = items[i]?.dataset.row;
      if (row !== undefined && row !== '') this.activate(Number(row));
    }
  }
}

// Classify Folder's result: accuracy, how many were answered unknown, and the confusion matrix (rows: the true
// class, columns: the predicted one; the diagonal marked), as an HTML table a screen reader can walk.
import type { ClassificationView } from '../src/protocol/webview';
import { el } from './util';

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');

export class ClassificationPanel {
  readonly root: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly matrix: HTMLTableElement;
  view: ClassificationView | null = null;

  constructor() {
    this.summary = el('p', { id: 'classification-summary' });
    this.matrix = el('table', { class: 'stats-table confusion', id: 'confusion-matrix' });
    this.root = el('section', { class: 'panel', id: 'panel-classification', 'aria-labelledby': 'h-classification' },
      el('h2', { id: 'h-classification' }, 'Classification'), this.summary, this.matrix);
    this.set(null);
  }

  set(v: ClassificationView | null): void {
    this.view = v;
    if (!v) {
      this.summary.textContent = 'No classification yet: run Classify Folder… on a folder of images (Explorer context menu).';
      this.matrix.replaceChildren();
      return;
    }
    const rule = v.threshold === null ? 'closed set' : `open set, threshold ${Number(v.threshold.toPrecision(4))} (${v.thresholdSource}): ${v.unknown} unknown`;
    this.summary.textContent = `${v.table}: accuracy ${pct(v.accuracy)} (${v.correct}/${v.known}), ${v.queries} image(s) against ${v.classes.length} classes, ${rule}.`;
    const truths = Object.keys(v.confusion).sort();
    const preds = [...new Set([...v.classes, ...truths.flatMap((t) => Object.keys(v.confusion[t]))])].sort();
    const head = el('tr', {}, el('th', { scope: 'col' }, 'true \\ predicted'), ...preds.map((p) => el('th', { scope: 'col' }, p)));
    const rows = truths.map((t) => el('tr', {}, el('th', { scope: 'row' }, t), ...preds.map((p) => {
      const n = v.confusion[t][p] ?? 0;
      return el('td', { class: p === t ? 'diagonal' : n ? 'off-diagonal' : '', 'data-true': t, 'data-predicted': p }, String(n));
    })));
    this.matrix.replaceChildren(el('caption', {}, 'Confusion matrix (rows: true class, columns: predicted)'), el('thead', {}, head), el('tbody', {}, ...rows));
  }
}

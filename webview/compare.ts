// Run comparison: the picker of the workspace's runs to overlay on the dashboard's run (their loss and validation
// curves join the training charts, one legend group per run), and the comparison table: per run its final metrics
// and the config values that differ between the runs shown (as TensorBoard's and W&B's run comparison).
import type { RunChoice, RunView } from '../src/protocol/webview';
import { configDifferences } from '../src/protocol/webview';
import { el, fmt, type HostApi } from './util';

/** The last epoch with validation metrics, and the best MAP@R over the epochs. */
export function finalMetrics(v: RunView): { epochs: number; loss: number | undefined; p1: number | undefined; map: number | undefined; bestMap: number | undefined } {
  // Trained epochs only: the baseline (epoch −1, before the first step) is not a result of training.
  const pts = v.epochPoints.filter((p) => p.epoch >= 0).sort((a, b) => a.epoch - b.epoch);
  const lastVal = [...pts].reverse().find((p) => p.mapAtR !== undefined);
  const maps = pts.map((p) => p.mapAtR).filter((m): m is number => m !== undefined);
  return {
    epochs: pts.length,
    loss: pts.at(-1)?.trainLoss ?? v.steps.loss.at(-1),
    p1: lastVal?.precisionAt1, map: lastVal?.mapAtR, bestMap: maps.length ? Math.max(...maps) : undefined,
  };
}

export class ComparePicker {
  readonly root: HTMLDetailsElement;
  private readonly list: HTMLElement;
  private runs: RunChoice[] = [];
  private compared = new Set<string>();

  constructor(private readonly host: HostApi) {
    this.list = el('div', { class: 'compare-choices', id: 'compare-choices', role: 'group', 'aria-label': 'Runs to compare with' });
    this.root = el('details', { class: 'compare-picker', id: 'compare-picker' }, el('summary', {}, 'Compare runs…'), this.list);
    this.render();
  }

  set(runs: RunChoice[], compared: string[]): void {
    this.runs = runs;
    this.compared = new Set(compared);
    this.render();
  }

  private render(): void {
    if (!this.runs.length) { this.list.replaceChildren(el('p', { class: 'muted' }, 'No other runs in the workspace.')); return; }
    this.list.replaceChildren(...this.runs.map((r, i) => {
      const box = el('input', { type: 'checkbox', id: `compare-${i}`, 'data-run-dir': r.runDir, checked: this.compared.has(r.runDir) });
      box.addEventListener('change', () => {
        if (box.checked) this.compared.add(r.runDir); else this.compared.delete(r.runDir);
        this.host.postMessage({ type: 'compareRuns', runDirs: this.runs.map((x) => x.runDir).filter((d) => this.compared.has(d)) });
      });
      return el('div', { class: 'compare-choice' }, box, el('label', { for: `compare-${i}` }, ` ${r.name}`), r.status ? el('span', { class: 'muted' }, ` ${r.status}`) : null);
    }));
  }
}

/** The comparison table of `runs` (shown when there are two or more): final metrics, then the differing config keys. */
export function renderComparison(box: HTMLElement, runs: ReadonlyArray<{ view: RunView; color: string }>): void {
  if (runs.length < 2) { box.replaceChildren(); return; }
  const diff = configDifferences(runs.map((r) => r.view.config));
  const cols = ['run', 'status', 'epochs', 'final loss', 'P@1', 'MAP@R', 'best MAP@R', ...diff];
  const rows = runs.map(({ view: v, color }) => {
    const m = finalMetrics(v);
    const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = color;
    const cell = (text: string, key: string) => el('td', { 'data-key': key }, text);
    return el('tr', { 'data-run': v.runId },
      el('th', { scope: 'row' }, swatch, ` ${v.name}`),
      cell(v.status, 'status'), cell(`${m.epochs} / ${v.epochs}`, 'epochs'), cell(fmt(m.loss), 'loss'), cell(fmt(m.p1, 3), 'p1'), cell(fmt(m.map, 3), 'map'), cell(fmt(m.bestMap, 3), 'bestMap'),
      ...diff.map((k) => { const val = v.config?.[k]; return cell(val === undefined ? '–' : val === null ? 'null' : String(val), `config:${k}`); }));
  });
  box.replaceChildren(el('h3', {}, 'Comparison'),
    el('div', { class: 'table-scroll' }, el('table', { class: 'compare-table', id: 'compare-table' },
      el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col' }, c)))), el('tbody', {}, ...rows))),
    el('p', { class: 'muted' }, diff.length ? `Config: the ${diff.length} setting${diff.length === 1 ? '' : 's'} that differ.` : 'Their configs are the same (but for the name).'));
}

// Evaluation and threshold: the `embedlab eval` metrics, positive/negative pair-distance histograms (from eval's
// precomputed bins, drawn as filled step lines), precision/recall/F1 against the threshold with the F1-optimal and
// target-precision thresholds marked, a threshold the user drags (shape) or types, per-class recall, PNG export.
import type { EvalView, ThresholdPointView } from '../src/protocol/webview';
import { Plotly, type GraphDiv, type Trace } from './plotly';
import { baseLayout, button, el, fmt, PLOT_CONFIG, readTheme, statsTable, type HostApi } from './util';

/** Precision/recall/F1 at threshold t, linearly interpolated on eval's curve (sorted by threshold). */
export function curveAt(curve: readonly ThresholdPointView[], t: number): { precision: number; recall: number; f1: number } | null {
  if (!curve.length) return null;
  const pts = [...curve].sort((a, b) => a.threshold - b.threshold);
  if (t <= pts[0].threshold) return pts[0];
  if (t >= pts[pts.length - 1].threshold) return pts[pts.length - 1];
  let lo = 0, hi = pts.length - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (pts[mid].threshold <= t) lo = mid; else hi = mid; }
  const a = pts[lo], b = pts[hi];
  const w = b.threshold === a.threshold ? 0 : (t - a.threshold) / (b.threshold - a.threshold);
  const lerp = (x: number, y: number) => x + w * (y - x);
  const precision = lerp(a.precision, b.precision), recall = lerp(a.recall, b.recall);
  return { precision, recall, f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0 };
}

export class EvaluationPanel {
  readonly root: HTMLElement;
  readonly thresholdDiv: GraphDiv;
  readonly histDiv: GraphDiv;
  private ev: EvalView | null = null;
  private userThreshold: number | null = null;
  private readonly metrics: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly range: HTMLInputElement;
  private readonly tradeoff: HTMLElement;
  private readonly perClass: HTMLElement;
  private bound = false;
  rendered: Promise<unknown> = Promise.resolve();

  constructor(private readonly host: HostApi, private readonly onThreshold: (t: number | null) => void) {
    this.metrics = el('table', { class: 'stats-table', id: 'eval-metrics' });
    this.thresholdDiv = el('div', { class: 'chart', id: 'chart-threshold', role: 'img', 'aria-label': 'Precision, recall and F1 against the distance threshold' }) as GraphDiv;
    this.histDiv = el('div', { class: 'chart', id: 'chart-histogram', role: 'img', 'aria-label': 'Histograms of positive and negative pair distances' }) as GraphDiv;
    this.input = el('input', { type: 'number', id: 'threshold-input', step: 0.001, min: 0 });
    this.range = el('input', { type: 'range', id: 'threshold-range', step: 0.001, min: 0, max: 2, 'aria-label': 'Threshold' });
    this.tradeoff = el('output', { id: 'threshold-tradeoff', for: 'threshold-input', 'aria-live': 'polite' });
    this.perClass = el('div', { id: 'per-class' });
    const commit = (v: number) => { if (Number.isFinite(v)) this.setUserThreshold(v, true); };
    this.input.addEventListener('change', () => commit(Number(this.input.value)));
    this.range.addEventListener('input', () => commit(Number(this.range.value)));
    const controls = el('div', { class: 'controls' },
      el('label', { for: 'threshold-input' }, 'Threshold '), this.input, this.range,
      button('Use F1-optimal', { id: 'threshold-reset' }, () => this.setUserThreshold(null, true)),
      button('Use as the model\'s threshold', { id: 'threshold-save', title: 'Write this threshold into the model\'s threshold.json (what verify, classify and duplicates use)' }, () => this.saveModelThreshold()),
      button('Save threshold PNG', { 'data-chart': 'threshold' }, () => void this.savePng('threshold', this.thresholdDiv)),
      button('Save histogram PNG', { 'data-chart': 'histogram' }, () => void this.savePng('histogram', this.histDiv)));
    this.root = el('section', { class: 'panel', id: 'panel-eval', 'aria-labelledby': 'h-eval' },
      el('h2', { id: 'h-eval' }, 'Evaluation and threshold'), this.metrics, controls, this.tradeoff,
      el('div', { class: 'chart-grid' }, this.thresholdDiv, this.histDiv), el('h3', {}, 'Per-class recall@1'), this.perClass);
  }

  private async savePng(chart: 'threshold' | 'histogram', gd: HTMLElement): Promise<void> {
    const dataUrl = await Plotly.toImage(gd, { format: 'png', width: 1000, height: 500 });
    this.host.postMessage({ type: 'savePng', chart, dataUrl });
  }

  /** "Use as the model's threshold": the host writes the threshold in force into the model's threshold.json. */
  saveModelThreshold(): void {
    const t = this.threshold();
    if (t !== null) this.host.postMessage({ type: 'saveModelThreshold', threshold: t });
  }

  /** The threshold in force: the user's, else the F1-optimal one. */
  threshold(): number | null {
    return this.userThreshold ?? this.ev?.verification?.bestF1.threshold ?? null;
  }

  setEval(ev: EvalView | null): void { this.ev = ev; this.render(); }

  setUserThreshold(t: number | null, fromUser = false): void {
    this.userThreshold = t;
    if (fromUser) { this.host.postMessage({ type: 'setThreshold', threshold: t }); this.onThreshold(this.threshold()); }
    void this.updateMarker();
  }

  private shapes(): Array<Record<string, unknown>> {
    const v = this.ev?.verification;
    if (!v) return [];
    const t = readTheme();
    const line = (name: string, x: number, color: string, dash: string, editable = false) =>
      ({ type: 'line', name, xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1, editable, line: { color, width: editable ? 3 : 2, dash } });
    const s = [line('best-f1', v.bestF1.threshold, t.palette[2], 'dash')];
    if (v.atPrecision) s.push(line('target-precision', v.atPrecision.threshold, t.palette[4], 'dot'));
    s.push(line('threshold', this.threshold() ?? v.bestF1.threshold, t.fg, 'solid', true));
    return s;
  }

  private async updateMarker(): Promise<void> {
    const th = this.threshold();
    if (th !== null) {
      this.input.value = th.toFixed(4);
      this.range.value = String(th);
    }
    const v = this.ev?.verification;
    if (v && th !== null) {
      const at = curveAt(v.curve, th);
      this.tradeoff.textContent = at ? `At ${fmt(th)}: precision ${fmt(at.precision, 3)}, recall ${fmt(at.recall, 3)}, F1 ${fmt(at.f1, 3)}` : '';
    }
    if (!v) return;
    const shapes = this.shapes();
    await Promise.all([Plotly.relayout(this.thresholdDiv, { shapes }), Plotly.relayout(this.histDiv, { shapes })]);
  }

  render(): void {
    const t = readTheme();
    const ev = this.ev;
    if (!ev) {
      statsTable(this.metrics, [['Evaluation', 'none yet (run `embedlab eval`)', 'm-none']], 'rows');
      this.rendered = Promise.all([Plotly.react(this.thresholdDiv, [], baseLayout(t, '', '', ''), PLOT_CONFIG), Plotly.react(this.histDiv, [], baseLayout(t, '', '', ''), PLOT_CONFIG)]);
      this.perClass.replaceChildren();
      return;
    }
    const r = ev.retrieval, v = ev.verification;
    const items: Array<[string, string, string]> = [
      ['Precision@1', fmt(r.precisionAt1), 'm-p1'], ['R-Precision', fmt(r.rPrecision), 'm-rp'], ['MAP@R', fmt(r.mapAtR), 'm-map'],
      ...Object.entries(r.recallAtK).map(([k, val]) => [`Recall@${k}`, fmt(val), `m-r${k}`] as [string, string, string]),
      ['NMI (k-means)', fmt(ev.clustering?.nmi), 'm-nmi'],
      ['ROC AUC', fmt(v?.rocAuc), 'm-auc'],
      ['F1-optimal threshold', v ? `${fmt(v.bestF1.threshold)} (F1 ${fmt(v.bestF1.f1, 3)})` : '–', 'm-bestf1'],
      ['Target-precision threshold', v?.atPrecision ? `${fmt(v.atPrecision.threshold)} (precision ≥ ${v.atPrecision.target}, recall ${fmt(v.atPrecision.recall, 3)})` : '–', 'm-atp'],
    ];
    statsTable(this.metrics, items, 'rows');
    const work: Array<Promise<unknown>> = [];
    if (v) {
      const curve = [...v.curve].sort((a, b) => a.threshold - b.threshold);
      const xs = curve.map((c) => c.threshold);
      const traces: Trace[] = [
        { type: 'scatter', mode: 'lines', name: 'precision', uid: 'precision', x: xs, y: curve.map((c) => c.precision), line: { color: t.palette[0] } },
        { type: 'scatter', mode: 'lines', name: 'recall', uid: 'recall', x: xs, y: curve.map((c) => c.recall), line: { color: t.palette[1] } },
        { type: 'scatter', mode: 'lines', name: 'F1', uid: 'f1', x: xs, y: curve.map((c) => c.f1), line: { color: t.palette[2], width: 2.5 } },
      ];
      const hi = Math.max(...v.histograms.edges, ...xs);
      this.range.max = String(hi);
      const lay: Record<string, unknown> = { ...baseLayout(t, 'Precision / recall / F1 vs threshold (drag the solid line)', 'distance threshold', ''), shapes: this.shapes() };
      (lay.yaxis as Record<string, unknown>).range = [0, 1.02];
      work.push(Plotly.react(this.thresholdDiv, traces, lay, { ...PLOT_CONFIG, edits: { shapePosition: true } }).then(() => this.bind()));
      const h = v.histograms;
      const step = (counts: number[], total: number) => {
        const y = counts.map((c) => c / Math.max(1, total)); // share of pairs per bin
        return { x: h.edges, y: [...y, y.at(-1) ?? 0] };
      };
      const pos = step(h.positive, v.positives), neg = step(h.negative, v.negatives);
      work.push(Plotly.react(this.histDiv, [
        { type: 'scatter', mode: 'lines', name: `positive pairs (${v.positives})`, uid: 'hist-pos', ...pos, line: { shape: 'hv', color: t.palette[2] }, fill: 'tozeroy', opacity: 0.6 },
        { type: 'scatter', mode: 'lines', name: `negative pairs (${v.negatives})`, uid: 'hist-neg', ...neg, line: { shape: 'hv', color: t.palette[3] }, fill: 'tozeroy', opacity: 0.6 },
      ], { ...baseLayout(t, 'Pair distances', 'distance', 'share of pairs'), shapes: this.shapes() }, PLOT_CONFIG));
    }
    this.rendered = Promise.all(work).then(() => this.updateMarker());
    const names = ev.classNames ?? [];
    this.perClass.replaceChildren(el('table', { class: 'per-class' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'class'), el('th', { scope: 'col' }, 'queries'), el('th', { scope: 'col' }, 'recall@1'), el('th', { scope: 'col' }, 'MAP@R'))),
      el('tbody', {}, ...[...r.perClass].sort((a, b) => a.precisionAt1 - b.precisionAt1).map((c) => el('tr', {},
        el('th', { scope: 'row' }, c.name ?? names[c.label] ?? String(c.label)), el('td', {}, String(c.count)),
        el('td', {}, el('meter', { min: 0, max: 1, value: c.precisionAt1 }), ` ${fmt(c.precisionAt1, 3)}`), el('td', {}, fmt(c.mapAtR, 3)))))));
  }

  private bind(): void {
    if (this.bound) return;
    this.bound = true;
    this.thresholdDiv.on('plotly_relayout', (e: Record<string, unknown>) => {
      // Dragging the editable shape reports shapes[i].x0 (and x1); the user line is the last shape.
      const i = this.shapes().length - 1;
      const x0 = e[`shapes[${i}].x0`];
      if (typeof x0 === 'number' && Math.abs(x0 - (this.threshold() ?? NaN)) > 1e-12) this.setUserThreshold(x0, true);
    });
  }

  /** For tests. */
  markerX(name: string): number | undefined {
    const s = (this.thresholdDiv.layout?.shapes as Array<{ name?: string; x0: number }> | undefined)?.find((x) => x.name === name);
    return s?.x0;
  }
}

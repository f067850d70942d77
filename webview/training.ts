// Live training: loss (raw + EMA) per step, validation P@1 / MAP@R per epoch, mean positive/negative distance and
// their gap, throughput, learning rate, ETA, warnings, Stop/Resume, overlay of several runs.
// Deltas are queued and flushed at most every FLUSH_MS (on an animation frame), all pending steps in one
// Plotly.extendTraces per chart, so a stream of steps costs a few redraws per second whatever its rate.
// The curves are SVG `scatter` lines, not scattergl: plotly simplifies SVG lines to what the pixels can show, and a
// WebGL canvas has to be re-rendered and (with software compositing, as in the benchmark) read back on every redraw,
// which cost seconds per append. Up to EXACT_MAX steps per run every step is drawn; beyond that each trace is a
// min/max envelope over BUCKETS buckets (spikes stay visible) computed from the full series, which is kept.
import type { EpochPoint, RunView, RunWarning, StepSeries } from '../src/protocol/webview';
import { appendSeries, emptySeries } from '../src/protocol/webview';
import { Plotly, type GraphDiv, type Trace } from './plotly';
import { ComparePicker, renderComparison } from './compare';
import { baseLayout, button, el, fmt, fmtDuration, PLOT_CONFIG, readTheme, statsTable, type HostApi } from './util';

interface RunState {
  view: RunView;
  visible: boolean;
  /** EMA state of the smoothed loss. */
  ema: number | null;
  /** Smoothed loss, index-aligned with view.steps. */
  smooth: number[];
}

const GAP_WARNINGS = new Set(['distance-gap-collapse', 'loss-at-margin']);
const WARNING_TITLES: Record<string, string> = { 'distance-gap-collapse': 'Distance gap collapse', 'loss-at-margin': 'Loss at the margin' };
/**
 * A trace's identity: `meta` is "<runId>:<series>" (what the tests and counts() use), `uid` the same made CSS-safe:
 * plotly builds selectors ('.cb' + uid) from the uids of traces it removes, and a colon there broke removeRun.
 */
const ids = (runId: string, series: string) => ({ uid: `run-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}-${series}`, meta: `${runId}:${series}` });

/** Minimum time between two chart updates while steps stream in. */
const FLUSH_MS = 250;
/** Steps per run drawn exactly; longer runs are drawn as a min/max envelope. */
export const EXACT_MAX = 20_000;
/** Buckets of the envelope (at most 2 points each, plus the last point). */
const BUCKETS = 2_000;

/** Min/max envelope of y over index buckets: per bucket its minimum and maximum in index order, and the last point. */
export function envelope(x: readonly number[], y: readonly number[], buckets = BUCKETS): { x: number[]; y: number[] } {
  const n = y.length;
  if (n <= 2 * buckets) return { x: x.slice(), y: y.slice() };
  const size = Math.ceil(n / buckets);
  const ox: number[] = [], oy: number[] = [];
  for (let i0 = 0; i0 < n; i0 += size) {
    const i1 = Math.min(n, i0 + size);
    let lo = i0, hi = i0;
    for (let i = i0 + 1; i < i1; i++) {
      const v = y[i];
      if (v < y[lo] || !(y[lo] === y[lo])) lo = i; // NaN never wins a comparison: skip it unless all are NaN
      if (v > y[hi] || !(y[hi] === y[hi])) hi = i;
    }
    const a = Math.min(lo, hi), b = Math.max(lo, hi);
    ox.push(x[a]); oy.push(y[a]);
    if (b !== a) { ox.push(x[b]); oy.push(y[b]); }
  }
  if (ox[ox.length - 1] !== x[n - 1]) { ox.push(x[n - 1]); oy.push(y[n - 1]); }
  return { x: ox, y: oy };
}

export class TrainingPanel {
  readonly root: HTMLElement;
  private runs = new Map<string, RunState>();
  private order: string[] = [];
  private pending = new Map<string, StepSeries>();
  private frame = 0;
  private timer: ReturnType<typeof setTimeout> | 0 = 0;
  private lastFlush = -Infinity;
  /** True when the charts show a decimated run: updates then redraw the envelopes instead of extending traces. */
  private decimated = false;
  /** Step events each decimated trace stands for (uid → count); exact traces have one point per event. */
  private represented = new Map<string, number>();
  private smoothing = 0.9;
  private readonly lossDiv: GraphDiv;
  private readonly valDiv: GraphDiv;
  private readonly distDiv: GraphDiv;
  private readonly runList: HTMLElement;
  private readonly stats: HTMLElement;
  private readonly warningBox: HTMLElement;
  private readonly smoothingInput: HTMLInputElement;
  /** The runs to compare with (from the host) and the comparison table. */
  readonly comparePicker: ComparePicker;
  private readonly compareBox: HTMLElement;
  /** Trace indices per run in each chart, rebuilt on every full render. */
  private traceIndex = new Map<string, { loss: [number, number]; dist: [number, number, number] }>();
  /** Number of flushes done (for tests and benchmarks). */
  flushes = 0;

  constructor(private readonly host: HostApi, onSmoothing: (s: number) => void) {
    this.lossDiv = el('div', { class: 'chart', id: 'chart-loss', role: 'img', 'aria-label': 'Loss per step' }) as GraphDiv;
    this.valDiv = el('div', { class: 'chart chart-small', id: 'chart-validation', role: 'img', 'aria-label': 'Validation metrics per epoch' }) as GraphDiv;
    this.distDiv = el('div', { class: 'chart', id: 'chart-distances', role: 'img', 'aria-label': 'Mean positive and negative distances' }) as GraphDiv;
    this.runList = el('div', { class: 'run-list', id: 'run-list' });
    this.stats = el('table', { class: 'stats-table', id: 'training-stats', 'aria-live': 'polite' });
    this.warningBox = el('div', { class: 'warnings', id: 'training-warnings', role: 'alert' });
    this.smoothingInput = el('input', { type: 'number', id: 'smoothing', min: 0, max: 0.999, step: 0.05, value: this.smoothing });
    this.smoothingInput.addEventListener('change', () => {
      const s = Number(this.smoothingInput.value);
      if (!(s >= 0 && s < 1)) return;
      this.setSmoothing(s);
      onSmoothing(s);
    });
    const controls = el('div', { class: 'controls' },
      el('label', { for: 'smoothing' }, 'Smoothing (EMA) '), this.smoothingInput,
      button('Save loss PNG', { 'data-chart': 'loss' }, () => void this.savePng('loss', this.lossDiv)),
      button('Save distances PNG', { 'data-chart': 'distances' }, () => void this.savePng('distances', this.distDiv)));
    this.comparePicker = new ComparePicker(host);
    this.compareBox = el('div', { class: 'compare', id: 'compare-box' });
    this.root = el('section', { class: 'panel', id: 'panel-training', 'aria-labelledby': 'h-training' },
      el('h2', { id: 'h-training' }, 'Training'), this.warningBox, this.runList, this.comparePicker.root, this.compareBox, this.stats, controls,
      el('div', { class: 'chart-grid' }, this.lossDiv, this.distDiv, this.valDiv));
  }

  private async savePng(chart: 'loss' | 'distances' | 'validation', gd: HTMLElement): Promise<void> {
    const dataUrl = await Plotly.toImage(gd, { format: 'png', width: 1000, height: 500 });
    this.host.postMessage({ type: 'savePng', chart, dataUrl });
  }

  /** `rerender` false: only remember it (the snapshot's setRuns computes the EMA and renders). */
  setSmoothing(s: number, rerender = true): void {
    this.smoothing = s;
    this.smoothingInput.value = String(s);
    if (!rerender) return;
    for (const r of this.runs.values()) this.recomputeSmooth(r);
    this.render();
  }

  private recomputeSmooth(r: RunState): void {
    r.ema = null;
    r.smooth = [];
    this.extendSmooth(r, r.view.steps.loss);
  }

  /** Incremental EMA: only the new losses are visited. */
  private extendSmooth(r: RunState, loss: number[]): number[] {
    const a = this.smoothing, b = 1 - a;
    const out: number[] = new Array(loss.length);
    let ema = r.ema;
    for (let i = 0; i < loss.length; i++) {
      const v = loss[i];
      ema = ema === null || !Number.isFinite(ema) ? v : a * ema + b * v;
      out[i] = ema;
      r.smooth.push(ema);
    }
    r.ema = ema;
    return out;
  }

  /** Replaces all runs (snapshot). */
  setRuns(runs: RunView[]): void {
    this.runs.clear();
    this.order = [];
    this.pending.clear();
    for (const v of runs) this.upsertRun(v, false);
    this.render();
  }

  upsertRun(v: RunView, render = true): void {
    const prev = this.runs.get(v.runId);
    const r: RunState = { view: v, visible: prev?.visible ?? true, ema: null, smooth: [] };
    this.extendSmooth(r, v.steps.loss);
    this.runs.set(v.runId, r);
    this.pending.delete(v.runId);
    if (!this.order.includes(v.runId)) this.order.push(v.runId);
    if (render) this.render();
  }

  removeRun(runId: string): void {
    this.runs.delete(runId);
    this.order = this.order.filter((id) => id !== runId);
    this.render();
  }

  setStatus(runId: string, status: RunView['status'], resumable: boolean): void {
    const r = this.runs.get(runId);
    if (!r) return;
    r.view.status = status;
    r.view.resumable = resumable;
    this.renderRunList();
    this.renderStats();
  }

  /** Queues new steps; they reach the charts on the next animation frame. */
  addSteps(runId: string, steps: StepSeries): void {
    if (!this.runs.has(runId)) return;
    const p = this.pending.get(runId);
    if (p) appendSeries(p, steps);
    else this.pending.set(runId, appendSeries(emptySeries(), steps));
    this.schedule();
  }

  /** One flush on the first animation frame at least FLUSH_MS after the previous flush. */
  private schedule(): void {
    if (this.timer || this.frame) return;
    const wait = Math.max(0, this.lastFlush + FLUSH_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = 0;
      this.frame = requestAnimationFrame(() => { this.frame = 0; void this.flush(); });
    }, wait);
  }

  addEpochs(runId: string, epochs: EpochPoint[]): void {
    const r = this.runs.get(runId);
    if (!r) return;
    for (const e of epochs) {
      const i = r.view.epochPoints.findIndex((p) => p.epoch === e.epoch);
      if (i >= 0) r.view.epochPoints[i] = e; else r.view.epochPoints.push(e);
    }
    void Plotly.react(this.valDiv, this.valTraces(), this.valLayout(), PLOT_CONFIG);
    this.renderStats();
    this.renderCompare();
  }

  addWarnings(runId: string, warnings: RunWarning[]): void {
    const r = this.runs.get(runId);
    if (!r) return;
    r.view.warnings.push(...warnings);
    this.renderWarnings();
  }

  /** Applies the queued steps: one extendTraces per chart. Resolves when plotly has drawn. */
  async flush(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = 0; }
    if (this.frame) { cancelAnimationFrame(this.frame); this.frame = 0; }
    if (this.pending.size === 0) return;
    this.lastFlush = performance.now();
    const lossX: number[][] = [], lossY: number[][] = [], lossIdx: number[] = [];
    const distX: number[][] = [], distY: number[][] = [], distIdx: number[] = [];
    let lastStats = false;
    for (const [runId, s] of this.pending) {
      const r = this.runs.get(runId);
      if (!r) continue;
      appendSeries(r.view.steps, s);
      const smooth = this.extendSmooth(r, s.loss);
      const idx = this.traceIndex.get(runId);
      if (!idx || !r.visible) continue;
      lossX.push(s.step, s.step); lossY.push(s.loss, smooth); lossIdx.push(...idx.loss);
      const gap = s.negDist.map((n, i) => n - s.posDist[i]);
      distX.push(s.step, s.step, s.step); distY.push(s.posDist, s.negDist, gap); distIdx.push(...idx.dist);
      lastStats = true;
    }
    this.pending.clear();
    if (lastStats && (this.decimated || this.visibleRuns().some((r) => r.view.steps.step.length > EXACT_MAX))) {
      // Envelopes are recomputed from the full series (O(steps), about a millisecond per 100,000) and redrawn.
      const { loss, dist } = this.curveTraces();
      const work = [Plotly.react(this.lossDiv, loss, this.lossDiv.layout ?? {}, PLOT_CONFIG), Plotly.react(this.distDiv, dist, this.distDiv.layout ?? {}, PLOT_CONFIG)];
      this.renderStats();
      await Promise.all(work);
      this.flushes++;
      return;
    }
    const work: Array<Promise<unknown>> = [];
    if (lossIdx.length) work.push(Plotly.extendTraces(this.lossDiv, { x: lossX, y: lossY }, lossIdx));
    if (distIdx.length) work.push(Plotly.extendTraces(this.distDiv, { x: distX, y: distY }, distIdx));
    if (lastStats) this.renderStats();
    await Promise.all(work);
    this.flushes++;
  }

  private visibleRuns(): RunState[] {
    return this.order.map((id) => this.runs.get(id)!).filter((r) => r && r.visible);
  }

  private color(i: number): string {
    const p = readTheme().palette;
    return p[i % p.length];
  }

  /** The loss and distance traces of the visible runs (exact, or envelopes for long runs) and the margin lines. */
  private curveTraces(): { loss: Trace[]; dist: Trace[]; shapes: Array<Record<string, unknown>> } {
    const t = readTheme();
    const loss: Trace[] = [];
    const dist: Trace[] = [];
    this.traceIndex.clear();
    this.represented.clear();
    this.decimated = false;
    const shapes: Array<Record<string, unknown>> = [];
    // The legend names each run once, as the title of its group; the series are named by what they are.
    const several = this.visibleRuns().length > 1;
    const margins = new Map<number, string[]>();
    this.order.forEach((id, i) => {
      const r = this.runs.get(id)!;
      if (!r.visible) return;
      const c = this.color(i);
      const group = { legendgroup: id, legendgrouptitle: { text: r.view.name } };
      // Distances: one run → a colour per series (positive, negative and gap told apart by colour, not dash alone);
      // several → the run's colour, the series by dash.
      const dc = several ? { pos: c, neg: c, gap: c } : { pos: t.palette[2], neg: t.palette[3], gap: t.muted };
      const s = r.view.steps;
      const n = s.step.length;
      const gap = s.negDist.map((v, k) => v - s.posDist[k]);
      const dec = n > EXACT_MAX;
      if (dec) this.decimated = true;
      const xy = (y: number[], uid: string) => {
        if (dec) { this.represented.set(uid, n); return envelope(s.step, y); }
        return { x: s.step.slice(), y: y === gap ? gap : y.slice() };
      };
      const env = dec ? ' (min/max envelope)' : '';
      this.traceIndex.set(id, { loss: [loss.length, loss.length + 1], dist: [dist.length, dist.length + 1, dist.length + 2] });
      loss.push(
        { type: 'scatter', mode: 'lines', ...ids(id, 'loss'), name: `loss${env}`, ...group, ...xy(s.loss, `${id}:loss`), line: { color: c, width: 1 }, opacity: 0.35 },
        { type: 'scatter', mode: 'lines', ...ids(id, 'smooth'), name: 'smoothed', ...group, ...xy(r.smooth, `${id}:smooth`), line: { color: c, width: 2 } },
      );
      dist.push(
        { type: 'scatter', mode: 'lines', ...ids(id, 'pos'), name: 'positive', ...group, ...xy(s.posDist, `${id}:pos`), line: { color: dc.pos, width: 1.5 } },
        { type: 'scatter', mode: 'lines', ...ids(id, 'neg'), name: 'negative', ...group, ...xy(s.negDist, `${id}:neg`), line: { color: dc.neg, width: 1.5, dash: 'dash' } },
        { type: 'scatter', mode: 'lines', ...ids(id, 'gap'), name: 'gap', ...group, ...xy(gap, `${id}:gap`), line: { color: dc.gap, width: 1, dash: 'dot' } },
      );
      if (r.view.margin !== undefined) margins.set(r.view.margin, [...(margins.get(r.view.margin) ?? []), r.view.name]);
    });
    // One labelled line per distinct margin (runs that share a margin share the line).
    for (const [m, names] of margins) {
      const who = several && margins.size > 1 ? ` (${names.join(', ')})` : '';
      shapes.push({
        type: 'line', name: `margin:${m}`, xref: 'paper', x0: 0, x1: 1, y0: m, y1: m, line: { color: t.muted, width: 1, dash: 'dot' },
        // Below the line, at its right end: inside the plot area even when the margin is the top of the y range.
        label: { text: `margin ${fmt(m)}${who}`, textposition: 'end', yanchor: 'top', font: { color: t.muted, size: 10 } },
      });
    }
    return { loss, dist, shapes };
  }

  render(): void {
    const t = readTheme();
    const { loss, dist, shapes } = this.curveTraces();
    void Plotly.react(this.lossDiv, loss, { ...baseLayout(t, 'Loss per step', 'step', 'loss'), shapes }, PLOT_CONFIG);
    void Plotly.react(this.distDiv, dist, { ...baseLayout(t, 'Mean distances (positive, negative, gap)', 'step', 'distance'),
      shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, y0: 0, y1: 0, line: { color: t.muted, width: 1 } }] }, PLOT_CONFIG);
    void Plotly.react(this.valDiv, this.valTraces(), this.valLayout(), PLOT_CONFIG);
    this.renderRunList();
    this.renderStats();
    this.renderWarnings();
  }

  private valLayout(): Record<string, unknown> {
    const l = baseLayout(readTheme(), 'Validation per epoch', 'epoch', 'metric');
    (l.yaxis as Record<string, unknown>).range = [0, 1.02];
    Object.assign(l.xaxis as Record<string, unknown>, { tick0: 1, dtick: 1, tickformat: 'd' }); // whole epochs
    return l;
  }

  private valTraces(): Trace[] {
    const out: Trace[] = [];
    this.order.forEach((id, i) => {
      const r = this.runs.get(id)!;
      if (!r.visible) return;
      const pts = r.view.epochPoints.filter((p) => p.precisionAt1 !== undefined).sort((a, b) => a.epoch - b.epoch);
      // Epochs are 0-based in the events; a person reads them from 1 (as the CLI, the status bar and the summary).
      const ex = pts.map((p) => p.epoch + 1);
      const c = this.color(i);
      const group = { legendgroup: id, legendgrouptitle: { text: r.view.name } };
      out.push(
        { type: 'scatter', mode: 'lines+markers', ...ids(id, 'p1'), name: 'P@1', ...group, x: ex, y: pts.map((p) => p.precisionAt1), line: { color: c } },
        { type: 'scatter', mode: 'lines+markers', ...ids(id, 'map'), name: 'MAP@R', ...group, x: ex.slice(), y: pts.map((p) => p.mapAtR), line: { color: c, dash: 'dash' }, marker: { symbol: 'square' } },
      );
      // The validation before the first step (epoch −1, drawn at 0): a level line across the run — what training must beat.
      const base = pts.find((p) => p.epoch === -1 && p.mapAtR !== undefined);
      if (base) {
        const last = Math.max(1, r.view.epochs, ...ex);
        out.push({ type: 'scatter', mode: 'lines', ...ids(id, 'baseline'), name: 'MAP@R before training', ...group, x: [0, last], y: [base.mapAtR, base.mapAtR], line: { color: c, dash: 'dot', width: 1 }, hoverinfo: 'y+name' });
      }
    });
    return out;
  }

  private renderRunList(): void {
    const rows = this.order.map((id, i) => {
      const r = this.runs.get(id)!;
      const v = r.view;
      const show = el('input', { type: 'checkbox', id: `show-${i}`, checked: r.visible, 'data-run': id });
      show.addEventListener('change', () => { r.visible = show.checked; this.render(); });
      const stop = button('Stop', { 'data-action': 'stop', 'data-run': id, disabled: v.status !== 'running', 'aria-label': `Stop ${v.name}` },
        () => this.host.postMessage({ type: 'stop', runId: id }));
      const resume = button('Resume', { 'data-action': 'resume', 'data-run': id, disabled: !(v.resumable && v.status !== 'running'), 'aria-label': `Resume ${v.name}` },
        () => this.host.postMessage({ type: 'resume', runId: id }));
      const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
      swatch.style.background = this.color(i); // CSSOM, which the CSP allows (a style="" attribute it would not)
      return el('li', { class: `run run-${v.status}` }, show, el('label', { for: `show-${i}` }, swatch, ` ${v.name} `),
        el('span', { class: 'status', text: v.status }), ` ${v.lossType} `, stop, resume);
    });
    this.runList.replaceChildren(rows.length ? el('ul', { 'aria-label': 'Runs (tick to overlay)' }, ...rows) : el('p', { class: 'muted' }, 'No training runs yet.'));
    this.renderCompare();
  }

  /** The comparison table of the runs shown (two or more). */
  private renderCompare(): void {
    renderComparison(this.compareBox, this.order.map((id, i) => ({ r: this.runs.get(id)!, i })).filter(({ r }) => r && r.visible).map(({ r, i }) => ({ view: r.view, color: this.color(i) })));
  }

  private renderStats(): void {
    // The stats follow the most recent run that is visible (the running one when there is one).
    const vis = this.visibleRuns();
    const r = vis.find((x) => x.view.status === 'running') ?? vis.at(-1);
    if (!r) { this.stats.replaceChildren(); return; }
    const s = r.view.steps;
    const n = s.step.length;
    const total = r.view.epochs * r.view.stepsPerEpoch;
    const last = n - 1;
    let eta = NaN;
    if (n >= 2 && r.view.status === 'running') {
      const from = Math.max(0, n - 50);
      const secPerStep = (s.time[last] - s.time[from]) / 1000 / Math.max(1, s.step[last] - s.step[from]);
      eta = (total - (s.step[last] + 1)) * secPerStep;
    }
    const lastVal = [...r.view.epochPoints].reverse().find((p) => p.mapAtR !== undefined);
    // A real table (one header row, one value row): each value sits under its name whatever the panel's width.
    statsTable(this.stats, [
      ['Run', r.view.name, 'stat-run'],
      ['Step', n ? `${s.step[last] + 1} / ${total}` : `0 / ${total}`, 'stat-step'],
      ['Images/s', n ? fmt(s.imagesPerSec[last], 1) : '–', 'stat-ips'],
      ['Learning rate', n ? fmt(s.learningRate[last], 6) : '–', 'stat-lr'],
      ['ETA', r.view.status === 'running' ? fmtDuration(eta) : r.view.status, 'stat-eta'],
      ['Val MAP@R', fmt(lastVal?.mapAtR), 'stat-map'],
    ], 'columns');
  }

  private renderWarnings(): void {
    const items: HTMLElement[] = [];
    for (const id of this.order) {
      const r = this.runs.get(id)!;
      const seen = new Set<string>();
      for (const w of [...r.view.warnings].reverse()) { // newest first, one per code
        if (seen.has(w.code)) continue;
        seen.add(w.code);
        if (w.cleared) { // the condition is over: no banner, a quiet note of when it ended
          items.push(el('div', { class: 'warning-cleared muted', 'data-code': w.code, role: 'status' },
            `✓ ${WARNING_TITLES[w.code] ?? w.code} over — ${r.view.name}${w.step !== undefined ? ` (step ${w.step + 1})` : ''}: ${w.message}`));
          continue;
        }
        const strong = GAP_WARNINGS.has(w.code);
        items.push(el('div', { class: `warning ${strong ? 'warning-strong' : ''}`, 'data-code': w.code },
          el('strong', {}, w.code === 'distance-gap-collapse' ? '⚠ Distance gap collapsing' : w.code === 'loss-at-margin' ? '⚠ Loss stuck at the margin' : `⚠ ${w.code}`),
          ` ${r.view.name}${w.step !== undefined ? ` (step ${w.step + 1})` : ''}: ${w.message}`));
      }
    }
    this.warningBox.replaceChildren(...items);
  }

  /** For tests: point counts per trace uid. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    // Exact traces: their drawn points. Envelopes (runs over EXACT_MAX steps): the step events they stand for.
    for (const gd of [this.lossDiv, this.distDiv, this.valDiv]) for (const t of gd.data ?? []) out[String(t.meta)] = this.represented.get(String(t.meta)) ?? (t.x as unknown[]).length;
    return out;
  }

  relayoutTheme(): void { this.render(); }
}

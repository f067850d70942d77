// Dashboard webview entry. The host owns the state: we post `ready`, receive one `snapshot`, then deltas.
// Settings (k, threshold, smoothing, colouring) are mirrored in getState/setState so a re-created webview shows
// them before the snapshot arrives; nothing relies on retainContextWhenHidden.
import './styles.css';
import type { DashboardSettings, HostToWebview, NeighborsView, TableChoice } from '../src/protocol/webview';
import { DEFAULT_SETTINGS, isHostToWebview, WEBVIEW_PROTOCOL_VERSION } from '../src/protocol/webview';
import { EvaluationPanel } from './evaluation';
import { ClassificationPanel } from './classification';
import { ExplorerPanel } from './explorer';
import { GalleryPanel } from './gallery';
import { Plotly } from './plotly';
import { TrainingPanel } from './training';
import { el, hostApi } from './util';

const host = hostApi();
// `host` (the run folder and table the panel shows) comes in the snapshot and is kept in the saved state, so the
// extension's panel serializer can reopen the same run after a window reload.
const saved = host.getState() as { settings?: Partial<DashboardSettings>; host?: unknown } | undefined;
let settings: DashboardSettings = { ...DEFAULT_SETTINGS, ...(saved?.settings ?? {}) };
let savedHost: unknown = saved?.host;
const persist = () => host.setState({ settings, host: savedHost });

const training = new TrainingPanel(host, (smoothing) => { settings = { ...settings, smoothing }; persist(); host.postMessage({ type: 'setSmoothing', smoothing }); });
const gallery = new GalleryPanel(host);
const explorer = new ExplorerPanel(host, {
  onSelection: (rows) => { gallery.setSelection(rows); host.postMessage({ type: 'selection', rows: rows ?? [] }); },
  onColorBy: (colorBy, clusterK) => { settings = { ...settings, colorBy, clusterK }; persist(); },
  onMethod: (projection) => { settings = { ...settings, projection }; persist(); },
});
const evaluation = new EvaluationPanel(host, (t) => { settings = { ...settings, threshold: t }; persist(); gallery.setThreshold(t); });

const classification = new ClassificationPanel();
const tabs: Array<[string, HTMLElement]> = [['Training', training.root], ['Explorer', explorer.root], ['Neighbours', gallery.root], ['Evaluation', evaluation.root], ['Classification', classification.root]];
const status = el('p', { class: 'status-line', id: 'status-line', role: 'status', 'aria-live': 'polite' });
const nav = el('nav', { class: 'toc', 'aria-label': 'Dashboard sections' }, ...tabs.map(([name, section]) => {
  const a = el('a', { href: `#${section.id}` }, name);
  a.addEventListener('click', (e) => { e.preventDefault(); section.scrollIntoView({ block: 'start' }); section.querySelector<HTMLElement>('h2')?.focus(); });
  return a;
}));
for (const [, section] of tabs) section.querySelector('h2')?.setAttribute('tabindex', '-1');
// The table picker: the workspace's embedding tables, newest first (the host lists them and follows new ones).
const tablePicker = el('select', { id: 'table-picker', disabled: true });
let tableChoices: TableChoice[] = [];
let currentTable: string | null = null;
tablePicker.addEventListener('change', () => { if (tablePicker.value) host.postMessage({ type: 'selectTable', file: tablePicker.value }); });
function renderTablePicker(): void {
  const opts = tableChoices.map((t) => el('option', { value: t.file, title: t.file }, `${t.label} — ${new Date(t.mtimeMs).toLocaleString()}`));
  if (currentTable && !tableChoices.some((t) => t.file === currentTable)) opts.unshift(el('option', { value: currentTable }, currentTable));
  if (!opts.length) opts.push(el('option', { value: '' }, 'no embedding table in the workspace'));
  tablePicker.replaceChildren(...opts);
  tablePicker.value = currentTable ?? '';
  tablePicker.disabled = tableChoices.length === 0;
}
const tableBar = el('div', { class: 'controls table-bar' }, el('label', { for: 'table-picker' }, 'Embedding table '), tablePicker);
const app = document.getElementById('app') ?? document.body.appendChild(el('main', { id: 'app' }));
app.replaceChildren(el('h1', {}, 'Embedding Lab'), nav, tableBar, status, ...tabs.map(([, s]) => s));
app.removeAttribute('aria-busy');

function applySettings(s: Partial<DashboardSettings>): void {
  settings = { ...settings, ...s };
  persist();
  if (s.smoothing !== undefined) training.setSmoothing(settings.smoothing);
  if (s.k !== undefined) gallery.setK(settings.k);
  if (s.colorBy !== undefined || s.clusterK !== undefined) explorer.setColorBy(settings.colorBy, settings.clusterK);
  if (s.projection !== undefined) explorer.setMethod(settings.projection);
  if (s.threshold !== undefined) { evaluation.setUserThreshold(settings.threshold); gallery.setThreshold(evaluation.threshold()); }
}

function setNeighbors(nb: NeighborsView | null): void {
  gallery.setNeighbors(nb);
  explorer.setQuery(nb && nb.query.kind === 'row' ? nb.query.row : null);
}

let snapshots = 0;
let messages = 0;
function handle(m: HostToWebview): void {
  messages++;
  switch (m.type) {
    case 'snapshot':
      snapshots++;
      if (m.version !== WEBVIEW_PROTOCOL_VERSION) status.textContent = `Protocol version ${m.version} (webview ${WEBVIEW_PROTOCOL_VERSION}): update the extension.`;
      settings = { ...settings, ...m.settings };
      if ((m as { host?: unknown }).host !== undefined) savedHost = (m as { host?: unknown }).host;
      persist();
      training.setSmoothing(settings.smoothing, false); // setRuns computes the EMA and renders once
      training.setRuns(m.runs);
      explorer.setColorBy(settings.colorBy, settings.clusterK);
      explorer.setAll(m.table, m.thumbnails, m.clusters, m.projection); // one render, not three
      explorer.setMethod(settings.projection); // the host computes it when the snapshot has another one
      gallery.setK(settings.k);
      gallery.setTable(m.table, m.thumbnails);
      currentTable = m.table?.file ?? null;
      renderTablePicker();
      evaluation.setUserThreshold(settings.threshold);
      evaluation.setEval(m.eval);
      gallery.setThreshold(evaluation.threshold());
      setNeighbors(m.neighbors);
      classification.set(m.classification ?? null);
      break;
    case 'steps': training.addSteps(m.runId, m.steps); break;
    case 'epochs': training.addEpochs(m.runId, m.epochs); break;
    case 'warnings': training.addWarnings(m.runId, m.warnings); break;
    case 'run': training.upsertRun(m.run); break;
    case 'runStatus': training.setStatus(m.runId, m.status, m.resumable); break;
    case 'removeRun': training.removeRun(m.runId); break;
    case 'table': explorer.setTable(m.table, m.thumbnails); gallery.setTable(m.table, m.thumbnails); currentTable = m.table?.file ?? null; renderTablePicker(); break;
    case 'tables': tableChoices = m.tables; currentTable = m.current ?? currentTable; renderTablePicker(); break;
    case 'runChoices': training.comparePicker.set(m.runs, m.compared); break;
    case 'projection': explorer.setProjection(m.projection); break;
    case 'projectionProgress': explorer.setProgress(m.method, m.done, m.total); break;
    case 'clusters': explorer.setClusters(m.clusters); break;
    case 'neighbors': setNeighbors(m.neighbors); break;
    case 'eval': evaluation.setEval(m.eval); gallery.setThreshold(evaluation.threshold()); break;
    case 'classification': classification.set(m.classification); classification.root.scrollIntoView({ block: 'start' }); break;
    case 'settings': applySettings(m.settings); break;
    case 'saved': status.textContent = `Saved ${m.what} to ${m.path}`; break;
    case 'error':
      status.textContent = `Error${m.context ? ` (${m.context})` : ''}: ${m.message}`;
      if (m.context === 'projection' || m.context === 'requestProjection') explorer.projectionFailed();
      break;
    default: {
      const never: never = m;
      void never;
    }
  }
}

window.addEventListener('message', (e: MessageEvent) => {
  if (!isHostToWebview(e.data)) return;
  try { handle(e.data); } catch (err) {
    console.error(err);
    host.postMessage({ type: 'webviewError', message: String((err as Error)?.stack ?? err) });
  }
});
window.addEventListener('error', (e) => host.postMessage({ type: 'webviewError', message: `${e.message} (${e.filename}:${e.lineno})` }));

// Theme changes: VS Code swaps the body's vscode-light / vscode-dark / vscode-high-contrast class.
new MutationObserver(() => { training.relayoutTheme(); explorer.render(); evaluation.render(); })
  .observe(document.body, { attributes: true, attributeFilter: ['class'] });

/** Hooks for the browser tests and the benchmark (read-only views of what is drawn). */
const api = {
  plotlyVersion: Plotly.version,
  stats: () => ({ snapshots, messages, flushes: training.flushes }),
  flush: () => training.flush(),
  rendered: () => Promise.all([explorer.rendered, evaluation.rendered]),
  trainingCounts: () => training.counts(),
  projectionPoints: () => explorer.pointCount(),
  projectionMethods: () => explorer.methods(),
  markerX: (name: string) => evaluation.markerX(name),
  threshold: () => evaluation.threshold(),
};
(window as unknown as { __embedlab: typeof api }).__embedlab = api;

host.postMessage({ type: 'ready', version: WEBVIEW_PROTOCOL_VERSION });

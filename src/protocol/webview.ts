// Host ⇄ dashboard-webview messages. The host owns the state: the webview posts `ready`, the host answers with one
// `snapshot`, then sends deltas (`steps`, `epochs`, `warnings`, …). Every message is a discriminated union member
// on `type`; both sides switch on it exhaustively. Pure types and tiny helpers: no DOM, no vscode, no node.
// Series travel column-wise (arrays of numbers), which JSON-serialises compactly and maps straight onto plotly.

import type { LossType, RunStatus, StepEvent, WarningEvent } from './events';

export const WEBVIEW_PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------- shared payloads

/** Step series of one run, column-wise: all arrays have the same length. `time` is ms since the epoch. */
export interface StepSeries {
  step: number[];
  time: number[];
  loss: number[];
  posDist: number[];
  negDist: number[];
  imagesPerSec: number[];
  learningRate: number[];
}

export type StepColumn = keyof StepSeries;
export const STEP_COLUMNS: readonly StepColumn[] = ['step', 'time', 'loss', 'posDist', 'negDist', 'imagesPerSec', 'learningRate'];

/** One finished epoch; validation metrics are absent when the run has no validation folder. */
export interface EpochPoint {
  /** 0-based; −1 is the validation before the first step (the baseline event), drawn at 0 "before training". */
  epoch: number;
  step: number;
  trainLoss: number;
  precisionAt1?: number;
  mapAtR?: number;
}

export type WarningCode = WarningEvent['code'];

export interface RunWarning {
  code: WarningCode;
  message: string;
  /** Global step at which the worker raised it, when known. */
  step?: number;
  time: string;
  /** The condition is over (the worker cleared it): the banner of `code` comes down. */
  cleared?: boolean;
}

/** A config value as the comparison table shows it (config.json flattened to dotted keys). */
export type ConfigValue = string | number | boolean | null;

export interface RunView {
  runId: string;
  /** Display name (the run folder's name). */
  name: string;
  status: RunStatus;
  lossType: LossType;
  /** The loss margin (for the "loss sits at the margin" guide line), when the config has one. */
  margin?: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Whether the host can resume it (a stopped or failed run with a last checkpoint). */
  resumable: boolean;
  steps: StepSeries;
  epochPoints: EpochPoint[];
  warnings: RunWarning[];
  /** The run's config.json flattened ("loss.margin": 0.2, "data.imageSize": "[64,64]"), for the comparison table. */
  config?: Record<string, ConfigValue>;
  /** The run folder (the comparison's picker names runs by it). */
  runDir?: string;
  /** True for the dashboard's own run; false for a run overlaid to compare with it. */
  primary?: boolean;
}

/** An embedding table of the workspace, for the dashboard's table picker. */
export interface TableChoice {
  file: string;
  /** Display name: the path relative to the workspace (or the run folder), else the file name. */
  label: string;
  mtimeMs: number;
  /** The run whose model made it, when known (its folder's name). */
  run?: string;
}

/** A run of the workspace the dashboard can overlay to compare. */
export interface RunChoice {
  runDir: string;
  name: string;
  status?: RunStatus;
}

/** The embedding table the explorer and gallery work on (no vectors: the webview never needs them). */
export interface TableView {
  /** Path of the table file (display only). */
  file: string;
  rows: number;
  dim: number;
  distance: string;
  /** Row i's image path, relative to the image root, as stored in the table. */
  paths: string[];
  /** Row i's label, '' when unlabelled. */
  labels: string[];
}

/** Where thumbnails come from: `base` + '/' + the row's encoded relative path (see thumbnailUri). */
export interface ThumbnailMap {
  /** A webview URI of the image root (asWebviewUri in VS Code; a served URL in the harness); null: no thumbnails. */
  base: string | null;
  /** Absolute overrides by path (e.g. an image the user picked from outside the table). */
  extra?: Record<string, string>;
}

export type ProjectionMethod = 'pca' | 'umap' | 'tsne';

export interface ProjectionView {
  method: ProjectionMethod;
  /** The seed of t-SNE and UMAP (absent for PCA, which needs none). */
  seed?: number;
  /** The method's parameters (t-SNE: perplexity, iterations, theta, distance; UMAP: nNeighbors, minDist, spread, epochs, distance). */
  params?: Record<string, number | string>;
  /** One coordinate per table row, in row order. */
  x: number[];
  y: number[];
  /** Share of the variance each axis explains (PCA only). */
  explained?: [number, number];
  /** True when the host read it from the cache beside the table. */
  cached?: boolean;
}

export interface ClustersView {
  k: number;
  seed: number;
  /** One cluster index per row. */
  assignments: number[];
}

/** The query of a neighbour search: a row of the table or an image file from outside it. */
export type QueryRef =
  | { kind: 'row'; row: number; path: string; label: string }
  | { kind: 'image'; path: string; label?: string; uri?: string };

export interface NeighborView {
  rank: number;
  /** Row in the table (present when the gallery is the table). */
  row?: number;
  path: string;
  label: string;
  distance: number;
}

export interface NeighborsView {
  query: QueryRef;
  k: number;
  distance: string;
  neighbors: NeighborView[];
}

export interface ThresholdPointView { threshold: number; precision: number; recall: number; f1: number }

/** The parts of `embedlab eval --json` (EvalReport + {table, rows, labels}) that the dashboard shows. */
export interface EvalView {
  table?: string;
  rows?: number;
  labels?: number;
  distance?: string;
  retrieval: {
    count: number;
    precisionAt1: number;
    recallAtK: Record<string, number>;
    rPrecision: number;
    mapAtR: number;
    perClass: Array<{ label: number; name?: string; count: number; precisionAt1: number; mapAtR: number }>;
  };
  clustering?: { nmi: number; k: number } | null;
  verification?: {
    positives: number;
    negatives: number;
    rocAuc: number;
    bestF1: { threshold: number; f1: number; precision: number; recall: number };
    atPrecision?: { target: number; threshold: number; precision: number; recall: number } | null;
    curve: ThresholdPointView[];
    histograms: { edges: number[]; positive: number[]; negative: number[] };
  } | null;
  /** Class index → label name, when the host knows it (eval's perClass carries indices). */
  classNames?: string[];
}

/** Classify Folder's result (`embedlab classify --json` with labelled queries): the confusion matrix and accuracy. */
export interface ClassificationView {
  /** The results table the CLI wrote. */
  table: string;
  queries: number;
  /** The reference's classes. */
  classes: string[];
  known: number;
  correct: number;
  accuracy: number;
  /** Queries answered `unknown` (open set), and the threshold that decided it (null: closed set). */
  unknown: number;
  threshold: number | null;
  thresholdSource: string;
  /** confusion[true][predicted] over the labelled queries. */
  confusion: Record<string, Record<string, number>>;
}

export interface DashboardSettings {
  k: number;
  /** The user's verification threshold; null: use the F1-optimal one. */
  threshold: number | null;
  /** EMA factor for the smoothed loss, in [0, 1). */
  smoothing: number;
  colorBy: 'label' | 'cluster';
  /** k of the k-means colouring; null: the number of labels in the table (the default). */
  clusterK: number | null;
  /** The explorer's projection (restored from the cache beside the table when the panel comes back). */
  projection: ProjectionMethod;
}

export const DEFAULT_SETTINGS: DashboardSettings = { k: 8, threshold: null, smoothing: 0.9, colorBy: 'label', clusterK: null, projection: 'pca' };

/** k-means' k for a table with no labels (with labels, the default k is their number). */
export const UNLABELLED_CLUSTER_K = 8;

/** The k the k-means colouring uses: the chosen one, else the number of distinct non-empty labels (at least 2). */
export function defaultClusterK(labels: readonly string[], chosen: number | null = null): number {
  if (chosen !== null) return chosen;
  const n = new Set(labels.filter((l) => l !== '')).size;
  return n >= 2 ? n : UNLABELLED_CLUSTER_K;
}

export const PROJECTION_METHODS: readonly ProjectionMethod[] = ['pca', 'umap', 'tsne'];

export const isProjectionMethod = (v: unknown): v is ProjectionMethod => v === 'pca' || v === 'umap' || v === 'tsne';

/** The valid fields of saved settings (a webview's state, a memento): anything else is dropped. */
export function sanitizeSettings(v: unknown): Partial<DashboardSettings> {
  if (typeof v !== 'object' || v === null) return {};
  const s = v as Record<string, unknown>;
  const out: Partial<DashboardSettings> = {};
  const posInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 1;
  if (posInt(s.k)) out.k = s.k;
  if (s.threshold === null || (typeof s.threshold === 'number' && Number.isFinite(s.threshold))) out.threshold = s.threshold as number | null;
  if (typeof s.smoothing === 'number' && s.smoothing >= 0 && s.smoothing < 1) out.smoothing = s.smoothing;
  if (s.colorBy === 'label' || s.colorBy === 'cluster') out.colorBy = s.colorBy;
  if (posInt(s.clusterK) || s.clusterK === null) out.clusterK = s.clusterK;
  if (isProjectionMethod(s.projection)) out.projection = s.projection;
  return out;
}

// ---------------------------------------------------------------------------------------------- host → webview

export interface SnapshotMessage {
  type: 'snapshot';
  version: number;
  runs: RunView[];
  table: TableView | null;
  projection: ProjectionView | null;
  clusters: ClustersView | null;
  eval: EvalView | null;
  neighbors: NeighborsView | null;
  thumbnails: ThumbnailMap;
  settings: DashboardSettings;
  /** The last Classify Folder result shown in this dashboard, if any. */
  classification?: ClassificationView | null;
}

/** New steps of one run (batched by the host; appended in order). */
export interface StepsMessage { type: 'steps'; runId: string; steps: StepSeries }
export interface EpochsMessage { type: 'epochs'; runId: string; epochs: EpochPoint[] }
export interface WarningsMessage { type: 'warnings'; runId: string; warnings: RunWarning[] }
/** A run appeared (overlay) or its status changed; `steps`/`epochPoints` are the full series when present. */
export interface RunMessage { type: 'run'; run: RunView }
export interface RunStatusMessage { type: 'runStatus'; runId: string; status: RunStatus; resumable: boolean }
export interface RemoveRunMessage { type: 'removeRun'; runId: string }
export interface TableMessage { type: 'table'; table: TableView | null; thumbnails: ThumbnailMap }
export interface ProjectionMessage { type: 'projection'; projection: ProjectionView }
export interface ProjectionProgressMessage { type: 'projectionProgress'; method: ProjectionMethod; done: number; total: number }
export interface ClustersMessage { type: 'clusters'; clusters: ClustersView }
export interface NeighborsMessage { type: 'neighbors'; neighbors: NeighborsView }
export interface EvalMessage { type: 'eval'; eval: EvalView | null }
export interface ClassificationMessage { type: 'classification'; classification: ClassificationView }
export interface SettingsMessage { type: 'settings'; settings: Partial<DashboardSettings> }
/** The host's answer to exportCsv / savePng. */
export interface SavedMessage { type: 'saved'; what: string; path: string }
export interface HostErrorMessage { type: 'error'; message: string; context?: string }
/** The workspace's embedding tables, newest first, and the one shown (the table picker). */
export interface TablesMessage { type: 'tables'; tables: TableChoice[]; current: string | null }
/** The runs the dashboard can compare its run with, and those it overlays now. */
export interface RunChoicesMessage { type: 'runChoices'; runs: RunChoice[]; compared: string[] }

export type HostToWebview =
  | SnapshotMessage
  | StepsMessage
  | EpochsMessage
  | WarningsMessage
  | RunMessage
  | RunStatusMessage
  | RemoveRunMessage
  | TableMessage
  | ProjectionMessage
  | ProjectionProgressMessage
  | ClustersMessage
  | NeighborsMessage
  | EvalMessage
  | ClassificationMessage
  | SettingsMessage
  | SavedMessage
  | HostErrorMessage
  | TablesMessage
  | RunChoicesMessage;

// ---------------------------------------------------------------------------------------------- webview → host

export type CsvExport = 'projection' | 'neighbors';
export type ChartId = 'loss' | 'validation' | 'distances' | 'projection' | 'histogram' | 'threshold' | 'perClass';

export type WebviewToHost =
  | { type: 'ready'; version: number }
  | { type: 'stop'; runId: string }
  | { type: 'resume'; runId: string }
  /** A click in the plot, Enter on a gallery item: the table row becomes the query. */
  | { type: 'selectQuery'; row: number }
  /** Ask the host to open a file picker and search with that image. */
  | { type: 'pickImage' }
  | { type: 'setK'; k: number }
  | { type: 'setThreshold'; threshold: number | null }
  | { type: 'setSmoothing'; smoothing: number }
  /** Show this projection (from the cache beside the table, else computed by the host's worker thread); the host picks the seed unless given. */
  | { type: 'requestProjection'; method: ProjectionMethod; seed?: number }
  | { type: 'requestClusters'; k: number }
  | { type: 'exportCsv'; what: CsvExport }
  /** A chart rendered to PNG by the webview (data: URL); the host asks where to save it. */
  | { type: 'savePng'; chart: ChartId; dataUrl: string }
  /** Lasso selection in the explorer (rows), for the host to remember; empty: cleared. */
  | { type: 'selection'; rows: number[] }
  /** An error inside the webview, for the host's log. */
  | { type: 'webviewError'; message: string }
  /** Show this table (one of the `tables` the host listed). */
  | { type: 'selectTable'; file: string }
  /** Overlay these runs (from `runChoices`) on the dashboard's own run; the rest are taken off. */
  | { type: 'compareRuns'; runDirs: string[] }
  /** "Use as the model's threshold": write this distance into the table's model's threshold.json. */
  | { type: 'saveModelThreshold'; threshold: number };

export type WebviewToHostType = WebviewToHost['type'];
export type HostToWebviewType = HostToWebview['type'];

const HOST_TYPES: ReadonlySet<string> = new Set<HostToWebviewType>([
  'snapshot', 'steps', 'epochs', 'warnings', 'run', 'runStatus', 'removeRun', 'table', 'projection', 'projectionProgress',
  'clusters', 'neighbors', 'eval', 'settings', 'saved', 'error', 'tables', 'runChoices', 'classification',
]);
const WEBVIEW_TYPES: ReadonlySet<string> = new Set<WebviewToHostType>([
  'ready', 'stop', 'resume', 'selectQuery', 'pickImage', 'setK', 'setThreshold', 'setSmoothing', 'requestProjection',
  'requestClusters', 'exportCsv', 'savePng', 'selection', 'webviewError', 'selectTable', 'compareRuns', 'saveModelThreshold',
]);

const typeOf = (v: unknown): string | undefined =>
  typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string' ? (v as { type: string }).type : undefined;

/** Shape check for messages arriving at the webview (a type tag the protocol knows). */
export function isHostToWebview(v: unknown): v is HostToWebview {
  const t = typeOf(v);
  return t !== undefined && HOST_TYPES.has(t);
}

/** Shape check for messages arriving at the host; also validates the few scalar fields the host acts on. */
export function isWebviewToHost(v: unknown): v is WebviewToHost {
  const t = typeOf(v);
  if (t === undefined || !WEBVIEW_TYPES.has(t)) return false;
  const m = v as Record<string, unknown>;
  switch (t) {
    case 'stop': case 'resume': return typeof m.runId === 'string';
    case 'selectQuery': return Number.isInteger(m.row) && (m.row as number) >= 0;
    case 'setK': case 'requestClusters': return Number.isInteger(m.k) && (m.k as number) >= 1;
    case 'setThreshold': return m.threshold === null || (typeof m.threshold === 'number' && Number.isFinite(m.threshold));
    case 'saveModelThreshold': return typeof m.threshold === 'number' && Number.isFinite(m.threshold) && m.threshold >= 0;
    case 'setSmoothing': return typeof m.smoothing === 'number' && m.smoothing >= 0 && m.smoothing < 1;
    case 'requestProjection': return isProjectionMethod(m.method) && (m.seed === undefined || (Number.isSafeInteger(m.seed) && (m.seed as number) >= 0));
    case 'exportCsv': return m.what === 'projection' || m.what === 'neighbors';
    case 'savePng': return typeof m.chart === 'string' && typeof m.dataUrl === 'string' && m.dataUrl.startsWith('data:image/png;base64,');
    case 'selection': return Array.isArray(m.rows);
    case 'selectTable': return typeof m.file === 'string' && m.file !== '';
    case 'compareRuns': return Array.isArray(m.runDirs) && m.runDirs.every((d) => typeof d === 'string');
    default: return true;
  }
}

// ---------------------------------------------------------------------------------------------- helpers

export function emptySeries(): StepSeries {
  return { step: [], time: [], loss: [], posDist: [], negDist: [], imagesPerSec: [], learningRate: [] };
}

/** Appends one worker step event to a series (in place). */
export function pushStep(s: StepSeries, e: Pick<StepEvent, 'step' | 'time' | 'loss' | 'posDist' | 'negDist' | 'imagesPerSec' | 'learningRate'>): void {
  s.step.push(e.step);
  s.time.push(Date.parse(e.time));
  s.loss.push(e.loss);
  s.posDist.push(e.posDist);
  s.negDist.push(e.negDist);
  s.imagesPerSec.push(e.imagesPerSec);
  s.learningRate.push(e.learningRate);
}

/** Appends `more` to `s` (in place) and returns `s`. */
export function appendSeries(s: StepSeries, more: StepSeries): StepSeries {
  for (const c of STEP_COLUMNS) for (const v of more[c]) s[c].push(v);
  return s;
}

export function seriesLength(s: StepSeries): number {
  return s.step.length;
}

/**
 * Batches step events for posting: `add` collects, `take` returns the collected series per run and resets.
 * The host calls `take` on a timer (e.g. every 100 ms) and posts one `steps` message per run.
 */
export class StepBatcher {
  private pending = new Map<string, StepSeries>();
  add(e: StepEvent): void {
    let s = this.pending.get(e.runId);
    if (!s) this.pending.set(e.runId, (s = emptySeries()));
    pushStep(s, e);
  }
  get size(): number {
    let n = 0;
    for (const s of this.pending.values()) n += s.step.length;
    return n;
  }
  take(): StepsMessage[] {
    const out: StepsMessage[] = [];
    for (const [runId, steps] of this.pending) out.push({ type: 'steps', runId, steps });
    this.pending.clear();
    return out;
  }
}

/**
 * The config keys whose values differ between runs (a key one run lacks counts as differing), sorted; `name` is
 * left out (it differs by design and the run's name is in the table already).
 */
export function configDifferences(configs: ReadonlyArray<Record<string, ConfigValue> | undefined>): string[] {
  const keys = new Set<string>();
  for (const c of configs) for (const k of Object.keys(c ?? {})) keys.add(k);
  const out: string[] = [];
  for (const k of keys) {
    if (k === 'name') continue;
    const vals = new Set(configs.map((c) => (c && k in c ? JSON.stringify(c[k]) : 'undefined')));
    if (vals.size > 1) out.push(k);
  }
  return out.sort();
}

/** The webview URI of a row's thumbnail: the override if any, else base + '/' + each path segment URI-encoded. */
export function thumbnailUri(map: ThumbnailMap, relPath: string): string | null {
  const extra = map.extra?.[relPath];
  if (extra) return extra;
  if (!map.base) return null;
  const enc = relPath.split(/[\\/]/).filter((p) => p !== '').map(encodeURIComponent).join('/');
  return map.base.replace(/\/+$/, '') + '/' + enc;
}

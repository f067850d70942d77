// The dashboard's host side without VS Code: a run folder → snapshot and deltas, the answers to the webview's
// messages, and the PCA projection computed in slices (never blocking the extension host for long). The panel
// (dashboard-panel.ts) supplies the VS Code parts through DashboardDeps: posting, dialogs, webview URIs, the CLI.
//
// The run folder is the single source of truth. events.jsonl is written by the engine before the event goes to the
// supervisor (engine/train.ts appends, then emits), so a live update is always "read the file from the last offset":
// supervisor events and the FileSystemWatcher only say *when* to read. No event is posted twice and none is lost,
// whether this window started the run, another window did, or the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic';
import type { DistanceName } from '../core/config-types';
import { knn } from '../core/knn';
import { kmeans } from '../core/metrics';
import { clusterAssignments, makeProjectionCache, projectionCachePath, projectionCacheValid, projectionCsv, neighborsCsv, pca2dFromCovariance, type Pca2d } from '../core/projection';
import { effectiveStatus, readRunInfo, runPaths } from '../core/run-folder';
import { readTable, type Table } from '../core/table';
import type { EpochEvent, LossType, RunStatus, WarningEvent, WorkerEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/events';
import {
  DEFAULT_SETTINGS,
  emptySeries,
  isWebviewToHost,
  pushStep,
  StepBatcher,
  WEBVIEW_PROTOCOL_VERSION,
  type ClustersView,
  type DashboardSettings,
  type EpochPoint,
  type EvalView,
  type HostToWebview,
  type NeighborsView,
  type ProjectionView,
  type RunView,
  type RunWarning,
  type SnapshotMessage,
  type TableView,
  type ThumbnailMap,
  type WebviewToHost,
} from '../protocol/webview';
import { readTableMeta as readTableSidecar, tablesOfRun } from './logic';

const DISTANCES: readonly DistanceName[] = ['euclidean', 'squared-euclidean', 'cosine'];

// ---------------------------------------------------------------------------------------------------------------
// Run folder → RunView

/** What the host knows of a run's config snapshot (config.json): loss, epochs and the dataset folders. */
export interface RunConfigInfo {
  lossType?: LossType;
  margin?: number;
  epochs?: number;
  train?: string;
  validation?: string;
}

export function readRunConfig(runDir: string): RunConfigInfo {
  try {
    const c = JSON.parse(fs.readFileSync(runPaths(runDir).config, 'utf8')) as {
      data?: { train?: unknown; validation?: unknown }; loss?: { type?: unknown; margin?: unknown }; training?: { epochs?: unknown };
    };
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    const abs = (v: unknown) => { const s = str(v); return s ? path.resolve(runDir, s) : undefined; };
    const lt = c.loss?.type;
    return {
      lossType: lt === 'triplet' || lt === 'contrastive' || lt === 'quartet' ? lt : undefined,
      margin: num(c.loss?.margin), epochs: num(c.training?.epochs), train: abs(c.data?.train), validation: abs(c.data?.validation),
    };
  } catch {
    return {};
  }
}

export const epochPoint = (e: EpochEvent): EpochPoint =>
  ({ epoch: e.epoch, step: e.step, trainLoss: e.trainLoss, precisionAt1: e.validation?.precisionAt1, mapAtR: e.validation?.mapAtR });

export const runWarning = (e: WarningEvent, step?: number): RunWarning => ({ code: e.code, message: e.message, time: e.time, step });

/**
 * A run's series, built by applying its events in file order. A resume appends a second `started` whose
 * `resumedFrom` says where training continues: steps and epochs at or after that point (done before the stop, then
 * redone from the checkpoint) are dropped, so the curves stay monotonic.
 */
export class RunSeries {
  runId: string;
  lossType: LossType;
  epochs: number;
  stepsPerEpoch = 0;
  steps = emptySeries();
  epochPoints: EpochPoint[] = [];
  warnings: RunWarning[] = [];
  /** Status from the events alone (running until done/error). */
  eventStatus: RunStatus = 'running';
  lastStep: number | undefined;
  started = 0;

  constructor(readonly name: string, readonly config: RunConfigInfo = {}) {
    this.runId = name;
    this.lossType = config.lossType ?? 'triplet';
    this.epochs = config.epochs ?? 0;
  }

  /** Applies one event; returns what changed, for the deltas. */
  apply(e: WorkerEvent): 'step' | 'epoch' | 'warning' | 'status' | 'restart' | undefined {
    switch (e.type) {
      case 'started': {
        this.started++;
        this.runId = e.runId || this.runId;
        this.lossType = e.lossType;
        this.epochs = e.epochs;
        this.stepsPerEpoch = e.stepsPerEpoch;
        this.eventStatus = 'running';
        if (e.resumedFrom) this.truncate(e.resumedFrom.step, e.resumedFrom.epoch);
        return this.started > 1 ? 'restart' : 'status';
      }
      case 'step':
        pushStep(this.steps, e);
        this.lastStep = e.step;
        return 'step';
      case 'epoch':
        this.epochPoints.push(epochPoint(e));
        return 'epoch';
      case 'warning':
        this.warnings.push(runWarning(e, this.lastStep));
        return 'warning';
      case 'done':
        this.eventStatus = e.status;
        return 'status';
      case 'error':
        this.eventStatus = 'failed';
        return 'status';
      default:
        return undefined;
    }
  }

  private truncate(step: number, epoch: number): void {
    let keep = this.steps.step.findIndex((s) => s >= step);
    if (keep < 0) keep = this.steps.step.length;
    for (const c of Object.keys(this.steps) as Array<keyof typeof this.steps>) this.steps[c].length = keep;
    this.epochPoints = this.epochPoints.filter((p) => p.epoch < epoch);
    this.lastStep = keep > 0 ? this.steps.step[keep - 1] : undefined;
  }

  view(status: RunStatus, resumable: boolean): RunView {
    const copy = emptySeries();
    for (const c of Object.keys(copy) as Array<keyof typeof copy>) copy[c] = this.steps[c].slice();
    return {
      runId: this.runId, name: this.name, status, lossType: this.lossType, margin: this.config.margin, epochs: this.epochs,
      stepsPerEpoch: this.stepsPerEpoch, resumable, steps: copy, epochPoints: this.epochPoints.slice(), warnings: this.warnings.slice(),
    };
  }
}

/**
 * Reads events.jsonl incrementally: `readAll` parses the whole file and remembers where its last complete line
 * ends; `readNew` parses what was appended since (a torn last line waits for its newline). A file that shrank
 * (rewritten, deleted) reports `reset`.
 */
export class EventTail {
  offset = 0;
  constructor(readonly file: string) {}

  readAll(): WorkerEvent[] {
    this.offset = 0;
    const r = this.readNew();
    return r === 'reset' ? [] : r;
  }

  readNew(): WorkerEvent[] | 'reset' {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return this.offset > 0 ? 'reset' : [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size < this.offset) return 'reset';
      if (size === this.offset) return [];
      const buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n <= 0) break;
        got += n;
      }
      const end = buf.lastIndexOf(0x0a, got - 1);
      if (end < 0) return [];
      const text = buf.subarray(0, end + 1).toString('utf8');
      this.offset += end + 1;
      return text.split('\n').map(parseEventLine).filter((e): e is WorkerEvent => e !== undefined);
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** Whether a run has a last checkpoint to resume from. */
export function hasLastCheckpoint(runDir: string): boolean {
  return fs.existsSync(runPaths(runDir).last);
}

/** A run's status: running when this window supervises it; else run.json (a dead pid → failed); else the events. */
export function runStatusOf(runDir: string, series: RunSeries, supervised: boolean): { status: RunStatus; resumable: boolean } {
  let status: RunStatus;
  if (supervised) status = 'running';
  else {
    const info = readRunInfo(runDir);
    status = info ? effectiveStatus(info) : series.eventStatus;
    // run.json can lag the events by a moment: a done/error event wins over "running".
    if (status === 'running' && series.eventStatus !== 'running') status = series.eventStatus;
  }
  return { status, resumable: (status === 'stopped' || status === 'failed') && hasLastCheckpoint(runDir) };
}

// ---------------------------------------------------------------------------------------------------------------
// Tables

export interface LoadedTable {
  file: string;
  table: Table;
  distance: DistanceName;
  /** The folder the table's paths are relative to (meta.folder), when it exists. */
  folder: string | null;
  /** Identity for the projection cache. */
  id: { rows: number; dim: number; size: number; mtimeMs: number };
  rowOf: Map<string, number>;
}

/** The table a dashboard shows: the one given, else the newest under `<run>/tables/`. */
export function defaultTable(runDir: string, given?: string): string | undefined {
  if (given) return path.resolve(given);
  return tablesOfRun(runDir)[0]?.file;
}

export async function loadTable(file: string): Promise<LoadedTable> {
  const st = fs.statSync(file);
  const table = await readTable(file);
  const d = table.meta?.distance;
  const folder = typeof table.meta?.folder === 'string' && table.meta.folder ? path.resolve(path.dirname(file), table.meta.folder) : null;
  const rowOf = new Map<string, number>();
  table.paths.forEach((p, i) => { if (!rowOf.has(p)) rowOf.set(p, i); });
  return {
    file, table, distance: DISTANCES.includes(d as DistanceName) ? (d as DistanceName) : 'euclidean',
    folder: folder && fs.existsSync(folder) ? folder : null,
    id: { rows: table.paths.length, dim: table.dim, size: st.size, mtimeMs: st.mtimeMs }, rowOf,
  };
}

export function tableView(t: LoadedTable): TableView {
  return { file: t.file, rows: t.table.paths.length, dim: t.table.dim, distance: t.distance, paths: t.table.paths, labels: t.table.labels };
}

/** Class names in eval's class-index order (first-seen order of the non-empty labels, as `embedlab eval` numbers them). */
export function classNames(labels: readonly string[]): string[] {
  return [...new Set(labels.filter((l) => l !== ''))];
}

/** `<table>.eval.json` when it is at least as new as the table; else undefined. */
export function readCachedEval(tableFile: string): Record<string, unknown> | undefined {
  const f = `${tableFile}.eval.json`;
  try {
    if (fs.statSync(f).mtimeMs + 1 < fs.statSync(tableFile).mtimeMs) return undefined;
    const v = JSON.parse(fs.readFileSync(f, 'utf8')) as unknown;
    return v && typeof v === 'object' && 'retrieval' in v ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function evalView(report: Record<string, unknown>, labels: readonly string[]): EvalView {
  return { ...(report as unknown as EvalView), classNames: classNames(labels) };
}

/** The neighbours of table row `row`: core knn over the whole table, as `embedlab knn --query <path-in-table>`. */
export function neighborsOfRow(t: LoadedTable, row: number, k: number): NeighborsView {
  const { table } = t;
  const n = table.paths.length;
  if (row < 0 || row >= n) throw new RangeError(`row ${row} is not in the table (${n} rows)`);
  const q = table.vectors.subarray(row * table.dim, (row + 1) * table.dim);
  const res = knn(q, 1, table.vectors, n, table.dim, Math.min(Math.max(1, k), n), t.distance);
  return {
    query: { kind: 'row', row, path: table.paths[row], label: table.labels[row] },
    k: res.k, distance: t.distance,
    neighbors: Array.from(res.indices, (idx, i) => ({ rank: i + 1, row: idx, path: table.paths[idx], label: table.labels[idx], distance: res.distances[i] })),
  };
}

export interface CliNeighbor { rank: number; path: string; label: string; distance: number }

/** `embedlab knn --json` output (for an image outside the table) as a NeighborsView; rows found by path. */
export function neighborsFromCli(
  image: string, neighbors: readonly CliNeighbor[], distance: string, rowOf: Map<string, number> | undefined, uri?: string,
): NeighborsView {
  return {
    query: { kind: 'image', path: image, ...(uri ? { uri } : {}) }, k: neighbors.length, distance,
    neighbors: neighbors.map((n) => ({ rank: n.rank, path: n.path, label: n.label ?? '', distance: n.distance, ...(rowOf?.has(n.path) ? { row: rowOf.get(n.path) } : {}) })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// PCA in slices

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * core pca2d, computed in slices of about `sliceMs` with a yield to the event loop between them, so a 50 k-row
 * table never blocks the extension host (a synchronous pca2d takes ~2 s for 50 k × 128 on a 2-core machine, and
 * grows with dim²). The arithmetic is pca2d's, operation for operation (the covariance accumulates the same rows
 * in the same order), so the result is bit-identical to pca2d's; the unit test checks that.
 */
export async function pca2dSliced(
  vectors: Float32Array, n: number, dim: number,
  o: { sliceMs?: number; onProgress?: (done: number, total: number) => void; signal?: { aborted: boolean } } = {},
): Promise<Pca2d> {
  if (!(dim >= 1)) throw new RangeError(`pca2d: bad dim ${dim}`);
  if (vectors.length < n * dim) throw new RangeError('covariance: vectors shorter than n × dim');
  const sliceMs = o.sliceMs ?? 30;
  // covariance(), in slices of rows (multiples of 4, as its unrolled loop takes them).
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const b = i * dim;
    for (let j = 0; j < dim; j++) mean[j] += vectors[b + j];
  }
  if (n > 0) for (let j = 0; j < dim; j++) mean[j] /= n;
  const cov = new Float64Array(dim * dim);
  const r0 = new Float64Array(dim), r1 = new Float64Array(dim), r2 = new Float64Array(dim), r3 = new Float64Array(dim);
  const center = (row: number, out: Float64Array) => {
    const b = row * dim;
    for (let j = 0; j < dim; j++) out[j] = vectors[b + j] - mean[j];
  };
  let i = 0;
  let t0 = performance.now();
  while (i + 4 <= n) {
    for (; i + 4 <= n; i += 4) {
      center(i, r0); center(i + 1, r1); center(i + 2, r2); center(i + 3, r3);
      for (let a = 0; a < dim; a++) {
        const a0 = r0[a], a1 = r1[a], a2 = r2[a], a3 = r3[a];
        const base = a * dim;
        for (let c = a; c < dim; c++) cov[base + c] += a0 * r0[c] + a1 * r1[c] + a2 * r2[c] + a3 * r3[c];
      }
      if ((i & 63) === 60 && performance.now() - t0 > sliceMs) { i += 4; break; }
    }
    if (i + 4 <= n) {
      o.onProgress?.(i, n);
      await yieldToLoop();
      if (o.signal?.aborted) throw new Error('cancelled');
      t0 = performance.now();
    }
  }
  for (; i < n; i++) {
    center(i, r0);
    for (let a = 0; a < dim; a++) {
      const a0 = r0[a];
      if (a0 === 0) continue;
      const base = a * dim;
      for (let c = a; c < dim; c++) cov[base + c] += a0 * r0[c];
    }
  }
  const denom = n > 1 ? n - 1 : 1;
  for (let a = 0; a < dim; a++) {
    for (let c = a; c < dim; c++) {
      const v = cov[a * dim + c] / denom;
      cov[a * dim + c] = v;
      cov[c * dim + a] = v;
    }
  }
  o.onProgress?.(n, n);
  return pca2dFromCovariance(vectors, n, dim, mean, cov);
}

/** Rows k-means sees at most (k·dim·sample·100 iterations ≈ 1e8 multiply-adds, ~0.5 s); the rest are assigned. */
export function kmeansSampleSize(n: number, k: number, dim: number): number {
  return Math.min(n, Math.max(4 * k, 256, Math.floor(1e8 / (Math.max(1, k) * Math.max(1, dim) * 100))));
}

/**
 * Cluster colouring: core k-means (seeded) on all rows when the table is small; on a larger table, k-means on an
 * evenly strided sample, then every row goes to its nearest centroid (core knn, k = 1, in slices). A synchronous
 * k-means of 50 k × 128 takes ~50 s here, so exact k-means on everything is not an option in the host.
 */
export async function clustersOf(t: LoadedTable, k: number, seed: number): Promise<ClustersView> {
  const { rows: n, dim } = t.id;
  const kk = Math.max(1, Math.min(k, n));
  await yieldToLoop();
  const ns = kmeansSampleSize(n, kk, dim);
  if (ns >= n) return { k: kk, seed, assignments: Array.from(clusterAssignments(t.table.vectors, n, dim, kk, seed)) };
  const sample = new Float32Array(ns * dim);
  for (let i = 0; i < ns; i++) {
    const r = Math.floor((i * n) / ns);
    sample.set(t.table.vectors.subarray(r * dim, (r + 1) * dim), i * dim);
  }
  const km = kmeans(sample, ns, dim, kk, seed);
  const out = new Array<number>(n);
  const chunk = 8192;
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const m = Math.min(chunk, n - r0);
    const res = knn(t.table.vectors.subarray(r0 * dim, (r0 + m) * dim), m, km.centroids, kk, dim, 1, 'euclidean');
    for (let i = 0; i < m; i++) out[r0 + i] = res.indices[i];
    await yieldToLoop();
  }
  return { k: kk, seed, assignments: out };
}

/** The PCA projection of a table: from the cache beside it when valid, else computed (sliced) and cached. */
export async function projectionOf(
  t: LoadedTable, o: { onProgress?: (done: number, total: number) => void; log?: (m: string) => void; signal?: { aborted: boolean } } = {},
): Promise<ProjectionView> {
  const cacheFile = projectionCachePath(t.file, 'pca');
  try {
    const c = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as unknown;
    if (projectionCacheValid(c, t.id)) return { method: 'pca', x: c.x, y: c.y, explained: c.explained, cached: true };
  } catch {
    // no cache, or unreadable: compute
  }
  const t0 = performance.now();
  const p = await pca2dSliced(t.table.vectors, t.id.rows, t.id.dim, o);
  o.log?.(`PCA of ${path.basename(t.file)} (${t.id.rows} × ${t.id.dim}) in ${Math.round(performance.now() - t0)} ms`);
  const cache = makeProjectionCache(p, t.id);
  try {
    await writeFileAtomic(cacheFile, JSON.stringify(cache) + '\n');
  } catch (err) {
    o.log?.(`cannot cache the projection beside the table (${cacheFile}): ${(err as Error).message}`);
  }
  return { method: 'pca', x: cache.x, y: cache.y, explained: cache.explained };
}

// ---------------------------------------------------------------------------------------------------------------
// The session: one dashboard on one run

export interface DashboardDeps {
  post(m: HostToWebview): unknown;
  log(level: 'info' | 'warn' | 'error', message: string): void;
  /** Whether this window's supervisor runs it (then it is running, whatever run.json says). */
  isSupervised(runDir: string): boolean;
  /** A webview URI for a local folder (asWebviewUri), or null. */
  webviewUri(folder: string): string | null;
  /** `embedlab eval <table> --json`: the report, or an Error. */
  evalTable(table: string): Promise<Record<string, unknown>>;
  /** `embedlab knn <table> --query <image> -k <k> --json` (embeds the image). */
  knnImage(table: string, image: string, k: number): Promise<{ neighbors: CliNeighbor[]; distance?: string }>;
  pickImage(): Promise<string | undefined>;
  saveDialog(defaultPath: string, filters: Record<string, string[]>): Promise<string | undefined>;
  stop(runDir: string): Promise<unknown>;
  resume(runDir: string): Promise<unknown>;
  /** Called when the folders the webview must read change (the table's image folder). */
  onRoots?(folders: string[]): void;
}

export interface SessionStats {
  runDir: string;
  table: string | null;
  ready: number;
  snapshots: number;
  /** Messages posted, by type. */
  posted: Record<string, number>;
  /** Step points posted: in the last snapshot plus in `steps` deltas since. */
  stepPoints: number;
  snapshotStepPoints: number;
  deltaStepPoints: number;
  epochPoints: number;
  status: RunStatus | null;
  projectionPoints: number;
  neighbors: number;
  webviewErrors: string[];
  lastPosted: string | null;
}

/** The URI of a small image as a data: URL (the CSP allows data: images), for a picked query outside the roots. */
export function imageDataUrl(file: string, maxBytes = 4 * 1024 * 1024): string | undefined {
  try {
    const st = fs.statSync(file);
    if (st.size > maxBytes) return undefined;
    const ext = path.extname(file).slice(1).toLowerCase();
    const mime = ext === 'jpg' ? 'jpeg' : ext === 'tif' ? 'tiff' : ext;
    return `data:image/${mime};base64,${fs.readFileSync(file).toString('base64')}`;
  } catch {
    return undefined;
  }
}

/** Folders the webview may load from for a run: the run, its runs folder, its datasets, the table's image folder. */
export function resourceFolders(runDir: string, config: RunConfigInfo, tableFolder: string | null, tableFile?: string | null): string[] {
  const dirs = [runDir, path.dirname(runDir), config.train, config.validation, tableFolder, tableFile ? path.dirname(tableFile) : undefined];
  return [...new Set(dirs.filter((d): d is string => typeof d === 'string' && d !== ''))];
}

export class DashboardSession {
  readonly runDir: string;
  readonly name: string;
  private config: RunConfigInfo;
  private series: RunSeries;
  private tail: EventTail;
  private readonly batcher = new StepBatcher();
  private tableFile: string | null;
  private loaded: LoadedTable | null = null;
  private loading: Promise<LoadedTable | null> | null = null;
  private projection: ProjectionView | null = null;
  private projecting: Promise<void> | null = null;
  private clusters: ClustersView | null = null;
  private evalReport: EvalView | null = null;
  private evaluating: Promise<void> | null = null;
  private neighbors: NeighborsView | null = null;
  private selection: number[] = [];
  private settings: DashboardSettings = { ...DEFAULT_SETTINGS };
  private lastStatus: { status: RunStatus; resumable: boolean } | null = null;
  private isReady = false;
  /** A snapshot is being built (the table loads asynchronously): deltas wait, so none arrives before it. */
  private building = 0;
  private disposed = false;
  private readonly abort = { aborted: false };
  readonly stats: SessionStats;

  constructor(runDir: string, private readonly deps: DashboardDeps, table?: string) {
    this.runDir = path.resolve(runDir);
    this.name = path.basename(this.runDir);
    this.config = readRunConfig(this.runDir);
    this.series = new RunSeries(this.name, this.config);
    this.tail = new EventTail(runPaths(this.runDir).events);
    this.tableFile = defaultTable(this.runDir, table) ?? null;
    this.stats = {
      runDir: this.runDir, table: this.tableFile, ready: 0, snapshots: 0, posted: {}, stepPoints: 0, snapshotStepPoints: 0, deltaStepPoints: 0,
      epochPoints: 0, status: null, projectionPoints: 0, neighbors: 0, webviewErrors: [], lastPosted: null,
    };
  }

  get table(): string | null {
    return this.tableFile;
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** The folders the webview needs (for localResourceRoots). */
  roots(): string[] {
    const sidecar = this.tableFile ? readTableSidecar(this.tableFile)?.folder : undefined;
    const folder = this.loaded?.folder ?? (sidecar && this.tableFile ? path.resolve(path.dirname(this.tableFile), sidecar) : null);
    return resourceFolders(this.runDir, this.config, folder, this.tableFile);
  }

  /** The webview went away (hidden without retainContextWhenHidden, or reloading): deltas wait for the next ready. */
  notReady(): void {
    this.isReady = false;
  }

  private post(m: HostToWebview): void {
    if (this.disposed) return;
    if (!this.isReady && m.type !== 'snapshot') return; // the next ready's snapshot carries it
    const s = this.stats;
    s.posted[m.type] = (s.posted[m.type] ?? 0) + 1;
    s.lastPosted = m.type;
    switch (m.type) {
      case 'snapshot':
        s.snapshots++;
        s.snapshotStepPoints = m.runs.reduce((a, r) => a + r.steps.step.length, 0);
        s.deltaStepPoints = 0;
        s.epochPoints = m.runs.reduce((a, r) => a + r.epochPoints.length, 0);
        s.status = m.runs[0]?.status ?? null;
        s.projectionPoints = m.projection?.x.length ?? 0;
        s.neighbors = m.neighbors?.neighbors.length ?? 0;
        break;
      case 'steps': s.deltaStepPoints += m.steps.step.length; break;
      case 'epochs': s.epochPoints += m.epochs.length; break;
      case 'run':
        s.snapshotStepPoints = m.run.steps.step.length; s.deltaStepPoints = 0; s.epochPoints = m.run.epochPoints.length; s.status = m.run.status;
        break;
      case 'runStatus': s.status = m.status; break;
      case 'projection': s.projectionPoints = m.projection.x.length; break;
      case 'neighbors': s.neighbors = m.neighbors.neighbors.length; break;
    }
    s.stepPoints = s.snapshotStepPoints + s.deltaStepPoints;
    try {
      const r = this.deps.post(m);
      if (r && typeof (r as PromiseLike<unknown>).then === 'function') {
        (r as PromiseLike<unknown>).then(undefined, (err: unknown) => this.deps.log('warn', `dashboard ${this.name}: post ${m.type} failed: ${String(err)}`));
      }
    } catch (err) {
      this.deps.log('warn', `dashboard ${this.name}: post ${m.type} failed: ${String(err)}`);
    }
  }

  private status(): { status: RunStatus; resumable: boolean } {
    return runStatusOf(this.runDir, this.series, this.deps.isSupervised(this.runDir));
  }

  private ensureTable(): Promise<LoadedTable | null> {
    if (!this.tableFile) return Promise.resolve(null);
    if (this.loaded && this.loaded.file === this.tableFile) return Promise.resolve(this.loaded);
    const file = this.tableFile;
    this.loading ??= loadTable(file).then((t) => {
      if (this.tableFile !== file) return this.loaded; // switched meanwhile
      this.loaded = t;
      this.deps.onRoots?.(this.roots());
      return t;
    }, (err: Error) => {
      this.deps.log('error', `dashboard ${this.name}: cannot read table ${file}: ${err.message}`);
      this.post({ type: 'error', message: `cannot read the table ${path.basename(file)}: ${err.message}`, context: 'table' });
      return null;
    }).finally(() => { this.loading = null; });
    return this.loading;
  }

  private thumbnails(): ThumbnailMap {
    const folder = this.loaded?.folder;
    return { base: folder ? this.deps.webviewUri(folder) : null };
  }

  /** Builds the full snapshot from the run folder (events from the start) and the table. */
  async snapshot(): Promise<SnapshotMessage> {
    this.config = readRunConfig(this.runDir);
    this.series = new RunSeries(this.name, this.config);
    this.batcher.take(); // the snapshot carries whatever was pending
    for (const e of this.tail.readAll()) this.series.apply(e);
    const st = this.status();
    this.lastStatus = st;
    const t = await this.ensureTable();
    if (t && !this.evalReport) {
      const cached = readCachedEval(t.file);
      if (cached) this.evalReport = evalView(cached, t.table.labels);
    }
    if (t && !this.projection) {
      try {
        const c = JSON.parse(fs.readFileSync(projectionCachePath(t.file, 'pca'), 'utf8')) as unknown;
        if (projectionCacheValid(c, t.id)) this.projection = { method: 'pca', x: c.x, y: c.y, explained: c.explained, cached: true };
      } catch {
        // computed after the snapshot
      }
    }
    const snap: SnapshotMessage & { host: { runDir: string; table: string | null } } = {
      type: 'snapshot', version: WEBVIEW_PROTOCOL_VERSION, runs: [this.series.view(st.status, st.resumable)],
      table: t ? tableView(t) : null, projection: t ? this.projection : null, clusters: t ? this.clusters : null,
      eval: t ? this.evalReport : null, neighbors: t ? this.neighbors : null, thumbnails: this.thumbnails(), settings: { ...this.settings },
      // Not part of the protocol: what the panel needs to come back after a reload (the webview may keep it in setState).
      host: { runDir: this.runDir, table: this.tableFile },
    };
    return snap;
  }

  /** `ready` from the webview (first load, or a reload after it was hidden): a full snapshot, then what is missing. */
  async onReady(): Promise<void> {
    this.isReady = true;
    this.stats.ready++;
    this.building++;
    let snap: SnapshotMessage;
    try {
      snap = await this.snapshot();
    } finally {
      this.building--;
    }
    if (this.disposed) return;
    this.post(snap);
    this.pump(); // what was appended while the table loaded
    this.flush();
    void this.completeTableViews();
  }

  /** Projection and evaluation, when the snapshot did not have them (computed or asked of the CLI, then posted). */
  completeTableViews(): Promise<void> {
    const t = this.loaded;
    if (!t || t.file !== this.tableFile) return Promise.resolve();
    const jobs: Array<Promise<void>> = [];
    if (!this.projection) jobs.push(this.computeProjection(t));
    if (!this.evalReport) jobs.push(this.computeEval(t));
    return Promise.all(jobs).then(() => undefined);
  }

  private computeProjection(t: LoadedTable): Promise<void> {
    this.projecting ??= (async () => {
      try {
        let last = 0;
        const p = await projectionOf(t, {
          signal: this.abort, log: (m) => this.deps.log('info', m),
          onProgress: (done, total) => {
            if (total >= 20_000 && done - last >= total / 10) { last = done; this.post({ type: 'projectionProgress', method: 'pca', done, total }); }
          },
        });
        if (this.loaded !== t) return;
        this.projection = p;
        this.post({ type: 'projection', projection: p });
      } catch (err) {
        if (!this.abort.aborted) this.post({ type: 'error', message: `PCA failed: ${(err as Error).message}`, context: 'projection' });
      } finally {
        this.projecting = null;
      }
    })();
    return this.projecting;
  }

  private computeEval(t: LoadedTable): Promise<void> {
    this.evaluating ??= (async () => {
      try {
        const labelled = new Set(t.table.labels.filter((l) => l !== '')).size;
        if (labelled < 2) return; // eval needs two labelled classes: the Evaluation section stays empty
        const report = await this.deps.evalTable(t.file);
        if (this.loaded !== t) return;
        this.evalReport = evalView(report, t.table.labels);
        this.post({ type: 'eval', eval: this.evalReport });
      } catch (err) {
        this.deps.log('warn', `dashboard ${this.name}: evaluation of ${t.file} failed: ${(err as Error).message}`);
        this.post({ type: 'error', message: (err as Error).message, context: 'eval' });
      } finally {
        this.evaluating = null;
      }
    })();
    return this.evaluating;
  }

  /**
   * Reads what was appended to events.jsonl and posts it: steps go to the batcher (posted by `flush`), the rest at
   * once (after the pending steps, so the order is kept). Returns the number of new events.
   */
  pump(): number {
    if (this.disposed || this.building > 0) return 0;
    const got = this.tail.readNew();
    if (got === 'reset') {
      if (this.isReady) void this.onReady();
      return 0;
    }
    for (const e of got) {
      const what = this.series.apply(e);
      if (what === 'step' && e.type === 'step') { this.batcher.add(e); continue; }
      if (what === undefined) continue;
      this.flush();
      if (what === 'epoch') this.post({ type: 'epochs', runId: this.series.runId, epochs: [this.series.epochPoints[this.series.epochPoints.length - 1]] });
      else if (what === 'warning') this.post({ type: 'warnings', runId: this.series.runId, warnings: [this.series.warnings[this.series.warnings.length - 1]] });
      else if (what === 'restart') {
        const st = this.status();
        this.lastStatus = st;
        this.post({ type: 'run', run: this.series.view(st.status, st.resumable) });
      } else if (what === 'status') this.refreshStatus();
    }
    return got.length;
  }

  /** Posts the batched steps (one `steps` message per run). */
  flush(): void {
    for (const m of this.batcher.take()) this.post(m);
  }

  /** Pending step points not yet posted. */
  get pendingSteps(): number {
    return this.batcher.size;
  }

  /** Re-reads the status (run.json, the supervisor) and posts `runStatus` when it changed. */
  refreshStatus(): void {
    const st = this.status();
    if (this.lastStatus && this.lastStatus.status === st.status && this.lastStatus.resumable === st.resumable) return;
    this.lastStatus = st;
    this.flush();
    this.post({ type: 'runStatus', runId: this.series.runId, status: st.status, resumable: st.resumable });
  }

  get runStatus(): RunStatus | null {
    return this.lastStatus?.status ?? null;
  }

  /** Shows another table (e.g. the one Find Similar used). */
  async setTable(file: string): Promise<void> {
    const abs = path.resolve(file);
    if (abs === this.tableFile) return;
    this.tableFile = abs;
    this.stats.table = abs;
    this.loaded = null;
    this.projection = null;
    this.clusters = null;
    this.evalReport = null;
    this.neighbors = null;
    const t = await this.ensureTable();
    if (!t || this.tableFile !== abs) return;
    this.post({ type: 'table', table: tableView(t), thumbnails: this.thumbnails() });
    this.post({ type: 'eval', eval: null });
    await this.completeTableViews();
  }

  /** A neighbour list computed elsewhere (Find Similar Images) for this dashboard's table. */
  showNeighbors(nb: NeighborsView): void {
    this.neighbors = nb;
    this.post({ type: 'neighbors', neighbors: nb });
  }

  /**
   * The neighbours of an image file (`embedlab knn --query <image>`): its path relative to the table's image folder
   * when it lies inside (the thumbnail comes from there), else the absolute path with the image as a data: URL.
   */
  showImageNeighbors(image: string, neighbors: readonly CliNeighbor[], distance: string): void {
    const t = this.loaded;
    const rel = t?.folder && isUnder(image, t.folder) ? path.relative(t.folder, path.resolve(image)).split(path.sep).join('/') : undefined;
    const uri = rel && this.thumbnails().base ? undefined : imageDataUrl(image);
    this.showNeighbors(neighborsFromCli(rel ?? image, neighbors, distance, t?.rowOf, uri));
  }

  /** One message from the webview. Unknown or malformed messages are logged and ignored. */
  async onMessage(raw: unknown): Promise<void> {
    if (!isWebviewToHost(raw)) {
      this.deps.log('warn', `dashboard ${this.name}: ignored a malformed message ${JSON.stringify(raw)?.slice(0, 200)}`);
      return;
    }
    const m: WebviewToHost = raw;
    try {
      await this.handle(m);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log('error', `dashboard ${this.name}: ${m.type} failed: ${message}`);
      this.post({ type: 'error', message, context: m.type });
    }
  }

  private async handle(m: WebviewToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        if (m.version !== WEBVIEW_PROTOCOL_VERSION) this.deps.log('warn', `dashboard webview speaks protocol ${m.version}, the host ${WEBVIEW_PROTOCOL_VERSION}`);
        await this.onReady();
        return;
      case 'stop':
        await this.deps.stop(this.runDir);
        this.refreshStatus();
        return;
      case 'resume':
        await this.deps.resume(this.runDir);
        this.pump();
        this.refreshStatus();
        return;
      case 'selectQuery': {
        const t = await this.ensureTable();
        if (!t) throw new Error('no embedding table: embed a folder with this run\'s model first');
        this.neighbors = neighborsOfRow(t, m.row, this.settings.k);
        this.post({ type: 'neighbors', neighbors: this.neighbors });
        return;
      }
      case 'pickImage': {
        const t = await this.ensureTable();
        if (!t) throw new Error('no embedding table: embed a folder with this run\'s model first');
        const image = await this.deps.pickImage();
        if (!image) return;
        const res = await this.deps.knnImage(t.file, image, this.settings.k);
        this.showImageNeighbors(image, res.neighbors, res.distance ?? t.distance);
        return;
      }
      case 'setK': {
        this.settings.k = m.k;
        const q = this.neighbors?.query;
        if (q?.kind === 'row' && this.loaded) {
          this.neighbors = neighborsOfRow(this.loaded, q.row, m.k);
          this.post({ type: 'neighbors', neighbors: this.neighbors });
        }
        return;
      }
      case 'setThreshold': this.settings.threshold = m.threshold; return;
      case 'setSmoothing': this.settings.smoothing = m.smoothing; return;
      case 'requestProjection': {
        const t = await this.ensureTable();
        if (!t) return;
        if (m.method !== 'pca') this.post({ type: 'error', message: `${m.method.toUpperCase()} is not available in this version; showing PCA`, context: 'projection' });
        if (this.projection) this.post({ type: 'projection', projection: this.projection });
        else await this.computeProjection(t);
        return;
      }
      case 'requestClusters': {
        const t = await this.ensureTable();
        if (!t) return;
        const t0 = performance.now();
        this.clusters = await clustersOf(t, m.k, 1);
        this.deps.log('info', `k-means (k = ${m.k}) of ${path.basename(t.file)} in ${Math.round(performance.now() - t0)} ms`);
        this.settings.clusterK = m.k;
        this.post({ type: 'clusters', clusters: this.clusters });
        return;
      }
      case 'exportCsv': {
        const t = this.loaded;
        let text: string;
        let name: string;
        if (m.what === 'projection') {
          if (!t || !this.projection) throw new Error('no projection to export yet');
          text = projectionCsv(t.table.paths, t.table.labels, this.projection.x, this.projection.y, this.clusters?.assignments ?? null);
          name = `${path.basename(t.file)}.projection.csv`;
        } else {
          if (!this.neighbors) throw new Error('no neighbours to export: pick a query first');
          const q = this.neighbors.query;
          text = neighborsCsv({ path: q.path, label: q.label }, this.neighbors.neighbors, this.settings.threshold);
          name = `neighbors-${path.basename(q.path).replace(/\.[^.]+$/, '')}.csv`;
        }
        const out = await this.deps.saveDialog(path.join(this.runDir, name), { CSV: ['csv'] });
        if (!out) return;
        await writeFileAtomic(out, text);
        this.post({ type: 'saved', what: m.what === 'projection' ? 'projection CSV' : 'neighbours CSV', path: out });
        return;
      }
      case 'savePng': {
        const bytes = Buffer.from(m.dataUrl.slice('data:image/png;base64,'.length), 'base64');
        const out = await this.deps.saveDialog(path.join(this.runDir, `${this.name}-${m.chart}.png`), { PNG: ['png'] });
        if (!out) return;
        await writeFileAtomic(out, bytes);
        this.post({ type: 'saved', what: `${m.chart} chart`, path: out });
        return;
      }
      case 'selection': this.selection = m.rows.filter((r): r is number => Number.isInteger(r)); return;
      case 'webviewError':
        this.stats.webviewErrors.push(String(m.message).slice(0, 2000));
        this.deps.log('error', `dashboard webview (${this.name}): ${m.message}`);
        return;
      default: {
        const never: never = m;
        void never;
      }
    }
  }

  get selectedRows(): readonly number[] {
    return this.selection;
  }

  dispose(): void {
    this.disposed = true;
    this.abort.aborted = true;
  }
}

function isUnder(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}


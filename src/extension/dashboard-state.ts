// The dashboard's host side without VS Code: a run folder → snapshot and deltas, the answers to the webview's
// messages, and the explorer's projections (PCA, UMAP, t-SNE) and k-means colouring, computed in a worker thread
// (projection-client.ts → dist/projection-worker.js) so the extension host's event loop never waits on them, and
// cached beside the table. The panel (dashboard-panel.ts) supplies the VS Code parts through DashboardDeps: posting,
// dialogs, webview URIs, the CLI.
//
// The run folder is the single source of truth. events.jsonl is written by the engine before the event goes to the
// supervisor (engine/train.ts appends, then emits), so a live update is always "read the file from the last offset":
// supervisor events and the FileSystemWatcher only say *when* to read. No event is posted twice and none is lost,
// whether this window started the run, another window did, or the CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic';
import { neighborsCsv, projectionCsv, type ProjectionCacheKey } from '../core/projection';
import { runPaths } from '../core/run-folder';
import type { RunStatus } from '../protocol/events';
import { DEFAULT_PROJECTION_SEED, type ProjectionJob } from '../protocol/projection';
import {
  DEFAULT_SETTINGS,
  defaultClusterK,
  isWebviewToHost,
  sanitizeSettings,
  StepBatcher,
  WEBVIEW_PROTOCOL_VERSION,
  type ClassificationView,
  type ClustersView,
  type DashboardSettings,
  type EvalView,
  type HostToWebview,
  type NeighborsView,
  type ProjectionMethod,
  type ProjectionView,
  type RunChoice,
  type TableChoice,
  type SnapshotMessage,
  type ThumbnailMap,
  type WebviewToHost,
} from '../protocol/webview';
import { readTableMeta as readTableSidecar } from './logic';
import { ComparedRuns, readFlatConfig, withRunContext } from './dashboard-compare';
import { runOfTable, workspaceTables } from './dashboard-tables';
import { ProjectionCancelled, ProjectionWorkerClient } from './projection-client';
import { kmeansJob, projectionJob } from './projection-jobs';
import { EventTail } from './dashboard-tail';
import { saveDashboardThreshold, thresholdTarget } from './dashboard-threshold';
import { readRunConfig, RunSeries, runStatusOf, type RunConfigInfo } from './dashboard-series';
import {
  defaultTable,
  evalView,
  loadTable,
  neighborsFromCli,
  neighborsOfRow,
  readCachedEval,
  tableView,
  type CliNeighbor,
  type LoadedTable,
} from './dashboard-table-views';
import {
  cacheKeyOf,
  DEFAULT_PROJECTION_WORKER,
  projectionViewOf,
  readProjectionCache,
  sharedVectors,
  writeProjectionCache,
} from './dashboard-projections';

// The session's parts, re-exported for the tests and the panel (one import site).
export * from './dashboard-series';
export * from './dashboard-tail';
export * from './dashboard-table-views';
export * from './dashboard-projections';

const METHOD_NAMES: Record<ProjectionMethod, string> = { pca: 'PCA', umap: 'UMAP', tsne: 't-SNE' };

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
  /** Called when a setting changes (the panel keeps them per run, so a reopened dashboard restores them). */
  saveSettings?(settings: DashboardSettings): void;
  /** The embedding tables of the workspace (any order; the run's own tables/ are added), for the table picker. */
  listTables?(): Promise<string[]>;
  /** Folders the picker's labels are relative to (the workspace folders). */
  workspaceRoots?(): string[];
  /** The runs of the workspace, for the comparison picker (the dashboard's own run may be among them). */
  listRuns?(): Promise<RunChoice[]>;
  /** Called when the dashboard wrote a model's threshold.json (the Runs view shows it). */
  onThresholdSaved?(file: string): void;
}

export interface SessionOptions {
  /** Settings to start from (a restored webview's, or the ones saved for the run); the rest are the defaults. */
  settings?: Partial<DashboardSettings>;
  /** The projection worker's entry (default: dist/projection-worker.js beside the extension bundle). */
  workerFile?: string;
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
  /** The method of the last projection posted. */
  projectionMethod: ProjectionMethod | null;
  /** Projection jobs the worker thread ran to a result (a projection read from the cache is not one). */
  projectionJobs: number;
  /** k-means jobs the worker thread ran to a result. */
  clusterJobs: number;
  neighbors: number;
  /** Rows of the confusion matrix the webview was last sent (Classify Folder), 0 for none. */
  classificationRows: number;
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
  /** JSON of the cache key of `projection`. */
  private projectionKey: string | null = null;
  /** JSON of the cache key of the projection the user asked for last (a result for another one is not shown). */
  private wantedKey: string | null = null;
  /** The seed t-SNE and UMAP use (the webview may ask for another). */
  private projectionSeed = DEFAULT_PROJECTION_SEED;
  private projecting: { key: string; promise: Promise<void> } | null = null;
  private clusters: ClustersView | null = null;
  /** The k of the latest requestClusters (an older job's result is not shown). */
  private wantedK: number | null = null;
  /** Worker threads: one for projections, one for k-means, so a new colouring never cancels a long t-SNE. */
  private readonly projector: ProjectionWorkerClient;
  private readonly clusterer: ProjectionWorkerClient;
  private evalReport: EvalView | null = null;
  private classification: ClassificationView | null = null;
  private evaluating: Promise<void> | null = null;
  private neighbors: NeighborsView | null = null;
  private selection: number[] = [];
  private settings: DashboardSettings = { ...DEFAULT_SETTINGS };
  private lastStatus: { status: RunStatus; resumable: boolean } | null = null;
  private isReady = false;
  /** The table picker's entries (the last list posted). */
  private tables: TableChoice[] = [];
  /** The runs overlaid to compare with this one (dashboard-compare.ts). */
  private readonly comparison: ComparedRuns;
  /** A snapshot is being built (the table loads asynchronously): deltas wait, so none arrives before it. */
  private building = 0;
  private disposed = false;
  readonly stats: SessionStats;

  constructor(runDir: string, private readonly deps: DashboardDeps, table?: string, opts: SessionOptions = {}) {
    this.runDir = path.resolve(runDir);
    this.name = path.basename(this.runDir);
    this.config = readRunConfig(this.runDir);
    this.series = new RunSeries(this.name, this.config);
    this.tail = new EventTail(runPaths(this.runDir).events);
    this.tableFile = defaultTable(this.runDir, table) ?? null;
    this.settings = { ...DEFAULT_SETTINGS, ...sanitizeSettings(opts.settings) };
    const workerFile = opts.workerFile ?? DEFAULT_PROJECTION_WORKER;
    const log = (m: string) => this.deps.log('warn', `dashboard ${this.name}: ${m}`);
    this.comparison = new ComparedRuns(this.runDir, {
      post: (m) => this.post(m), flush: () => this.flush(), batch: (e) => this.batcher.add(e),
      isSupervised: (d) => this.deps.isSupervised(d), listRuns: () => this.deps.listRuns?.() ?? Promise.resolve([]),
    });
    this.projector = new ProjectionWorkerClient(workerFile, { name: 'embedlab-projection', log });
    this.clusterer = new ProjectionWorkerClient(workerFile, { name: 'embedlab-kmeans', log });
    this.stats = {
      runDir: this.runDir, table: this.tableFile, ready: 0, snapshots: 0, posted: {}, stepPoints: 0, snapshotStepPoints: 0, deltaStepPoints: 0,
      epochPoints: 0, status: null, projectionPoints: 0, projectionMethod: null, projectionJobs: 0, clusterJobs: 0, neighbors: 0, classificationRows: 0, webviewErrors: [], lastPosted: null,
    };
  }

  /** The current settings (a copy). */
  get currentSettings(): DashboardSettings {
    return { ...this.settings };
  }

  /** The worker clients (for tests: thread ids, job counts). */
  get workers(): { projector: ProjectionWorkerClient; clusterer: ProjectionWorkerClient } {
    return { projector: this.projector, clusterer: this.clusterer };
  }

  private changeSettings(s: Partial<DashboardSettings>): void {
    const next = { ...this.settings, ...s };
    if ((Object.keys(s) as Array<keyof DashboardSettings>).every((k) => this.settings[k] === next[k])) return;
    this.settings = next;
    try {
      this.deps.saveSettings?.({ ...next });
    } catch (err) {
      this.deps.log('warn', `dashboard ${this.name}: cannot save the settings: ${(err as Error).message}`);
    }
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
        s.snapshotStepPoints = m.runs[0]?.steps.step.length ?? 0;
        s.deltaStepPoints = 0;
        s.epochPoints = m.runs[0]?.epochPoints.length ?? 0;
        s.status = m.runs[0]?.status ?? null;
        s.projectionPoints = m.projection?.x.length ?? 0;
        s.projectionMethod = m.projection?.method ?? null;
        s.neighbors = m.neighbors?.neighbors.length ?? 0;
        s.classificationRows = m.classification ? Object.keys(m.classification.confusion).length : 0;
        break;
      case 'steps': if (m.runId === this.series.runId) s.deltaStepPoints += m.steps.step.length; break; // the dashboard's own run
      case 'epochs': if (m.runId === this.series.runId) s.epochPoints += m.epochs.length; break;
      case 'run':
        if (m.run.primary === false) break; // a compared run
        s.snapshotStepPoints = m.run.steps.step.length; s.deltaStepPoints = 0; s.epochPoints = m.run.epochPoints.length; s.status = m.run.status;
        break;
      case 'runStatus': if (m.runId === this.series.runId) s.status = m.status; break;
      case 'projection': s.projectionPoints = m.projection.x.length; s.projectionMethod = m.projection.method; break;
      case 'neighbors': s.neighbors = m.neighbors.neighbors.length; break;
      case 'classification': s.classificationRows = Object.keys(m.classification.confusion).length; break;
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
      // The chosen method from the cache; else PCA's cache to look at while the chosen one is computed.
      const want = cacheKeyOf(this.jobFor(t, this.settings.projection));
      this.wantedKey = JSON.stringify(want);
      const c = readProjectionCache(t, want) ?? (want.method !== 'pca' ? readProjectionCache(t, cacheKeyOf({ kind: 'pca' })) : null);
      if (c) this.setProjection(c, c.method === want.method ? want : cacheKeyOf({ kind: 'pca' }));
    }
    const snap: SnapshotMessage & { host: { runDir: string; table: string | null } } = {
      type: 'snapshot', version: WEBVIEW_PROTOCOL_VERSION,
      runs: [withRunContext(this.series.view(st.status, st.resumable), this.runDir, readFlatConfig(this.runDir), true), ...this.comparison.views()],
      table: t ? tableView(t) : null, projection: t ? this.projection : null, clusters: t ? this.clusters : null,
      eval: t ? this.evalReport : null, neighbors: t ? this.neighbors : null, thumbnails: this.thumbnails(), settings: { ...this.settings },
      classification: this.classification,
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
    void this.refreshTables().catch((err: Error) => this.deps.log('warn', `dashboard ${this.name}: cannot list the tables: ${err.message}`));
    void this.refreshRunChoices().catch((err: Error) => this.deps.log('warn', `dashboard ${this.name}: cannot list the runs: ${err.message}`));
  }

  // ------------------------------------------------------------------------------------------------ table picker

  /** Lists the workspace's tables (with this run's and the one shown) newest first, and posts them. */
  async refreshTables(): Promise<TableChoice[]> {
    this.tables = await workspaceTables(this.runDir, this.tableFile, this.deps);
    this.post({ type: 'tables', tables: this.tables, current: this.tableFile });
    return this.tables;
  }

  /** The picker's entries as last listed. */
  get tableList(): readonly TableChoice[] {
    return this.tables;
  }

  /**
   * A table of the workspace was written (created or rewritten): the picker is listed again; the table shown is
   * read again when it is the one written; a table of this run (its tables/ folder, or made with its model) is
   * shown at once, since it was made to be looked at.
   */
  async onTableWritten(file: string): Promise<void> {
    if (this.disposed) return;
    const abs = path.resolve(file);
    if (abs === this.tableFile) await this.reloadTable();
    else if (runOfTable(abs) === this.runDir) await this.setTable(abs);
    await this.refreshTables();
  }

  /** Reads the table shown again (its file changed): a new table view, projection and evaluation. */
  async reloadTable(): Promise<void> {
    const f = this.tableFile;
    if (!f) return;
    const t = this.loaded;
    try {
      const st = fs.statSync(f);
      if (t && t.file === f && st.size === t.id.size && st.mtimeMs === t.id.mtimeMs) return; // unchanged
    } catch {
      return; // gone: the picker drops it
    }
    this.tableFile = null;
    await this.setTable(f);
  }

  // ------------------------------------------------------------------------------------------------ comparison

  /** Lists the runs the dashboard can compare with (not its own) and posts them with the ones overlaid. */
  refreshRunChoices(): Promise<RunChoice[]> {
    return this.comparison.refreshChoices();
  }

  /** The runs overlaid now (folders). */
  get comparedRuns(): string[] {
    return this.comparison.runDirs;
  }

  /** Whether this run or a compared one is running (the panel then polls their events). */
  get anyRunning(): boolean {
    return this.runStatus === 'running' || this.comparison.anyRunning;
  }

  /** Overlays exactly `runDirs` (runs of the workspace) on this run; see ComparedRuns.set. */
  compareWith(runDirs: readonly string[]): Promise<void> {
    return this.comparison.set(runDirs);
  }

  /**
   * What the snapshot did not have: the chosen projection (from the cache or the worker) and the evaluation (asked
   * of the CLI). Each is posted when ready. (A webview restored to colour by cluster asks for the clusters itself.)
   */
  completeTableViews(): Promise<void> {
    const t = this.loaded;
    if (!t || t.file !== this.tableFile) return Promise.resolve();
    const jobs: Array<Promise<void>> = [];
    const want = JSON.stringify(cacheKeyOf(this.jobFor(t, this.settings.projection)));
    if (!this.projection || this.projectionKey !== want) jobs.push(this.showProjection(t, this.settings.projection));
    if (!this.evalReport) jobs.push(this.computeEval(t));
    return Promise.all(jobs).then(() => undefined);
  }

  private jobFor(t: LoadedTable, method: ProjectionMethod): ProjectionJob {
    return projectionJob(method, t.id.rows, t.distance, this.projectionSeed);
  }

  private setProjection(p: ProjectionView, key: ProjectionCacheKey): void {
    this.projection = p;
    this.projectionKey = JSON.stringify(key);
  }

  /**
   * Shows projection `method` of the table: the one shown already, else the cache beside the table, else a job on
   * the projection worker (which supersedes a job for another projection: the last choice wins). The result is
   * cached beside the table (atomically) and posted when it is still the one wanted; progress is posted on the way
   * (at most every 100 ms). A failure, or a crash of the worker, is posted as an error for the projection.
   */
  showProjection(t: LoadedTable, method: ProjectionMethod): Promise<void> {
    const job = this.jobFor(t, method);
    const key = cacheKeyOf(job);
    const ks = JSON.stringify(key);
    this.wantedKey = ks;
    if (this.projection && this.projectionKey === ks) {
      if (this.projecting && this.projecting.key !== ks) this.projector.cancel('superseded');
      this.post({ type: 'projection', projection: this.projection });
      return Promise.resolve();
    }
    if (this.projecting?.key === ks) return this.projecting.promise;
    const cached = readProjectionCache(t, key);
    if (cached) {
      if (this.projecting) this.projector.cancel('superseded');
      this.setProjection(cached, key);
      this.post({ type: 'projection', projection: cached });
      return Promise.resolve();
    }
    const token = { key: ks, promise: Promise.resolve() };
    token.promise = (async () => {
      const name = METHOD_NAMES[method];
      try {
        let last = -Infinity;
        this.post({ type: 'projectionProgress', method, done: 0, total: 1 });
        const r = await this.projector.run(sharedVectors(t), t.id.rows, t.id.dim, job, (done, total) => {
          const now = performance.now();
          if (done < total && now - last < 100) return;
          last = now;
          if (this.wantedKey === ks) this.post({ type: 'projectionProgress', method, done, total });
        });
        if (r.type !== 'projection') throw new Error(`the worker answered a ${name} job with ${r.type}`);
        this.stats.projectionJobs++;
        this.deps.log('info', `${name} of ${path.basename(t.file)} (${t.id.rows} × ${t.id.dim}) in ${r.ms} ms (worker thread)`);
        const view = projectionViewOf(key, { x: Array.from(r.x), y: Array.from(r.y), explained: r.explained }, false);
        try {
          await writeProjectionCache(t, key, view);
        } catch (err) {
          this.deps.log('warn', `cannot cache the ${name} projection beside the table: ${(err as Error).message}`);
        }
        if (this.disposed || this.loaded !== t || this.wantedKey !== ks) return;
        this.setProjection(view, key);
        this.post({ type: 'projection', projection: view });
      } catch (err) {
        if (err instanceof ProjectionCancelled || this.disposed) return;
        const message = `${name} failed: ${(err as Error).message}`;
        this.deps.log('error', `dashboard ${this.name}: ${message}`);
        if (this.loaded === t && this.wantedKey === ks) this.post({ type: 'error', message, context: 'projection' });
      } finally {
        if (this.projecting === token) this.projecting = null;
      }
    })();
    this.projecting = token;
    return token.promise;
  }

  /** k-means colouring on the k-means worker (the latest request supersedes a running one). Throws on failure. */
  private async computeClusters(t: LoadedTable, k: number): Promise<void> {
    this.wantedK = k;
    let r;
    try {
      r = await this.clusterer.run(sharedVectors(t), t.id.rows, t.id.dim, kmeansJob(k, DEFAULT_PROJECTION_SEED));
    } catch (err) {
      if (err instanceof ProjectionCancelled || this.disposed) return;
      throw new Error(`k-means failed: ${(err as Error).message}`, { cause: err });
    }
    if (r.type !== 'clusters') throw new Error(`the worker answered a k-means job with ${r.type}`);
    this.stats.clusterJobs++;
    this.deps.log('info', `k-means (k = ${k}${r.sampled ? ', on a sample' : ''}) of ${path.basename(t.file)} in ${r.ms} ms (worker thread)`);
    if (this.disposed || this.loaded !== t || this.wantedK !== k) return;
    this.clusters = { k: r.k, seed: DEFAULT_PROJECTION_SEED, assignments: Array.from(r.assignments) };
    // k equal to the number of labels is the default (null), so another table gets its own number of labels.
    this.changeSettings({ clusterK: k === defaultClusterK(t.table.labels) ? null : k });
    this.post({ type: 'clusters', clusters: this.clusters });
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
    const others = this.comparison.pump();
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
        this.post({ type: 'run', run: withRunContext(this.series.view(st.status, st.resumable), this.runDir, readFlatConfig(this.runDir), true) });
      } else if (what === 'status') this.refreshStatus();
    }
    return got.length + others;
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
    this.projector.cancel('cancelled: the table changed');
    this.clusterer.cancel('cancelled: the table changed');
    this.projection = null;
    this.projectionKey = null;
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
  showImageNeighbors(image: string, neighbors: readonly CliNeighbor[], distance: string, k = Infinity): void {
    const t = this.loaded;
    const rel = this.tableRelPath(image);
    const uri = rel && this.thumbnails().base ? undefined : imageDataUrl(image);
    this.showNeighbors(neighborsFromCli(rel ?? image, neighbors, distance, t?.rowOf, uri, k));
  }

  /** An image's path relative to the loaded table's image folder, when it lies inside. */
  private tableRelPath(image: string): string | undefined {
    const t = this.loaded;
    return t?.folder && isUnder(image, t.folder) ? path.relative(t.folder, path.resolve(image)).split(path.sep).join('/') : undefined;
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
        // An image that is a row of the table finds itself first: ask for one more and leave it out.
        const rel = this.tableRelPath(image);
        const k = this.settings.k;
        const res = await this.deps.knnImage(t.file, image, rel !== undefined && t.rowOf.has(rel) ? k + 1 : k);
        this.showImageNeighbors(image, res.neighbors, res.distance ?? t.distance, k);
        return;
      }
      case 'setK': {
        this.changeSettings({ k: m.k });
        const q = this.neighbors?.query;
        if (q?.kind === 'row' && this.loaded) {
          this.neighbors = neighborsOfRow(this.loaded, q.row, m.k);
          this.post({ type: 'neighbors', neighbors: this.neighbors });
        }
        return;
      }
      case 'setThreshold': this.changeSettings({ threshold: m.threshold }); return;
      case 'setSmoothing': this.changeSettings({ smoothing: m.smoothing }); return;
      case 'requestProjection': {
        const t = await this.ensureTable();
        if (!t) return;
        if (m.seed !== undefined) this.projectionSeed = m.seed;
        this.changeSettings({ projection: m.method });
        await this.showProjection(t, m.method);
        return;
      }
      case 'requestClusters': {
        const t = await this.ensureTable();
        if (!t) return;
        await this.computeClusters(t, m.k);
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
      case 'saveModelThreshold': {
        if (!this.evalReport) throw new Error('no evaluation yet: the threshold comes from the table\'s evaluation');
        const { file } = await saveDashboardThreshold(this.evalReport, m.threshold, thresholdTarget(this.runDir, this.tableFile));
        this.deps.log('info', `dashboard ${this.name}: saved threshold ${m.threshold} to ${file}`);
        this.post({ type: 'saved', what: 'the model\'s threshold', path: file });
        this.deps.onThresholdSaved?.(file);
        return;
      }
      case 'selection': this.selection = m.rows.filter((r): r is number => Number.isInteger(r)); return;
      case 'selectTable': {
        const abs = path.resolve(m.file);
        // Only a table the picker offered (listed again if it is new): the webview cannot make the host read any file.
        const listed = this.tables.some((t) => t.file === abs) || (await this.refreshTables()).some((t) => t.file === abs);
        if (!listed) throw new Error(`not an embedding table of the workspace: ${m.file}`);
        await this.setTable(abs);
        return;
      }
      case 'compareRuns': await this.comparison.set(m.runDirs); return;
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

  /** Classify Folder's confusion matrix (kept for the next snapshot: a hidden or reloaded webview shows it again). */
  showClassification(c: ClassificationView): void {
    this.classification = c;
    this.post({ type: 'classification', classification: c });
  }

  get selectedRows(): readonly number[] {
    return this.selection;
  }

  dispose(): void {
    this.disposed = true;
    this.projector.dispose(); // terminates a running job's thread
    this.clusterer.dispose();
  }
}

function isUnder(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}


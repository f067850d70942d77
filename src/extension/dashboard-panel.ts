// The dashboard webview panel: one per run (a second Open Dashboard reveals it), the HTML of dashboardHtml under its
// CSP, and the VS Code side of DashboardSession (dashboard-state.ts): dialogs, webview URIs, the CLI, the stop and
// resume commands, and when to read the run's events.jsonl again (a supervisor event, a FileSystemWatcher change,
// or a 1 s poll while the run is running: a watcher outside the workspace may not fire). Panels come back after a
// reload through registerWebviewPanelSerializer (activation event onWebviewPanel:embeddingLab.dashboard).
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { dashboardHtml, makeNonce } from '../protocol/dashboard-html';
import { sanitizeSettings, type DashboardSettings } from '../protocol/webview';
import type { DashboardHost } from './dashboard-host';
import { DashboardSession, type CliNeighbor, type SessionStats } from './dashboard-state';
import { isEmbeddingTable } from './dashboard-tables';

export const DASHBOARD_VIEW_TYPE = 'embeddingLab.dashboard';
const STEP_FLUSH_MS = 100;
const POLL_MS = 1000;
const MEMENTO_KEY = 'embeddingLab.dashboards';
/** Dashboard settings per run folder (workspaceState), so a dashboard opened again comes back as it was left. */
const SETTINGS_KEY = 'embeddingLab.dashboardSettings';

/** What a restored panel needs: the run, the table it showed, and its settings (from the webview's saved state). */
interface PanelState { runDir: string; table?: string | null; settings?: Partial<DashboardSettings> }

class DashboardPanel implements vscode.Disposable {
  readonly session: DashboardSession;
  private readonly disposables: vscode.Disposable[] = [];
  private flushTimer: ReturnType<typeof setTimeout> | undefined;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private disposed = false;

  constructor(
    private readonly host: DashboardHost, readonly panel: vscode.WebviewPanel, runDir: string, table: string | undefined, settings: Partial<DashboardSettings> | undefined,
    private readonly onDispose: (p: DashboardPanel) => void,
  ) {
    const webview = panel.webview;
    const key = path.resolve(runDir);
    const saved = sanitizeSettings(host.memento.get<Record<string, unknown>>(SETTINGS_KEY, {})[key]);
    const { extensionUri, memento, ...shared } = host;
    this.session = new DashboardSession(runDir, {
      ...shared,
      post: (m) => webview.postMessage(m),
      webviewUri: (folder) => webview.asWebviewUri(vscode.Uri.file(folder)).toString(),
      onRoots: () => this.setOptions(),
      saveSettings: (s) => {
        void memento.update(SETTINGS_KEY, { ...memento.get<Record<string, unknown>>(SETTINGS_KEY, {}), [key]: s });
      },
    }, table, {
      // A restored webview's own settings win over the ones saved for the run (they are the newer).
      settings: { ...saved, ...(settings ?? {}) },
      workerFile: vscode.Uri.joinPath(extensionUri, 'dist', 'projection-worker.js').fsPath,
    });
    panel.title = `Dashboard: ${this.session.name}`;
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'embedding-lab.svg');
    this.setOptions();
    webview.html = this.html();
    this.disposables.push(
      webview.onDidReceiveMessage((m: unknown) => void this.session.onMessage(m)),
      panel.onDidChangeViewState((e) => {
        // Without retainContextWhenHidden a hidden webview is destroyed; it posts `ready` again when shown.
        if (!e.webviewPanel.visible) this.session.notReady();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(this.session.runDir), '{events.jsonl,run.json}'));
    this.disposables.push(watcher, watcher.onDidChange(() => this.trigger()), watcher.onDidCreate(() => this.trigger()));
    this.pollTimer = setInterval(() => {
      if (this.session.anyRunning) this.trigger(); // this run, or a run it is compared with
    }, POLL_MS);
    void memento.update(MEMENTO_KEY, { ...memento.get<Record<string, PanelState>>(MEMENTO_KEY, {}), [panel.title]: this.state() });
  }

  state(): PanelState {
    return { runDir: this.session.runDir, table: this.session.table };
  }

  /** localResourceRoots: dist/ (the bundle), the run and its runs folder, the datasets, the table's image folder. */
  private setOptions(): void {
    const roots = [vscode.Uri.joinPath(this.host.extensionUri, 'dist'), ...this.session.roots().map((d) => vscode.Uri.file(d))];
    const cur = this.panel.webview.options.localResourceRoots?.map((u) => u.toString()).join('\n');
    if (cur === roots.map((u) => u.toString()).join('\n')) return;
    this.panel.webview.options = { enableScripts: true, localResourceRoots: roots };
  }

  private html(): string {
    const w = this.panel.webview;
    const dist = vscode.Uri.joinPath(this.host.extensionUri, 'dist');
    return dashboardHtml({
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      cspSource: w.cspSource, nonce: makeNonce((n) => randomBytes(n)), title: `Embedding Lab: ${this.session.name}`,
    });
  }

  /** Something changed in the run folder or the supervisor said so: read events.jsonl now, post steps within 100 ms. */
  trigger(): void {
    if (this.disposed) return;
    this.session.pump();
    this.session.refreshStatus();
    if (this.session.pendingSteps > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        this.session.flush();
      }, STEP_FLUSH_MS);
    }
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.session.dispose();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
    this.onDispose(this);
    this.panel.dispose();
  }
}

/** All dashboard panels of this window, keyed by run folder; owned by the Ctx, which gives them the DashboardHost. */
export class DashboardPanels implements vscode.Disposable {
  private readonly panels = new Map<string, DashboardPanel>();
  private readonly disposables: vscode.Disposable[] = [];

  private readonly tableTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly host: DashboardHost) {
    // Tables written anywhere in the workspace (Embed Folder, the CLI): the dashboards' pickers follow.
    // A table's sidecar (.meta.json) may land after it: a sidecar written counts as its table written.
    const tables = vscode.workspace.createFileSystemWatcher('**/*.{parquet,csv,parquet.meta.json,csv.meta.json}');
    const onTable = (u: vscode.Uri) => this.tableWritten(u.fsPath.replace(/\.meta\.json$/, ''));
    this.disposables.push(tables, tables.onDidCreate(onTable), tables.onDidChange(onTable));
    this.disposables.push(vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        const st = restoredState(state) ?? this.host.memento.get<Record<string, PanelState>>(MEMENTO_KEY, {})[panel.title];
        if (!st?.runDir) {
          panel.webview.html = '<!DOCTYPE html><html><body><p>This Embedding Lab dashboard cannot be restored: reopen it from the Runs view.</p></body></html>';
          return;
        }
        this.adopt(panel, st.runDir, st.table ?? undefined, st.settings);
      },
    }));
  }

  /** Opens the dashboard of a run, or reveals it (switching to `table` when one is given). */
  open(runDir: string, table?: string): DashboardPanel {
    const key = path.resolve(runDir);
    const open = this.panels.get(key);
    if (open) {
      if (table) void open.session.setTable(table);
      open.reveal();
      return open;
    }
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, `Dashboard: ${path.basename(key)}`, vscode.ViewColumn.Active, {
      enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.host.extensionUri, 'dist')],
    });
    return this.adopt(panel, key, table);
  }

  private adopt(panel: vscode.WebviewPanel, runDir: string, table?: string, settings?: Partial<DashboardSettings>): DashboardPanel {
    const key = path.resolve(runDir);
    this.panels.get(key)?.dispose();
    const p = new DashboardPanel(this.host, panel, key, table, settings, (gone) => {
      if (this.panels.get(key) === gone) this.panels.delete(key);
    });
    this.panels.set(key, p);
    return p;
  }

  /** A supervisor event or exit for a run: its dashboard, and those comparing with it, read the run folders now. */
  poke(runDir: string | undefined): void {
    if (!runDir) return;
    const key = path.resolve(runDir);
    for (const [dir, p] of this.panels) if (dir === key || p.session.comparedRuns.includes(key)) p.trigger();
  }

  /**
   * An embedding table was written (Embed Folder, the CLI, a watcher): every open dashboard lists its tables again,
   * and one whose run made it, or that shows it, shows it afresh. Writes come in bursts (the table, then its
   * sidecar), so each file is handled once, 300 ms after its last write.
   */
  tableWritten(file: string): void {
    const key = path.resolve(file);
    clearTimeout(this.tableTimers.get(key));
    this.tableTimers.set(key, setTimeout(() => {
      this.tableTimers.delete(key);
      if (!isEmbeddingTable(key)) return; // some other .csv
      for (const p of this.panels.values()) void p.session.onTableWritten(key).catch((err: Error) => this.host.log('warn', `dashboard: ${key}: ${err.message}`));
    }, 300));
  }

  /** Opens the dashboard of the first run with the others overlaid on it (the Runs view's Compare Runs). */
  async compare(runDirs: readonly string[]): Promise<DashboardPanel> {
    const [first, ...rest] = runDirs;
    const p = this.open(first);
    await p.session.compareWith([...new Set([...p.session.comparedRuns, ...rest])]);
    return p;
  }

  /** Find Similar Images' result, shown in the open dashboards on that table. Returns how many got it. */
  postNeighbors(table: string, image: string, neighbors: readonly CliNeighbor[], distance: string): number {
    let n = 0;
    for (const p of this.panels.values()) {
      if (!p.session.table || path.resolve(p.session.table) !== path.resolve(table)) continue;
      p.session.showImageNeighbors(image, neighbors, distance);
      n++;
    }
    return n;
  }

  /** For the e2e tests: what each open dashboard posted. */
  testState(): SessionStats[] {
    return [...this.panels.values()].map((p) => ({ ...p.session.stats, posted: { ...p.session.stats.posted }, webviewErrors: [...p.session.stats.webviewErrors], visible: p.panel.visible } as SessionStats));
  }

  dispose(): void {
    for (const t of this.tableTimers.values()) clearTimeout(t);
    for (const p of [...this.panels.values()]) p.dispose();
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}

/**
 * The webview's saved state: `{ runDir, table }` if the webview keeps the snapshot's `host` (or its own copy), and
 * its `settings` (the explorer's projection method among them) when valid.
 */
function restoredState(state: unknown): PanelState | undefined {
  if (!state || typeof state !== 'object') return undefined;
  const s = state as { runDir?: unknown; table?: unknown; host?: { runDir?: unknown; table?: unknown }; settings?: unknown };
  const src = typeof s.runDir === 'string' ? s : s.host && typeof s.host.runDir === 'string' ? s.host : undefined;
  if (!src) return undefined;
  return { runDir: src.runDir as string, table: typeof src.table === 'string' ? src.table : null, settings: sanitizeSettings(s.settings) };
}

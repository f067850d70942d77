// The extension's one owner of state and disposables (after rust-analyzer's Ctx): the log channel, the training
// supervisor and its notifications and status bar item, the two tree views, the virtual documents, and the
// registration of every contributed command (always registered; a command that may not run now says why).
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { WorkerEvent } from '../protocol/events';
import { runProcess, type RunProcessResult } from './cli-runner';
import { dashboardHost } from './dashboard-host';
import { DashboardPanels } from './dashboard-panel';
import { Reports } from './reports';
import { TrainingStatusBar } from './status-bar';
import { readSettings, type Settings } from './config';
import { watchConfigDiagnostics } from './config-diagnostics';
import { ExperimentsProvider } from './experiments-view';
import type { CommandSpec } from './commands';
import { chooseNode, commandEnablement, isProgrammaticCall, restrictedReason, runsDirFor, type NodeChoice } from './logic';
import { RunNode, RunsProvider } from './runs-view';
import { Supervisor, type ExitInfo, type WorkerProcess, type WorkerSpawnOptions } from './supervisor';

export { SCHEME } from './reports';

/** The Runs view's message in Restricted Mode. */
export const RESTRICTED_MESSAGE = 'Restricted Mode: training, embedding, search, evaluation, export, Check Environment and backend installs are disabled, because they run Node.js processes on this workspace\'s files. Trust the workspace (Manage Workspace Trust) to enable them.';

/** A failure already shown to the user (e.g. by the crash notification): callers with arguments still get it. */
export class ShownError extends Error {}

/** Thrown when the user dismissed a picker: the command ends quietly with undefined. */
export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/** A failure the user can act on; `actions` become buttons on the error message. */
export class UserError extends Error {
  constructor(message: string, readonly actions: Array<{ title: string; run: () => unknown }> = []) {
    super(message);
  }
}

export type CommandFn = (ctx: Ctx, ...args: unknown[]) => Promise<unknown>;

interface RunUi {
  title: string;
  progress?: vscode.Progress<{ message?: string; increment?: number }>;
  reported: number; // fraction already reported
  total: number; // steps of the whole run
  warned: Set<string>; // warning codes already shown as a pop-up
}

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly supervisor: Supervisor;
  readonly runs: RunsProvider;
  readonly experiments: ExperimentsProvider;
  readonly reports: Reports;
  readonly dashboards: DashboardPanels;
  activationMs = 0;
  lastError: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statusBar: TrainingStatusBar;
  private readonly ui = new WeakMap<WorkerProcess, RunUi>();
  private readonly extraRunsDirs = new Set<string>();
  private table: Record<string, CommandSpec> = {};
  /** What the user was shown, newest last (for the e2e tests: `_testState`). */
  private readonly shown: { notifications: string[]; quickPicks: Array<{ title?: string; items: Array<{ label: string; detail?: string; icon?: string }> }> } = { notifications: [], quickPicks: [] };
  private readonly runsView: vscode.TreeView<RunNode>;

  constructor(readonly ext: vscode.ExtensionContext) {
    this.log = this.push(vscode.window.createOutputChannel('Embedding Lab', { log: true }));
    this.supervisor = new Supervisor({
      onEvent: (ev, w) => this.onWorkerEvent(ev, w),
      onLog: (stream, text, w) => this.logLines(`${w.runDir ? path.basename(w.runDir) : `worker ${w.pid ?? '?'}`} ${stream}`, text),
      onExit: (info, w) => this.onWorkerExit(info, w),
    });
    this.statusBar = this.push(new TrainingStatusBar());
    this.experiments = this.push(new ExperimentsProvider((file) => this.supervisor.byKey(file).length > 0));
    this.runs = this.push(new RunsProvider(() => this.runsDirs(), (dir) => (this.supervisor.byRunDir(dir) ? 'running' : undefined)));
    this.reports = this.push(new Reports((dir) => (this.supervisor.byRunDir(dir) ? 'running' : this.runs.snapshot().find((n) => n.runDir === dir)?.status)));
    this.dashboards = this.push(new DashboardPanels(dashboardHost(this)));
    this.push(vscode.window.registerTreeDataProvider('embeddingLab.experiments', this.experiments));
    this.runsView = this.push(vscode.window.createTreeView('embeddingLab.runs', { treeDataProvider: this.runs }));
    this.push(watchConfigDiagnostics());
    this.explainRestrictedMode();
    this.push(this.runs.onDidRefresh((nodes) => {
      void vscode.commands.executeCommand('setContext', 'embeddingLab.hasRunningRuns', nodes.some((n) => n.status === 'running'));
    }));
    this.runs.watch(this.outsideRunsDirs());
    this.push(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('embeddingLab.runsFolder')) {
        this.runs.watch(this.outsideRunsDirs());
        this.runs.refreshSoon();
      }
    }));
    this.push(vscode.workspace.onDidChangeWorkspaceFolders(() => { this.experiments.refresh(); this.runs.refreshSoon(); }));
    this.push(vscode.workspace.onDidGrantWorkspaceTrust(() => {
      this.log.info('workspace trusted: training and embedding commands enabled');
      this.explainRestrictedMode();
    }));
  }

  /** In Restricted Mode the Runs view says once why its actions are disabled (the menus show them greyed out). */
  private explainRestrictedMode(): void {
    this.runsView.message = this.trusted ? undefined : RESTRICTED_MESSAGE;
  }

  push<T extends vscode.Disposable>(d: T): T {
    this.disposables.push(d);
    return d;
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  settings(scope?: string | vscode.Uri): Settings {
    return readSettings(typeof scope === 'string' ? vscode.Uri.file(scope) : scope);
  }

  node(scope?: string): NodeChoice {
    return chooseNode(this.settings(scope).nodePath, process.execPath);
  }

  get workerJs(): string {
    return path.join(this.ext.extensionPath, 'dist', 'worker.js');
  }

  get cliJs(): string {
    return path.join(this.ext.extensionPath, 'dist', 'cli.js');
  }

  get schemaFile(): string {
    return path.join(this.ext.extensionPath, 'schemas', 'embedding.schema.json');
  }

  /** Where Install GPU/Native CPU Backend puts node_modules; always passed to the worker as --backend-path. */
  get backendsDir(): string {
    return path.join(this.ext.globalStorageUri.fsPath, 'backends');
  }

  /** Environment for every engine process: the backend folder, and node mode for VS Code's own binary. */
  engineEnv(scope?: string): Record<string, string> {
    const prev = process.env.EMBEDLAB_BACKEND_PATHS;
    return { ...this.node(scope).env, EMBEDLAB_BACKEND_PATHS: prev ? `${this.backendsDir}${path.delimiter}${prev}` : this.backendsDir };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Runs folders

  rememberRunsDir(dir: string): void {
    this.extraRunsDirs.add(path.resolve(dir));
  }

  private outsideRunsDirs(): string[] {
    const s = this.settings().runsFolder;
    return path.isAbsolute(s) ? [s] : [];
  }

  /** Runs folders: beside each experiment config, in each workspace folder, an absolute setting, and any used. */
  async runsDirs(): Promise<string[]> {
    const dirs = new Set<string>(this.extraRunsDirs);
    const s = this.settings();
    for (const f of vscode.workspace.workspaceFolders ?? []) dirs.add(path.isAbsolute(s.runsFolder) ? s.runsFolder : path.join(f.uri.fsPath, s.runsFolder));
    for (const cfg of await this.experiments.list()) dirs.add(runsDirFor(cfg.fsPath, this.settings(cfg).runsFolder));
    for (const w of this.supervisor.running()) if (w.runDir) dirs.add(path.dirname(w.runDir));
    return [...dirs];
  }

  // -------------------------------------------------------------------------------------------------------------
  // Commands

  registerCommands(table: Record<string, CommandSpec>): void {
    this.table = { ...this.table, ...table };
    for (const name of Object.keys(table)) {
      this.push(vscode.commands.registerCommand(`embeddingLab.${name}`, (...args: unknown[]) => this.execute(name, args, false)));
    }
  }

  /**
   * An internal call of another command of the table (e.g. Embed with Model → Embed Folder): through the same gate as
   * a menu click; a refusal or failure is thrown to the caller.
   */
  invoke(name: string, ...args: unknown[]): Promise<unknown> {
    return this.execute(name, args, true);
  }

  /** The trust gate and error handling of every command, derived from its entry in the command table. */
  private async execute(name: string, args: unknown[], internal: boolean): Promise<unknown> {
    const id = `embeddingLab.${name}`;
    const spec = this.table[name];
    if (!spec) throw new Error(`unknown command ${id}`);
    const onDisk = this.runs.snapshot().filter((n) => n.status === 'running').map((n) => n.runDir);
    const en = commandEnablement(id, spec, { trusted: this.trusted, running: [...new Set([...this.runningDirs(), ...onDisk])], hasTarget: args.length > 0 && args[0] !== undefined });
    if (!en.enabled) {
      if (internal) throw new UserError(en.reason ?? 'This command is not available now.');
      void vscode.window.showWarningMessage(en.reason ?? 'This command is not available now.', ...(this.trusted ? [] : ['Manage Workspace Trust'])).then((c) => {
        if (c) void vscode.commands.executeCommand('workbench.trust.manage');
      });
      return undefined;
    }
    try {
      return await spec.run(this, ...args);
    } catch (err) {
      if (internal) throw err;
      if (err instanceof Cancelled) return undefined;
      const message = err instanceof Error ? err.message : String(err);
      this.lastError = `${id}: ${message}`;
      this.log.error(`${id} failed: ${err instanceof Error && !(err instanceof UserError) ? err.stack ?? message : message}`);
      if (isProgrammaticCall(args)) throw err; // callers with arguments (tests, other extensions) get the error
      if (err instanceof ShownError) return undefined;
      this.showError(message, err instanceof UserError ? err.actions : []);
      return undefined;
    }
  }

  /**
   * The last line of defence: no engine or npm process starts in an untrusted workspace, whatever called. (The gate
   * refuses such commands before they run; this catches a path that bypassed it.)
   */
  requireTrust(doing: string): void {
    if (!this.trusted) throw new UserError(restrictedReason(doing));
  }

  /** An information message, remembered for `_testState` (what the user saw). */
  notify(message: string, ...items: string[]): Thenable<string | undefined> {
    this.shown.notifications = [...this.shown.notifications, message].slice(-20);
    return vscode.window.showInformationMessage(message, ...items);
  }

  /** A quick pick, remembered for `_testState` (its title, labels and thumbnails). */
  quickPick<T extends vscode.QuickPickItem>(items: T[], options: vscode.QuickPickOptions): Thenable<T | undefined> {
    const icon = (i: vscode.QuickPickItem) => (i.iconPath instanceof vscode.Uri ? i.iconPath.fsPath : undefined);
    this.shown.quickPicks = [...this.shown.quickPicks, { title: options.title, items: items.map((i) => ({ label: i.label, detail: i.detail, icon: icon(i) })) }].slice(-10);
    return vscode.window.showQuickPick(items, options);
  }

  showError(message: string, actions: Array<{ title: string; run: () => unknown }> = []): void {
    const titles = [...actions.map((a) => a.title), 'Show Logs'];
    void vscode.window.showErrorMessage(message, ...titles).then((choice) => {
      if (choice === 'Show Logs') this.log.show(true);
      else actions.find((a) => a.title === choice)?.run();
    });
  }

  runningDirs(): string[] {
    return this.supervisor.running().map((w) => w.runDir).filter((d): d is string => d !== undefined);
  }

  logLines(prefix: string, text: string): void {
    for (const line of text.split(/\r?\n/)) if (line.trim()) this.log.info(`[${prefix}] ${line}`);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Engine processes

  /** Runs `node dist/cli.js <args>`; JSON lines go to onJson, the rest to the log. */
  runCli(args: string[], o: { cwd?: string; signal?: AbortSignal; onJson?: (obj: Record<string, unknown>) => void; timeoutMs?: number; scope?: string } = {}): Promise<RunProcessResult> {
    this.requireTrust(`Running embedlab ${args[0] ?? ''}`.trim());
    const node = this.node(o.scope);
    this.log.info(`$ embedlab ${args.join(' ')}`);
    return runProcess({
      command: node.command, args: [this.cliJs, ...args], cwd: o.cwd, env: this.engineEnv(o.scope), signal: o.signal, onJson: o.onJson,
      timeoutMs: o.timeoutMs, killAfterMs: 5000, onLog: (s, t) => this.logLines(`cli ${args[0]} ${s}`, t),
    });
  }

  /** Starts a worker and its notification; resolves with it at once (await `w.started` for the run folder). */
  startWorker(opts: Omit<WorkerSpawnOptions, 'node' | 'workerJs'> & { title: string; scope?: string }): WorkerProcess {
    this.requireTrust('Training');
    const node = this.node(opts.scope);
    this.log.info(`$ ${node.command} ${this.workerJs} ${opts.args.join(' ')}`);
    const w = this.supervisor.start({ ...opts, node: node.command, workerJs: this.workerJs, env: { ...this.engineEnv(opts.scope), ...opts.env } });
    const ui: RunUi = { title: opts.title, reported: 0, total: 0, warned: new Set() };
    this.ui.set(w, ui);
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: opts.title, cancellable: true }, async (progress, token) => {
      ui.progress = progress;
      progress.report({ message: 'starting…' });
      token.onCancellationRequested(() => {
        progress.report({ message: 'stopping: finishing the step and writing a checkpoint…' });
        void w.stop(this.settings(opts.scope).stopTimeoutSeconds * 1000);
      });
      await w.exited;
    });
    this.updateStatusBar();
    this.experiments.repaint();
    return w;
  }

  /** Stops a worker of this session; resolves when it has exited. */
  stopWorker(w: WorkerProcess): Promise<ExitInfo> {
    const ui = this.ui.get(w);
    ui?.progress?.report({ message: 'stopping: finishing the step and writing a checkpoint…' });
    return w.stop(this.settings(w.key).stopTimeoutSeconds * 1000);
  }

  private onWorkerEvent(ev: WorkerEvent, w: WorkerProcess): void {
    const ui = this.ui.get(w);
    switch (ev.type) {
      case 'started': {
        this.log.info(`[${path.basename(ev.runDir)}] started on ${ev.backend} (${ev.backendDetail}): ${ev.train.images} images, ${ev.train.classes} classes, ${ev.epochs} epochs × ${ev.stepsPerEpoch} steps${ev.resumedFrom ? `, resumed from epoch ${ev.resumedFrom.epoch} step ${ev.resumedFrom.step}` : ''}`);
        if (ui) {
          ui.total = ev.epochs * ev.stepsPerEpoch;
          if (ev.resumedFrom && ui.total > 0) {
            ui.reported = Math.min(1, ev.resumedFrom.step / ui.total);
            ui.progress?.report({ increment: ui.reported * 100 });
          }
          ui.progress?.report({ message: `training on ${ev.backend}` });
        }
        this.runs.refreshSoon();
        break;
      }
      case 'progress':
        ui?.progress?.report({ message: ev.task === 'download' ? `downloading pretrained weights ${(ev.done / 1e6).toFixed(1)}/${(ev.total / 1e6).toFixed(1)} MB` : `${ev.task === 'decode' ? 'decoding images' : ev.task} ${ev.done}/${ev.total}` });
        break;
      case 'step': {
        if (ui && ui.total > 0) {
          const frac = Math.min(1, (ev.step + 1) / ui.total);
          const inc = Math.max(0, frac - ui.reported) * 100;
          ui.reported = Math.max(ui.reported, frac);
          ui.progress?.report({ increment: inc, message: `epoch ${ev.epoch + 1}/${w.startedEvent?.epochs ?? '?'} · loss ${Number.isFinite(ev.loss) ? ev.loss.toFixed(4) : ev.loss} · ${Math.round(ev.imagesPerSec)} img/s` });
        }
        this.updateStatusBar();
        break;
      }
      case 'epoch':
        this.log.info(`[${ev.runId}] epoch ${ev.epoch + 1}: train loss ${ev.trainLoss === null ? '–' : ev.trainLoss.toFixed(4)}${ev.validation ? `, MAP@R ${ev.validation.mapAtR.toFixed(4)}, P@1 ${ev.validation.precisionAt1.toFixed(4)}` : ''}${ev.best ? ' (best)' : ''}`);
        this.runs.refreshSoon();
        break;
      case 'warning':
        this.log.warn(`[${ev.runId}] ${ev.code}: ${ev.message}`);
        // Training-dynamics warnings (collapse, loss at margin) belong in the summary, not in pop-ups every epoch.
        if ((ev.code === 'backend' || ev.code === 'other') && ui && !ui.warned.has(ev.code)) {
          ui.warned.add(ev.code);
          void vscode.window.showWarningMessage(`${ui.title}: ${ev.message}`);
        }
        break;
      case 'error':
        this.log.error(`[${ev.runId}] ${ev.code}: ${ev.message}`);
        break;
      case 'done':
      case 'checkpoint':
        this.runs.refreshSoon();
        break;
    }
    if (w.runDir && ev.type !== 'step') this.reports.touchSummary(w.runDir);
    // The engine appended the event to events.jsonl before sending it: the dashboard reads it from there.
    this.dashboards.poke(w.runDir ?? (ev.type === 'started' ? ev.runDir : undefined));
  }

  private onWorkerExit(info: ExitInfo, w: WorkerProcess): void {
    const ui = this.ui.get(w);
    const title = ui?.title ?? 'Training';
    this.log.info(`[${w.runDir ? path.basename(w.runDir) : 'worker'}] exited: code ${info.exitCode}, signal ${info.signal}, status ${info.status}${info.message ? ` (${info.message})` : ''}`);
    this.updateStatusBar();
    this.experiments.repaint();
    void this.runs.refresh();
    if (w.runDir) this.reports.touchSummary(w.runDir);
    this.dashboards.poke(w.runDir);
    const runDir = w.runDir;
    const open = runDir ? [{ title: 'Open Dashboard', run: () => vscode.commands.executeCommand('embeddingLab.openDashboard', runDir) }] : [];
    if (info.crashed) {
      this.lastError = `${title}: ${info.message ?? info.status}`;
      this.showError(`${title} failed: ${(info.message ?? 'the worker crashed').replace(/\.$/, '')}.${runDir ? ' The run folder and its last checkpoint are kept.' : ''}`, open);
    } else if (info.status === 'done') {
      const best = w.done?.bestMapAtR;
      void vscode.window.showInformationMessage(`${title}: done${best !== null && best !== undefined ? `, best MAP@R ${best.toFixed(3)}` : ''}.`, ...open.map((a) => a.title)).then((c) => { if (c) open[0]?.run(); });
    } else if (info.status === 'stopped') {
      vscode.window.setStatusBarMessage(`${title}: stopped${info.forced ? ' (killed after the timeout)' : ', checkpoint written'}`, 5000);
    }
  }

  private updateStatusBar(): void {
    this.statusBar.update(this.supervisor.running(), (w) => this.ui.get(w)?.title);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reports (reports.ts)

  summaryUri(runDir: string): vscode.Uri {
    return this.reports.summaryUri(runDir);
  }

  showReport(name: string, markdown: string, reveal = true): Promise<vscode.Uri> {
    return this.reports.showReport(name, markdown, reveal);
  }

  openMarkdown(uri: vscode.Uri): Promise<void> {
    return this.reports.openMarkdown(uri);
  }

  /** For the e2e tests: the Runs view as shown, the running workers, and the activation time. */
  testState(): unknown {
    return {
      runs: this.runs.snapshot().map((n: RunNode) => ({ runDir: n.runDir, status: n.status, label: n.view.label, description: n.view.description })),
      running: this.runningDirs(),
      activationMs: this.activationMs,
      trusted: this.trusted,
      lastError: this.lastError,
      notifications: this.shown.notifications,
      quickPicks: this.shown.quickPicks,
      runsViewMessage: this.runsView.message,
    };
  }

  async dispose(): Promise<void> {
    // Workers first (bounded: VS Code gives deactivate about 5 s), then everything else in reverse order.
    await this.supervisor.stopAll(Math.min(this.settings().stopTimeoutSeconds * 1000, 3500), 4000).catch(() => undefined);
    for (const d of this.disposables.reverse()) {
      try {
        d.dispose();
      } catch {
        // keep going
      }
    }
  }
}

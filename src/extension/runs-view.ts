// The Runs view: every run folder (run.json) under the runs folders of the workspace's experiments, read from disk
// so it survives a reload. Kept current by a FileSystemWatcher on run.json and by the supervisor's events
// (refreshes are coalesced: at most one read of the disk per REFRESH_MS).
import * as vscode from 'vscode';
import { effectiveStatus, listRuns, type RunInfo } from '../core/run-folder';
import type { RunStatus } from '../protocol/events';
import { runItemView, type RunItemView, type SavedThreshold } from './logic';
import { findThreshold } from '../core/threshold';

const REFRESH_MS = 500;

export class RunNode {
  constructor(
    readonly runDir: string,
    readonly info: RunInfo,
    readonly status: RunStatus,
    readonly view: RunItemView,
  ) {}
}

export class RunsProvider implements vscode.TreeDataProvider<RunNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private nodes: RunNode[] = [];
  private loaded = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private pending: Promise<void> | undefined;
  private watchers: vscode.Disposable[] = [];
  private readonly listeners = new vscode.EventEmitter<RunNode[]>();
  /** Fires after each re-read, with the runs. */
  readonly onDidRefresh = this.listeners.event;

  constructor(
    private readonly runsDirs: () => Promise<string[]>,
    private readonly liveStatus: (runDir: string) => RunStatus | undefined,
  ) {}

  /** Watches run.json in the workspace and in runs folders outside it; call again when the settings change. */
  watch(outside: string[]): void {
    for (const w of this.watchers) w.dispose();
    const patterns: vscode.GlobPattern[] = ['**/run.json', ...outside.map((d) => new vscode.RelativePattern(vscode.Uri.file(d), '*/run.json'))];
    this.watchers = patterns.map((p) => {
      const w = vscode.workspace.createFileSystemWatcher(p);
      w.onDidCreate(() => this.refreshSoon());
      w.onDidChange(() => this.refreshSoon());
      w.onDidDelete(() => this.refreshSoon());
      return w;
    });
  }

  /** Coalesced refresh, for bursts of events. */
  refreshSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, REFRESH_MS);
  }

  /** Re-reads every runs folder now. */
  refresh(): Promise<void> {
    this.pending ??= this.read().finally(() => { this.pending = undefined; });
    return this.pending;
  }

  private async read(): Promise<void> {
    const dirs = await this.runsDirs();
    const seen = new Set<string>();
    const nodes: RunNode[] = [];
    const now = Date.now();
    for (const d of dirs) {
      for (const { dir, info } of listRuns(d)) {
        if (seen.has(dir)) continue;
        seen.add(dir);
        const status = this.liveStatus(dir) ?? effectiveStatus(info, dir);
        const view = runItemView(dir, info, status, now, savedThreshold(dir));
        // run.json says running but its process is gone (killed, out of memory): it crashed. It stays a failed
        // run for the menus (run-failed), so Resume is offered.
        if (status === 'failed' && info.status === 'running') view.description = view.description.replace(/^failed/, 'crashed');
        nodes.push(new RunNode(dir, info, status, view));
      }
    }
    nodes.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt));
    this.nodes = nodes;
    this.loaded = true;
    this.changed.fire();
    this.listeners.fire(nodes);
  }

  async all(): Promise<RunNode[]> {
    if (!this.loaded) await this.refresh();
    return this.nodes;
  }

  /** The runs as last read (no disk access). */
  snapshot(): RunNode[] {
    return this.nodes;
  }

  getTreeItem(n: RunNode): vscode.TreeItem {
    const item = new vscode.TreeItem(n.view.label, vscode.TreeItemCollapsibleState.None);
    item.description = n.view.description;
    item.tooltip = n.view.tooltip;
    item.contextValue = n.view.contextValue;
    item.iconPath = new vscode.ThemeIcon(n.view.icon);
    item.id = n.runDir;
    item.command = { command: 'embeddingLab.openDashboard', title: 'Open Dashboard', arguments: [n] };
    return item;
  }

  async getChildren(parent?: RunNode): Promise<RunNode[]> {
    if (parent) return [];
    return this.all();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.dispose();
    this.changed.dispose();
    this.listeners.dispose();
  }
}

/** The run's threshold.json (`<run>/model/threshold.json`), or why it cannot be read; null when there is none. */
export function savedThreshold(runDir: string): SavedThreshold | null {
  try {
    const t = findThreshold(runDir);
    return t ? { file: t.file, threshold: t.value.threshold, distance: t.value.distance, f1: t.value.bestF1?.f1 } : null;
  } catch (err) {
    return { file: runDir, error: (err as Error).message };
  }
}

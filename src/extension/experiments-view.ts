// The Experiments view: the `*.embedding.json` files of the workspace, found lazily (on first expansion) and kept
// current by a file watcher.
import * as path from 'node:path';
import * as vscode from 'vscode';

export class ExperimentNode {
  constructor(readonly uri: vscode.Uri) {}
}

export class ExperimentsProvider implements vscode.TreeDataProvider<ExperimentNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private files: vscode.Uri[] | undefined;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(private readonly isTraining: (file: string) => boolean) {
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.embedding.json', false, true, false);
    watcher.onDidCreate(() => this.refresh());
    watcher.onDidDelete(() => this.refresh());
    this.disposables.push(watcher);
  }

  /** Re-scans on next read. */
  refresh(): void {
    this.files = undefined;
    this.changed.fire();
  }

  /** Repaints (e.g. a run started or ended) without re-scanning. */
  repaint(): void {
    this.changed.fire();
  }

  async list(): Promise<vscode.Uri[]> {
    if (!this.files) {
      const found = await vscode.workspace.findFiles('**/*.embedding.json', '**/node_modules/**', 500);
      this.files = found.sort((a, b) => a.fsPath.localeCompare(b.fsPath));
    }
    return this.files;
  }

  getTreeItem(n: ExperimentNode): vscode.TreeItem {
    const item = new vscode.TreeItem(path.basename(n.uri.fsPath).replace(/\.embedding\.json$/i, ''), vscode.TreeItemCollapsibleState.None);
    const rel = vscode.workspace.asRelativePath(path.dirname(n.uri.fsPath), true);
    const training = this.isTraining(n.uri.fsPath);
    item.description = `${rel}${training ? ' · training' : ''}`;
    item.tooltip = n.uri.fsPath;
    item.resourceUri = n.uri;
    item.contextValue = training ? 'experiment-training' : 'experiment';
    item.iconPath = new vscode.ThemeIcon(training ? 'sync~spin' : 'beaker');
    item.command = { command: 'vscode.open', title: 'Open', arguments: [n.uri] };
    return item;
  }

  async getChildren(parent?: ExperimentNode): Promise<ExperimentNode[]> {
    if (parent) return [];
    return (await this.list()).map((u) => new ExperimentNode(u));
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

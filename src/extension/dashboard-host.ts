// The window-wide half of the dashboard's DashboardDeps, built once from the Ctx: the CLI (eval, knn), the
// supervisor, the Runs view, the workspace's tables, and the extension's folder and memento. The panel
// (dashboard-panel.ts) adds the per-webview half (post, webview URIs, roots, settings) and never sees the Ctx.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { cliErrorMessage } from './cli-runner';
import type { Ctx } from './ctx';
import type { CliNeighbor, DashboardDeps } from './dashboard-state';
import { isEmbeddingTable } from './dashboard-tables';
import { knnQueryFor, readTableMeta, tablesOfRun } from './logic';

/** What every dashboard panel of the window shares. */
export type DashboardHost = Omit<DashboardDeps, 'post' | 'webviewUri' | 'onRoots' | 'saveSettings'> & {
  /** The extension's folder (dist/ with the webview bundle, media/). */
  extensionUri: vscode.Uri;
  /** Where the panels keep their state and each run's settings (workspaceState). */
  memento: vscode.Memento;
};

export function dashboardHost(ctx: Ctx): DashboardHost {
  return {
    extensionUri: ctx.ext.extensionUri,
    memento: ctx.ext.workspaceState,
    log: (level, message) => ctx.log[level](message),
    isSupervised: (dir) => ctx.supervisor.byRunDir(dir) !== undefined,
    evalTable: async (file) => {
      const r = await ctx.runCli(['eval', file, '--json'], { cwd: path.dirname(file), scope: file });
      const report = r.json.find((x) => 'retrieval' in x);
      if (r.code !== 0 || !report) throw new Error(cliErrorMessage(r, `Evaluate ${path.basename(file)}`));
      return report; // the CLI also writes <table>.eval.json: the cache for the next snapshot
    },
    knnImage: async (file, image, k) => {
      if (!vscode.workspace.isTrusted) throw new Error('Searching with an image embeds it with the engine, which is disabled in Restricted Mode. Trust the workspace to enable it.');
      const r = await ctx.runCli(['knn', file, '--query', knnQueryFor(image, readTableMeta(file)), '-k', String(k), '--json'], { cwd: path.dirname(file), scope: image });
      const res = r.json.find((x) => Array.isArray(x.neighbors));
      if (r.code !== 0 || !res) throw new Error(cliErrorMessage(r, 'Find Similar Images'));
      return { neighbors: res.neighbors as CliNeighbor[], distance: typeof res.distance === 'string' ? res.distance : undefined };
    },
    pickImage: async () => {
      const f = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectMany: false, title: 'Query image', filters: { Images: ['png', 'jpg', 'jpeg', 'webp', 'gif', 'avif', 'tif', 'tiff'] } });
      return f?.[0]?.fsPath;
    },
    saveDialog: async (defaultPath, filters) => (await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(defaultPath), filters }))?.fsPath,
    stop: (dir) => Promise.resolve(vscode.commands.executeCommand('embeddingLab.stopTraining', dir)),
    resume: (dir) => Promise.resolve(vscode.commands.executeCommand('embeddingLab.resumeTraining', dir)),
    listTables: async () => {
      const found = await vscode.workspace.findFiles('**/*.{parquet,csv}', '**/node_modules/**', 2000);
      const runs = await ctx.runs.all();
      return [...found.map((u) => u.fsPath).filter(isEmbeddingTable), ...runs.flatMap((n) => tablesOfRun(n.runDir).map((t) => t.file))];
    },
    workspaceRoots: () => (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    onThresholdSaved: () => ctx.runs.refreshSoon(),
    listRuns: async () => (await ctx.runs.all()).map((n) => ({ runDir: n.runDir, name: path.basename(n.runDir), status: n.status })),
  };
}

// Argument helpers shared by the command functions: what a menu click, a tree node or a programmatic call passes,
// and the pickers several areas use (a run, a model).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runPaths } from '../../core/run-folder';
import { Cancelled, UserError, type Ctx } from '../ctx';
import { ExperimentNode } from '../experiments-view';
import { IMAGE_EXT, isOptionsObject, menuSelection } from '../logic';
import { RunNode } from '../runs-view';


/** An options object of a programmatic call (not a Uri, a tree node, the Explorer's `selectedUris[]`, an editor context). */
export const isObj = (a: unknown): a is Record<string, unknown> => isOptionsObject(a) && !(a instanceof vscode.Uri) && !(a instanceof RunNode) && !(a instanceof ExperimentNode);

/** The resources of an Explorer menu click, `(uri, selectedUris[])`, as paths (the clicked one first). */
export function selectionArg(a0: unknown, a1: unknown): string[] {
  const selected = Array.isArray(a1) ? a1.map((u) => pathArg(u)).filter((p): p is string => p !== undefined) : undefined;
  return menuSelection(pathArg(a0), selected);
}

export const isDir = (p: string) => {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** A file path from a Uri, a string, a tree node, or `{ uri | runDir | path }`. */
export function pathArg(a: unknown): string | undefined {
  if (a instanceof vscode.Uri) return a.fsPath;
  if (typeof a === 'string' && a) return path.resolve(a.startsWith('file://') ? vscode.Uri.parse(a).fsPath : a);
  if (a instanceof RunNode) return a.runDir;
  if (a instanceof ExperimentNode) return a.uri.fsPath;
  if (isObj(a)) {
    for (const k of ['runDir', 'uri', 'path', 'fsPath']) {
      const v = a[k];
      if (typeof v === 'string' || v instanceof vscode.Uri) return pathArg(v);
    }
  }
  return undefined;
}

/** A run folder from an argument: the folder, its run.json, or a file inside it. */
export function runDirArg(a: unknown): string | undefined {
  const p = pathArg(a);
  if (!p) return undefined;
  if (path.basename(p) === 'run.json' || path.basename(p) === 'events.jsonl') return path.dirname(p);
  return p;
}

export function opts<T extends object>(a: unknown): Partial<T> {
  return isObj(a) ? (a as Partial<T>) : {};
}

export function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Cancelled();
  return v;
}

export function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

export async function pickRun(ctx: Ctx, title: string, filter: (n: RunNode) => boolean = () => true): Promise<string> {
  const runs = (await ctx.runs.all()).filter(filter);
  if (runs.length === 0) throw new UserError(`${title}: no matching run in the Runs view.`);
  if (runs.length === 1) return runs[0].runDir;
  const pick = await vscode.window.showQuickPick(
    runs.map((n) => ({ label: n.view.label, description: n.view.description, detail: n.runDir, runDir: n.runDir })),
    { title, matchOnDescription: true, matchOnDetail: true },
  );
  return must(pick).runDir;
}

export function hasCheckpoint(runDir: string): boolean {
  return fs.existsSync(path.join(runPaths(runDir).last, 'model.json')) || fs.existsSync(runPaths(runDir).last);
}

export function hasModel(runDir: string): boolean {
  return hasCheckpoint(runDir) || fs.existsSync(path.join(runPaths(runDir).branch, 'model.json'));
}

/** An image the user is looking at: an image preview tab (custom editor) or a text editor on an image path. */
export function activeImage(): string | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
  return uri && uri.scheme === 'file' && IMAGE_EXT.test(uri.fsPath) ? uri.fsPath : undefined;
}

export async function withCancellableProgress<T>(title: string, fn: (report: (message: string, fraction?: number) => void, signal: AbortSignal) => Promise<T>): Promise<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    const ac = new AbortController();
    token.onCancellationRequested(() => ac.abort());
    let last = 0;
    return fn((message, fraction) => {
      if (fraction === undefined) return progress.report({ message });
      const inc = Math.max(0, fraction - last) * 100;
      last = Math.max(last, fraction);
      progress.report({ message, increment: inc });
    }, ac.signal);
  });
}
export async function pickModel(ctx: Ctx, title: string): Promise<string> {
  const runs = (await ctx.runs.all()).filter((n) => hasModel(n.runDir));
  const items: Array<vscode.QuickPickItem & { dir?: string }> = runs.map((n) => ({ label: n.view.label, description: n.view.description, detail: n.runDir, dir: n.runDir }));
  items.push({ label: '$(folder) Browse for a model folder…', description: 'a folder written by Export Model' });
  const pick = must(await ctx.quickPick(items, { title, matchOnDetail: true }));
  if (pick.dir) return pick.dir;
  const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Model folder (model.json + preprocessing.json) or run folder' });
  return must(f?.[0]).fsPath;
}

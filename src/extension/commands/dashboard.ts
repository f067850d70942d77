// The dashboard (the webview), the run summary (markdown) and Compare Runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { UserError, type CommandFn, type Ctx } from '../ctx';
import { isObj, must, opts, pathArg, pickRun, runDirArg } from './args';

export async function dashboardRun(ctx: Ctx, a0: unknown, title: string): Promise<string> {
  let runDir = runDirArg(a0);
  if (!runDir) {
    const live = ctx.runningDirs();
    runDir = live.length === 1 ? live[0] : await pickRun(ctx, title);
  }
  if (!fs.existsSync(runDir)) throw new UserError(`run folder does not exist: ${runDir}`);
  return runDir;
}

/** `openDashboard(runDir?, { table? })`: the run's dashboard webview (revealed when already open). */
export const openDashboard: CommandFn = async (ctx, a0, a1) => {
  const runDir = await dashboardRun(ctx, a0, 'Open Dashboard');
  const table = pathArg(opts<{ table: string }>(a1).table) ?? (isObj(a0) ? pathArg((a0 as { table?: unknown }).table) : undefined);
  if (table && !fs.existsSync(table)) throw new UserError(`table does not exist: ${table}`);
  const p = ctx.dashboards.open(runDir, table);
  return { runDir, panel: 'webview', table: p.session.table };
};

export const showRunSummary: CommandFn = async (ctx, a0) => {
  const runDir = await dashboardRun(ctx, a0, 'Show Run Summary');
  const uri = ctx.summaryUri(runDir);
  await ctx.openMarkdown(uri);
  return { runDir, uri: uri.toString() };
};

/**
 * `compareRuns(run, selected?)`: the first run's dashboard with the other runs overlaid (loss and validation curves,
 * a table of final metrics and config differences). With one run given, the others are picked (several at once).
 */
export const compareRuns: CommandFn = async (ctx, a0, a1) => {
  const selected = (Array.isArray(a1) ? a1 : Array.isArray(a0) ? a0 : []).map(runDirArg).filter((d): d is string => !!d);
  const first = (Array.isArray(a0) ? undefined : runDirArg(a0)) ?? selected[0] ?? await pickRun(ctx, 'Compare Runs');
  let others = selected.filter((d) => path.resolve(d) !== path.resolve(first));
  if (!others.length) {
    const runs = (await ctx.runs.all()).filter((n) => path.resolve(n.runDir) !== path.resolve(first));
    if (!runs.length) throw new UserError('Compare Runs: there is no other run in the Runs view.');
    const picks = await vscode.window.showQuickPick(
      runs.map((n) => ({ label: n.view.label, description: n.view.description, detail: n.runDir, runDir: n.runDir })),
      { title: `Compare ${path.basename(first)} with…`, canPickMany: true, matchOnDescription: true, matchOnDetail: true },
    );
    others = must(picks?.length ? picks : undefined).map((p) => p.runDir);
  }
  const p = await ctx.dashboards.compare([first, ...others]);
  return { runDir: first, compared: p.session.comparedRuns };
};

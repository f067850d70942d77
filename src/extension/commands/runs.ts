// Runs view actions: refresh, delete, reveal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { effectiveStatus, readRunInfo, runPaths } from '../../core/run-folder';
import { Cancelled, UserError, type CommandFn } from '../ctx';
import { isInside } from '../logic';
import { opts, pickRun, runDirArg } from './args';

export const refreshRuns: CommandFn = async (ctx) => {
  ctx.experiments.refresh();
  await ctx.runs.refresh();
  return { runs: ctx.runs.snapshot().length };
};

export const deleteRun: CommandFn = async (ctx, a0, a1) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Delete Run', (n) => n.status !== 'running');
  const force = Boolean(opts<{ force: boolean }>(a1).force);
  const info = readRunInfo(runDir);
  if (!info && !fs.existsSync(runPaths(runDir).config)) throw new UserError(`not a run folder: ${runDir}`);
  if (ctx.supervisor.byRunDir(runDir) || (info && effectiveStatus(info) === 'running')) throw new UserError(`${path.basename(runDir)} is running; stop it first.`);
  if (!force) {
    const ok = await vscode.window.showWarningMessage(`Delete run ${path.basename(runDir)}?`, { modal: true, detail: `This deletes ${runDir} with its checkpoints, exported models and tables.` }, 'Delete');
    if (ok !== 'Delete') throw new Cancelled();
  }
  const uri = vscode.Uri.file(runDir);
  try {
    await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: true });
  } catch {
    await vscode.workspace.fs.delete(uri, { recursive: true, useTrash: false });
  }
  ctx.log.info(`deleted ${runDir}`);
  await ctx.runs.refresh();
  return { deleted: runDir };
};

export const revealRun: CommandFn = async (ctx, a0) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Reveal Run');
  const uri = vscode.Uri.file(runDir);
  const inWorkspace = (vscode.workspace.workspaceFolders ?? []).some((f) => isInside(runDir, f.uri.fsPath));
  if (inWorkspace) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(fs.existsSync(runPaths(runDir).run) ? runPaths(runDir).run : runDir));
  else await vscode.commands.executeCommand('revealFileInOS', uri);
  return { runDir };
};

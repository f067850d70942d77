// Train, Stop and Resume: the worker process (node dist/worker.js) through the supervisor.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ConfigError, loadConfig } from '../../core/config';
import { effectiveStatus, readRunInfo, runPaths } from '../../core/run-folder';
import { Cancelled, ShownError, UserError, type CommandFn, type Ctx } from '../ctx';
import { canStartRun, runsDirFor, workerArgs } from '../logic';
import { isAlive, stopPid, fixRunJson, type WorkerProcess } from '../supervisor';
import { hasCheckpoint, must, opts, pathArg, pickRun, runDirArg } from './args';

export async function configFromArgs(ctx: Ctx, a0: unknown): Promise<string> {
  const given = pathArg(a0);
  if (given) return given;
  const ed = vscode.window.activeTextEditor?.document;
  if (ed && ed.uri.scheme === 'file' && ed.fileName.endsWith('.embedding.json')) return ed.fileName;
  const files = await ctx.experiments.list();
  if (files.length === 0) {
    throw new UserError('No *.embedding.json in this workspace.', [{ title: 'New Experiment…', run: () => vscode.commands.executeCommand('embeddingLab.newExperiment') }]);
  }
  if (files.length === 1) return files[0].fsPath;
  const pick = await vscode.window.showQuickPick(files.map((u) => ({ label: path.basename(u.fsPath), description: vscode.workspace.asRelativePath(u), uri: u })), { title: 'Train Experiment' });
  return must(pick).uri.fsPath;
}

/** Resolves with the run folder as soon as it exists: the `started` event, or a new folder in the runs folder. */
export function runDirOf(ctx: Ctx, w: WorkerProcess, runsDir: string | undefined, before: Set<string>): Promise<string> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (dir?: string, err?: Error) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      if (dir) resolve(dir);
      else reject(err);
    };
    // The crash itself is shown by the supervisor's exit notification.
    w.started.then((ev) => finish(ev.runDir), (err: Error) => finish(undefined, new ShownError(err.message)));
    // A big dataset is decoded before `started`; the folder (with config.json) exists long before. Only trust a
    // new folder when no other worker of this session is starting into the same runs folder.
    const timer = setInterval(() => {
      if (!runsDir || w.runDir) {
        if (w.runDir) finish(w.runDir);
        return;
      }
      const others = ctx.supervisor.running().filter((x) => x !== w && !x.runDir);
      if (others.length) return;
      let names: string[];
      try {
        names = fs.readdirSync(runsDir);
      } catch {
        return;
      }
      const fresh = names.map((n) => path.join(runsDir, n)).filter((d) => !before.has(d) && fs.existsSync(path.join(d, 'config.json')));
      if (fresh.length === 1) {
        w.runDir = fresh[0];
        finish(fresh[0]);
      }
    }, 250);
  });
}

export function listDir(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir).map((n) => path.join(dir, n)));
  } catch {
    return new Set();
  }
}

export const trainExperiment: CommandFn = async (ctx, a0, a1) => {
  const file = await configFromArgs(ctx, a0);
  const force = Boolean(opts<{ force: boolean }>(a1).force);
  if (!fs.existsSync(file)) throw new UserError(`config file not found: ${file}`);
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && path.resolve(d.fileName) === path.resolve(file));
  if (doc?.isDirty) await doc.save();
  let name: string;
  try {
    name = loadConfig(file).name;
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new UserError(`${path.basename(file)} is not a valid experiment: ${err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`, [
        { title: 'Open Config', run: () => vscode.window.showTextDocument(vscode.Uri.file(file)) },
      ]);
    }
    throw err;
  }
  const settings = ctx.settings(file);
  const same = ctx.supervisor.byKey(file);
  if (same.length) {
    const limitOk = canStartRun(ctx.supervisor.running().length, settings.maxConcurrentRuns).enabled;
    const action = limitOk ? 'Start Another Run' : 'Stop It and Start Again';
    if (!force) {
      const which = same.map((w) => (w.runDir ? path.basename(w.runDir) : 'starting')).join(', ');
      const choice = await vscode.window.showWarningMessage(`${path.basename(file)} is already training (${which}).`, { modal: true, detail: limitOk ? 'Start a second run of the same experiment?' : `Only ${settings.maxConcurrentRuns} run(s) may train at once (embeddingLab.maxConcurrentRuns).` }, action);
      if (choice !== action) throw new Cancelled();
    }
    if (!limitOk) await Promise.all(same.map((w) => ctx.stopWorker(w)));
  }
  const can = canStartRun(ctx.supervisor.running().length, settings.maxConcurrentRuns);
  if (!can.enabled) {
    throw new UserError(can.reason ?? 'too many runs', [{ title: 'Stop Training', run: () => vscode.commands.executeCommand('embeddingLab.stopTraining') }]);
  }
  const runsDir = runsDirFor(file, settings.runsFolder);
  ctx.rememberRunsDir(runsDir);
  const before = listDir(runsDir);
  const w = ctx.startWorker({
    args: workerArgs({ config: file, runsDir, backend: settings.backend, backendPaths: [ctx.backendsDir] }),
    cwd: path.dirname(file), key: file, title: `Training ${name}`, scope: file,
  });
  const runDir = await runDirOf(ctx, w, runsDir, before);
  ctx.runs.refreshSoon();
  return { runDir };
};

export async function runningRunDir(ctx: Ctx, a0: unknown): Promise<string> {
  const given = runDirArg(a0);
  if (given) return given;
  const live = ctx.runningDirs();
  const onDisk = (await ctx.runs.all()).filter((n) => n.status === 'running').map((n) => n.runDir);
  const all = [...new Set([...live, ...onDisk])];
  const starting = ctx.supervisor.running().filter((w) => !w.runDir);
  if (all.length === 0 && starting.length === 0) throw new UserError('No training run is running.');
  if (all.length === 1 && starting.length === 0) return all[0];
  if (all.length === 0 && starting.length === 1) return `worker:${starting[0].pid}`;
  const pick = await vscode.window.showQuickPick(all.map((d) => ({ label: path.basename(d), detail: d, d })), { title: 'Stop Training' });
  return must(pick).d;
}

export const stopTraining: CommandFn = async (ctx, a0) => {
  const runDir = await runningRunDir(ctx, a0);
  const timeoutMs = ctx.settings().stopTimeoutSeconds * 1000;
  const w = runDir.startsWith('worker:') ? ctx.supervisor.running().find((x) => `worker:${x.pid}` === runDir) : ctx.supervisor.byRunDir(runDir);
  if (w) {
    const info = await ctx.stopWorker(w);
    return { exitCode: info.exitCode, status: info.status, runDir: w.runDir, forced: info.forced };
  }
  // A run this window did not start (e.g. before a reload): stop it by the pid in run.json.
  const info = readRunInfo(runDir);
  if (!info) throw new UserError(`not a run folder: ${runDir}`);
  const status = effectiveStatus(info);
  if (status !== 'running' || info.pid === null) return { exitCode: null, status, runDir, forced: false };
  ctx.log.info(`stopping run ${runDir} (pid ${info.pid}, not started by this window)`);
  const r = await stopPid(info.pid, timeoutMs);
  for (let i = 0; i < 20 && readRunInfo(runDir)?.status === 'running' && !isAlive(info.pid); i++) await new Promise((res) => setTimeout(res, 100));
  await fixRunJson(runDir, 'stopped', undefined);
  ctx.runs.refreshSoon();
  return { exitCode: null, status: readRunInfo(runDir)?.status ?? 'stopped', runDir, forced: r.forced };
};

export const resumeTraining: CommandFn = async (ctx, a0) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Resume Training', (n) => n.status !== 'running' && hasCheckpoint(n.runDir));
  const info = readRunInfo(runDir);
  if (!fs.existsSync(runPaths(runDir).config)) throw new UserError(`cannot resume: ${runDir} is not a run folder (no config.json)`);
  if (ctx.supervisor.byRunDir(runDir) || (info && effectiveStatus(info) === 'running')) throw new UserError(`${path.basename(runDir)} is already running.`);
  if (!hasCheckpoint(runDir)) throw new UserError(`cannot resume ${path.basename(runDir)}: it has no checkpoint yet (${runPaths(runDir).last}).`);
  const scope = info?.configFile ?? runDir;
  const settings = ctx.settings(scope);
  const can = canStartRun(ctx.supervisor.running().length, settings.maxConcurrentRuns);
  if (!can.enabled) throw new UserError(can.reason ?? 'too many runs', [{ title: 'Stop Training', run: () => vscode.commands.executeCommand('embeddingLab.stopTraining') }]);
  ctx.rememberRunsDir(path.dirname(runDir));
  const w = ctx.startWorker({
    args: workerArgs({ resume: runDir, backend: settings.backend, backendPaths: [ctx.backendsDir] }),
    cwd: path.dirname(runDir), key: info?.configFile ?? undefined, title: `Resuming ${path.basename(runDir)}`, scope,
  });
  w.runDir = runDir;
  await w.started.catch((err: Error) => { throw new ShownError(`resuming ${path.basename(runDir)} failed: ${err.message}`); });
  ctx.runs.refreshSoon();
  return { runDir };
};

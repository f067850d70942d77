// One function per contributed command. Every command takes optional arguments that skip its pickers (the e2e
// tests and other extensions call them through executeCommand) and returns a result; without arguments it asks
// through quick picks and dialogs. Engine work happens only in child processes: `node dist/worker.js` (training,
// through the supervisor) and `node dist/cli.js … --json` (embed, knn, eval, export, env).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ConfigError, loadConfig, nameFromFile, scaffoldConfig, validateConfig } from '../core/config';
import type { BackboneName } from '../core/config-types';
import { effectiveStatus, readRunInfo, runPaths } from '../core/run-folder';
import type { LossType } from '../protocol/events';
import { cliErrorMessage } from './cli-runner';
import { Cancelled, ShownError, UserError, type CommandFn, type Ctx } from './ctx';
import {
  environmentGuidance,
  environmentMarkdown,
  environmentVerdict,
  probeCuda,
  probeNvidiaSmi,
  type BackendProbe,
  type EnvironmentReport,
  type PretrainedCache,
} from './environment';
import { ExperimentNode } from './experiments-view';
import { installBackend, type NativeBackend, backendPackage } from './install';
import {
  canStartRun,
  chooseTableForImage,
  defaultTableOut,
  evalMarkdown,
  IMAGE_EXT,
  isInside,
  isOptionsObject,
  knnQueryFor,
  menuSelection,
  readTableMeta,
  runDirOfModel,
  runsDirFor,
  tablesOfRun,
  withoutQuery,
  workerArgs,
  type CommandNeeds,
} from './logic';
import { RunNode } from './runs-view';
import { isAlive, stopPid, fixRunJson, type WorkerProcess } from './supervisor';

// ---------------------------------------------------------------------------------------------------------------
// Argument helpers

/** An options object of a programmatic call (not a Uri, a tree node, the Explorer's `selectedUris[]`, an editor context). */
const isObj = (a: unknown): a is Record<string, unknown> => isOptionsObject(a) && !(a instanceof vscode.Uri) && !(a instanceof RunNode) && !(a instanceof ExperimentNode);

/** The resources of an Explorer menu click, `(uri, selectedUris[])`, as paths (the clicked one first). */
function selectionArg(a0: unknown, a1: unknown): string[] {
  const selected = Array.isArray(a1) ? a1.map((u) => pathArg(u)).filter((p): p is string => p !== undefined) : undefined;
  return menuSelection(pathArg(a0), selected);
}

const isDir = (p: string) => {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** A file path from a Uri, a string, a tree node, or `{ uri | runDir | path }`. */
function pathArg(a: unknown): string | undefined {
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
function runDirArg(a: unknown): string | undefined {
  const p = pathArg(a);
  if (!p) return undefined;
  if (path.basename(p) === 'run.json' || path.basename(p) === 'events.jsonl') return path.dirname(p);
  return p;
}

function opts<T extends object>(a: unknown): Partial<T> {
  return isObj(a) ? (a as Partial<T>) : {};
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Cancelled();
  return v;
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

async function pickRun(ctx: Ctx, title: string, filter: (n: RunNode) => boolean = () => true): Promise<string> {
  const runs = (await ctx.runs.all()).filter(filter);
  if (runs.length === 0) throw new UserError(`${title}: no matching run in the Runs view.`);
  if (runs.length === 1) return runs[0].runDir;
  const pick = await vscode.window.showQuickPick(
    runs.map((n) => ({ label: n.view.label, description: n.view.description, detail: n.runDir, runDir: n.runDir })),
    { title, matchOnDescription: true, matchOnDetail: true },
  );
  return must(pick).runDir;
}

function hasCheckpoint(runDir: string): boolean {
  return fs.existsSync(path.join(runPaths(runDir).last, 'model.json')) || fs.existsSync(runPaths(runDir).last);
}

function hasModel(runDir: string): boolean {
  return hasCheckpoint(runDir) || fs.existsSync(path.join(runPaths(runDir).branch, 'model.json'));
}

/** An image the user is looking at: an image preview tab (custom editor) or a text editor on an image path. */
function activeImage(): string | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputCustom || input instanceof vscode.TabInputText ? input.uri : undefined;
  return uri && uri.scheme === 'file' && IMAGE_EXT.test(uri.fsPath) ? uri.fsPath : undefined;
}

async function withCancellableProgress<T>(title: string, fn: (report: (message: string, fraction?: number) => void, signal: AbortSignal) => Promise<T>): Promise<T> {
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

// ---------------------------------------------------------------------------------------------------------------
// New Experiment

interface NewExperimentArgs {
  type: LossType;
  dataFolder: string;
  backbone?: BackboneName;
  /** Start from pretrained weights: a hub id (hf:owner/repo) or a .safetensors file; '' = from scratch. */
  pretrained?: string;
  file?: string;
  name?: string;
  validation?: string;
  overwrite?: boolean;
}

/** New Experiment's "where to start" step: from scratch, a hub id typed in, or a weights file picked. */
async function pickStart(): Promise<string> {
  const start = must(await vscode.window.showQuickPick([
    { label: 'From scratch', description: 'random initial weights; fine with many images per class', start: 'scratch' as const },
    { label: 'Pretrained: Hugging Face hub…', description: 'e.g. hf:timm/resnet18.a1_in1k (downloaded once into the hub cache)', start: 'hub' as const },
    { label: 'Pretrained: a weights file…', description: 'a PyTorch ResNet state dict (.safetensors, torchvision or timm naming)', start: 'file' as const },
  ], { title: 'New Experiment: start from' }));
  if (start.start === 'scratch') return '';
  if (start.start === 'hub') {
    return must(await vscode.window.showInputBox({
      title: 'New Experiment: pretrained model on the Hugging Face hub', value: 'hf:timm/resnet18.a1_in1k',
      validateInput: (v) => (/^hf:[^/\s]+\/[^/\s]+$/.test(v) ? undefined : 'hf:<owner>/<repo>, e.g. hf:timm/resnet50.a1_in1k'),
    }));
  }
  const picked = await vscode.window.showOpenDialog({
    title: 'New Experiment: pretrained weights', canSelectFiles: true, canSelectFolders: false, canSelectMany: false,
    filters: { 'safetensors state dict': ['safetensors'] }, openLabel: 'Start From These Weights',
  });
  return must(picked?.[0]).fsPath;
}

/** `<data>/train` + `<data>/validation|val` when the folder is split that way, else the folder itself. */
function splitDataFolder(dataFolder: string): { train: string; validation?: string } {
  const sub = (n: string) => fs.existsSync(path.join(dataFolder, n)) && fs.statSync(path.join(dataFolder, n)).isDirectory();
  if (sub('train')) {
    const val = ['validation', 'val', 'valid'].find(sub);
    return { train: path.join(dataFolder, 'train'), validation: val ? path.join(dataFolder, val) : undefined };
  }
  return { train: dataFolder };
}

const newExperiment: CommandFn = async (ctx, a0) => {
  const o = opts<NewExperimentArgs>(a0);
  const interactive = !isObj(a0);
  const type = o.type ?? must(await vscode.window.showQuickPick([
    { label: 'triplet', description: 'anchor, positive, negative; semi-hard online mining (P×K batches)', type: 'triplet' as const },
    { label: 'contrastive', description: 'similar / dissimilar pairs with a margin', type: 'contrastive' as const },
    { label: 'quartet', description: 'two negatives and two margins (Chen et al., 2017)', type: 'quartet' as const },
  ], { title: 'New Experiment: loss' }))?.type;
  if (!['triplet', 'contrastive', 'quartet'].includes(type)) throw new UserError(`type must be triplet, contrastive or quartet (got ${JSON.stringify(type)})`);
  let dataFolder = o.dataFolder ? pathArg(o.dataFolder) : undefined;
  if (!dataFolder) {
    const picked = await vscode.window.showOpenDialog({
      title: 'New Experiment: images (one subfolder per class, or train/ and validation/ subfolders)', canSelectFolders: true, canSelectFiles: false,
      canSelectMany: false, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri, openLabel: 'Use These Images',
    });
    dataFolder = must(picked?.[0]).fsPath;
  }
  if (!fs.existsSync(dataFolder) || !fs.statSync(dataFolder).isDirectory()) throw new UserError(`data folder does not exist: ${dataFolder}`);
  const pretrained = o.pretrained ?? (interactive ? await pickStart() : '');
  const hubArch = /^hf:[^/]+\/(resnet(18|34|50))\b/.exec(pretrained)?.[1] as BackboneName | undefined;
  const backbones: Array<{ label: string; description: string; b: BackboneName }> = pretrained ? [
    { label: 'resnet18', description: 'ResNet-18 (basic blocks, 512 features)', b: 'resnet18' as const },
    { label: 'resnet34', description: 'ResNet-34 (basic blocks, 512 features)', b: 'resnet34' as const },
    { label: 'resnet50', description: 'ResNet-50 (bottleneck blocks, 2048 features)', b: 'resnet50' as const },
  ] : [
    { label: 'convnet', description: 'small and fast; good for a first run on the CPU', b: 'convnet' as const },
    { label: 'resnet18', description: 'ResNet-18 (11 M parameters); better features, needs a native or GPU backend', b: 'resnet18' as const },
  ];
  const backbone = o.backbone ?? hubArch ?? must(await vscode.window.showQuickPick(backbones, { title: pretrained ? 'New Experiment: the architecture of the pretrained weights' : 'New Experiment: backbone' }))?.b;
  let file = o.file ? pathArg(o.file) : undefined;
  if (!file) {
    const dir = workspaceRoot() ?? path.dirname(dataFolder);
    const base = o.name ?? `${path.basename(dataFolder)}-${type}`.replace(/[^A-Za-z0-9._-]+/g, '-');
    let n = 1;
    let cand = path.join(dir, `${base}.embedding.json`);
    while (fs.existsSync(cand)) cand = path.join(dir, `${base}-${++n}.embedding.json`);
    file = cand;
    if (interactive) {
      const name = await vscode.window.showInputBox({
        title: 'New Experiment: name', value: path.basename(cand).replace(/\.embedding\.json$/, ''),
        validateInput: (v) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? (fs.existsSync(path.join(dir, `${v}.embedding.json`)) ? `${v}.embedding.json already exists` : undefined) : "letters, digits, '.', '_' or '-', starting with a letter or digit"),
      });
      file = path.join(dir, `${must(name)}.embedding.json`);
    }
  }
  if (!file.endsWith('.embedding.json')) file += file.endsWith('.json') ? '' : '.embedding.json';
  if (!file.endsWith('.embedding.json')) throw new UserError(`the config file name must end in .embedding.json (got ${file})`);
  if (fs.existsSync(file) && !o.overwrite) throw new UserError(`${file} already exists (pass overwrite: true to replace it)`);
  const configDir = path.dirname(file);
  const split = o.validation ? { train: dataFolder, validation: pathArg(o.validation) } : splitDataFolder(dataFolder);
  const rel = (p: string) => {
    const r = path.relative(configDir, p).split(path.sep).join('/');
    return r === '' ? '.' : r.startsWith('.') || path.isAbsolute(r) ? r : `./${r}`;
  };
  const obj = scaffoldConfig(type, {
    // No "$schema": VS Code validates *.embedding.json through the extension's jsonValidation contribution, and a
    // path into the install folder (its name holds the version) would break on the next update and elsewhere.
    name: o.name ?? nameFromFile(file), train: rel(split.train), validation: split.validation ? rel(split.validation) : undefined, backbone,
    ...(pretrained ? { pretrained: pretrained.startsWith('hf:') ? pretrained : rel(path.resolve(pretrained)) } : {}),
  });
  const { issues } = validateConfig(obj, configDir, { defaultName: nameFromFile(file) });
  if (issues.length) throw new UserError(`the new config would not be valid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  fs.mkdirSync(configDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
  ctx.log.info(`wrote ${file}`);
  ctx.experiments.refresh();
  const uri = vscode.Uri.file(file);
  if (interactive) await vscode.window.showTextDocument(uri);
  return uri;
};

// ---------------------------------------------------------------------------------------------------------------
// Train, Stop, Resume

async function configFromArgs(ctx: Ctx, a0: unknown): Promise<string> {
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
function runDirOf(ctx: Ctx, w: WorkerProcess, runsDir: string | undefined, before: Set<string>): Promise<string> {
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

function listDir(dir: string): Set<string> {
  try {
    return new Set(fs.readdirSync(dir).map((n) => path.join(dir, n)));
  } catch {
    return new Set();
  }
}

const trainExperiment: CommandFn = async (ctx, a0, a1) => {
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

async function runningRunDir(ctx: Ctx, a0: unknown): Promise<string> {
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

const stopTraining: CommandFn = async (ctx, a0) => {
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

const resumeTraining: CommandFn = async (ctx, a0) => {
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

// ---------------------------------------------------------------------------------------------------------------
// Dashboard (the webview) and the run summary (markdown)

async function dashboardRun(ctx: Ctx, a0: unknown, title: string): Promise<string> {
  let runDir = runDirArg(a0);
  if (!runDir) {
    const live = ctx.runningDirs();
    runDir = live.length === 1 ? live[0] : await pickRun(ctx, title);
  }
  if (!fs.existsSync(runDir)) throw new UserError(`run folder does not exist: ${runDir}`);
  return runDir;
}

/** `openDashboard(runDir?, { table? })`: the run's dashboard webview (revealed when already open). */
const openDashboard: CommandFn = async (ctx, a0, a1) => {
  const runDir = await dashboardRun(ctx, a0, 'Open Dashboard');
  const table = pathArg(opts<{ table: string }>(a1).table) ?? (isObj(a0) ? pathArg((a0 as { table?: unknown }).table) : undefined);
  if (table && !fs.existsSync(table)) throw new UserError(`table does not exist: ${table}`);
  const p = ctx.dashboards.open(runDir, table);
  return { runDir, panel: 'webview', table: p.session.table };
};

const showRunSummary: CommandFn = async (ctx, a0) => {
  const runDir = await dashboardRun(ctx, a0, 'Show Run Summary');
  const uri = ctx.summaryUri(runDir);
  await ctx.openMarkdown(uri);
  return { runDir, uri: uri.toString() };
};

/** For the e2e tests: what each open dashboard panel posted (counts by message type, step points, status). */
const dashboardState: CommandFn = async (ctx) => ctx.dashboards.testState();

/**
 * `compareRuns(run, selected?)`: the first run's dashboard with the other runs overlaid (loss and validation curves,
 * a table of final metrics and config differences). With one run given, the others are picked (several at once).
 */
const compareRuns: CommandFn = async (ctx, a0, a1) => {
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

// ---------------------------------------------------------------------------------------------------------------
// Embed, Find Similar, Evaluate, Export

interface EmbedResult {
  table: string;
  rows: number;
  skipped: number;
}

async function pickModel(ctx: Ctx, title: string): Promise<string> {
  const runs = (await ctx.runs.all()).filter((n) => hasModel(n.runDir));
  const items: Array<vscode.QuickPickItem & { dir?: string }> = runs.map((n) => ({ label: n.view.label, description: n.view.description, detail: n.runDir, dir: n.runDir }));
  items.push({ label: '$(folder) Browse for a model folder…', description: 'a folder written by Export Model' });
  const pick = must(await ctx.quickPick(items, { title, matchOnDetail: true }));
  if (pick.dir) return pick.dir;
  const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Model folder (model.json + preprocessing.json) or run folder' });
  return must(f?.[0]).fsPath;
}

async function embed(ctx: Ctx, folder: string, model: string, out: string, title: string): Promise<EmbedResult> {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const backend = ctx.settings(folder).backend;
  const args = ['embed', '--model', model, folder, '--out', out, '--json', ...(backend !== 'auto' ? ['--backend', backend] : [])];
  const r = await withCancellableProgress(title, (report, signal) => ctx.runCli(args, {
    cwd: path.dirname(folder), signal, scope: folder,
    onJson: (o) => {
      if (o.type === 'progress' && typeof o.done === 'number' && typeof o.total === 'number') report(`${o.done}/${o.total} images`, o.total ? o.done / o.total : undefined);
    },
  }));
  const res = r.json.find((o) => o.type === 'embedded');
  if (r.code !== 0 || !res) throw new UserError(cliErrorMessage(r, `Embed ${path.basename(folder)}`));
  ctx.runs.refreshSoon();
  return { table: String(res.table), rows: Number(res.rows), skipped: Number(res.skipped ?? 0) };
}

/**
 * `embedFolder(folder?, options?)`, or from the Explorer `(clicked, selectedUris[])`: every selected folder is
 * embedded with one model, each into its own table; one notification lists them. Returns the table of a single
 * folder, or an array when several were embedded.
 */
const embedFolder: CommandFn = async (ctx, a0, a1) => {
  const o = opts<{ model: string; out: string; notify: boolean }>(a1);
  const picked = selectionArg(a0, a1);
  let folders = picked.filter(isDir);
  if (picked.length && folders.length === 0) throw new UserError(`not a folder: ${picked[0]}`);
  const ignored = picked.filter((p) => !isDir(p));
  if (ignored.length) ctx.log.info(`Embed Folder: ${ignored.length} selected file(s) are not folders and are left out: ${ignored.join(', ')}`);
  if (folders.length === 0) {
    const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, title: 'Embed Folder: images to embed', defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
    folders = must(f?.length ? f : undefined).map((u) => u.fsPath);
  }
  for (const folder of folders) if (!isDir(folder)) throw new UserError(`not a folder: ${folder}`);
  if (o.out && folders.length > 1) throw new UserError(`out names one table; ${folders.length} folders were given`);
  const names = folders.length === 1 ? path.basename(folders[0]) : `${folders.length} folders`;
  const model = o.model ? path.resolve(o.model) : await pickModel(ctx, `Embed ${names} with which model?`);
  if (!fs.existsSync(model)) throw new UserError(`model folder does not exist: ${model}`);
  const results: EmbedResult[] = [];
  for (const folder of folders) {
    const out = o.out ? path.resolve(o.out) : defaultTableOut(model, folder);
    const res = await embed(ctx, folder, model, out, `Embedding ${path.basename(folder)}${folders.length > 1 ? ` (${results.length + 1} of ${folders.length})` : ''}`);
    ctx.log.info(`embedded ${res.rows} images into ${res.table}${res.skipped ? ` (${res.skipped} unreadable skipped)` : ''}`);
    results.push(res);
  }
  if (!isObj(a1) || o.notify) {
    const skippedNote = (r: EmbedResult) => (r.skipped ? ` (${r.skipped} unreadable skipped, listed in ${path.basename(r.table)}.skipped.txt)` : '');
    const message = results.length === 1
      ? `Embedded ${results[0].rows} images into ${path.basename(results[0].table)}${skippedNote(results[0])}.`
      : `Embedded ${results.length} folders: ${results.map((r, i) => `${path.basename(folders[i])} (${r.rows} images into ${path.basename(r.table)}${skippedNote(r)})`).join(', ')}.`;
    const last = results[results.length - 1];
    const runDir = runDirOfModel(model);
    const actions = [...(runDir ? ['Open in Dashboard'] : []), ...(results.length === 1 ? ['Evaluate'] : []), 'Reveal'];
    void ctx.notify(message, ...actions).then((c) => {
      if (c === 'Open in Dashboard') void vscode.commands.executeCommand('embeddingLab.openDashboard', runDir, { table: last.table });
      if (c === 'Evaluate') void vscode.commands.executeCommand('embeddingLab.evaluateTable', vscode.Uri.file(last.table));
      if (c === 'Reveal') void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(last.table));
    });
  }
  return results.length === 1 ? results[0] : results;
};

export interface Neighbor {
  rank: number;
  path: string;
  label: string;
  distance: number;
}

/**
 * `findSimilarImages(image?, { table?, k? })`, or from the Explorer `(clicked, selectedUris[])`: the first selected
 * image. The neighbours leave the query itself out; a menu call shows them in a quick pick with thumbnails.
 */
const findSimilarImages: CommandFn = async (ctx, a0, a1) => {
  const o = opts<{ table: string; k: number }>(a1);
  const interactive = !isObj(a1) && typeof a0 !== 'string';
  const selection = selectionArg(a0, a1);
  const images = selection.filter((p) => IMAGE_EXT.test(p));
  if (selection.length && images.length === 0) throw new UserError(`not an image: ${selection[0]}`);
  let image = images[0] ?? activeImage();
  if (images.length > 1) ctx.log.info(`Find Similar Images: ${images.length} images selected; searching for the first, ${image}`);
  if (!image) {
    const f = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectMany: false, title: 'Find Similar Images: query image', filters: { Images: ['png', 'jpg', 'jpeg', 'webp', 'gif', 'avif', 'tif', 'tiff'] } });
    image = must(f?.[0]).fsPath;
  }
  if (!fs.existsSync(image)) throw new UserError(`image does not exist: ${image}`);
  let table = o.table ? path.resolve(o.table) : undefined;
  if (!table) {
    const runs = await ctx.runs.all();
    table = chooseTableForImage(image, runs.map((n) => n.runDir));
    if (!table) {
      const run = runs.find((n) => hasModel(n.runDir));
      if (!run) throw new UserError('Find Similar Images needs an embedding table or a trained run; train an experiment first.', [{ title: 'Train Experiment', run: () => vscode.commands.executeCommand('embeddingLab.trainExperiment') }]);
      const folder = path.dirname(image);
      const res = await embed(ctx, folder, run.runDir, defaultTableOut(run.runDir, folder), `Embedding ${path.basename(folder)} first`);
      table = res.table;
    }
  }
  if (!fs.existsSync(table)) throw new UserError(`table does not exist: ${table}`);
  const meta = readTableMeta(table);
  const k = Math.max(1, Math.floor(Number(o.k ?? 10)));
  const query = knnQueryFor(image, meta);
  const inTable = query !== path.resolve(image) ? query : undefined;
  // One more than asked when the query is a row of the table: its own row (distance 0) is dropped.
  const r = await ctx.runCli(['knn', table, '--query', query, '-k', String(inTable ? k + 1 : k), '--json'], { cwd: path.dirname(table), scope: image });
  const res = r.json.find((x) => Array.isArray(x.neighbors));
  if (r.code !== 0 || !res) throw new UserError(cliErrorMessage(r, 'Find Similar Images'));
  const hits = withoutQuery(res.neighbors as Neighbor[], inTable, k);
  const neighbors = hits.map((n) => ({
    rank: n.rank, label: n.label, distance: n.distance, relPath: n.path,
    path: meta?.folder && !path.isAbsolute(n.path) ? path.join(meta.folder, ...n.path.split('/')) : n.path,
  }));
  ctx.log.info(`similar to ${image} in ${table}: ${neighbors.map((n) => `${n.relPath} (${n.distance.toFixed(4)})`).join(', ')}`);
  // An open dashboard on this table shows the result too (the query is the image).
  ctx.dashboards.postNeighbors(table, image, hits, typeof res.distance === 'string' ? res.distance : String(meta?.distance ?? 'euclidean'));
  const show = async () => {
    const items = neighbors.map((n) => ({
      label: `${n.rank}. ${path.basename(n.path)}`, description: `distance ${n.distance.toFixed(4)}${n.label ? ` · ${n.label}` : ''}`, detail: n.relPath,
      iconPath: vscode.Uri.file(n.path), n,
    }));
    const pick = await ctx.quickPick(items, { title: `Similar to ${path.basename(image)} (${path.basename(table)})`, matchOnDescription: true, matchOnDetail: true });
    if (pick) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(pick.n.path));
  };
  if (interactive) await show();
  return neighbors;
};

async function pickTable(ctx: Ctx): Promise<string> {
  const runs = await ctx.runs.all();
  const items: Array<vscode.QuickPickItem & { file?: string }> = [];
  for (const n of runs) for (const t of tablesOfRun(n.runDir)) items.push({ label: path.basename(t.file), description: n.view.label, detail: t.file, file: t.file });
  items.push({ label: '$(file) Browse…' });
  const pick = must(await vscode.window.showQuickPick(items, { title: 'Evaluate Table', matchOnDescription: true }));
  if (pick.file) return pick.file;
  const f = await vscode.window.showOpenDialog({ canSelectFiles: true, filters: { Tables: ['parquet', 'csv'] }, title: 'Embedding table' });
  return must(f?.[0]).fsPath;
}

const evaluateTable: CommandFn = async (ctx, a0) => {
  const table = pathArg(a0) ?? await pickTable(ctx);
  if (!fs.existsSync(table)) throw new UserError(`table does not exist: ${table}`);
  const r = await withCancellableProgress(`Evaluating ${path.basename(table)}`, (_report, signal) => ctx.runCli(['eval', table, '--json'], { cwd: path.dirname(table), signal, scope: table }));
  const report = r.json.find((x) => 'retrieval' in x || 'table' in x);
  if (r.code !== 0 || !report) throw new UserError(cliErrorMessage(r, `Evaluate ${path.basename(table)}`));
  await ctx.showReport(`eval-${path.basename(table)}`, evalMarkdown(report));
  return report;
};

const exportModel: CommandFn = async (ctx, a0, a1) => {
  const o = opts<{ type: 'branch' | 'full'; out: string }>(a1);
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Export Model', (n) => hasCheckpoint(n.runDir));
  if (!fs.existsSync(runPaths(runDir).config)) throw new UserError(`not a run folder: ${runDir}`);
  const type = o.type ?? must(await vscode.window.showQuickPick([
    { label: 'branch', description: 'image → vector (for embedding and search)', t: 'branch' as const },
    { label: 'full', description: 'the siamese/triplet/quartet network: streams → distances', t: 'full' as const },
  ], { title: 'Export Model: which model?' }))?.t;
  if (type !== 'branch' && type !== 'full') throw new UserError(`type must be branch or full (got ${JSON.stringify(type)})`);
  const out = o.out ? path.resolve(o.out) : undefined;
  if (out) fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = await withCancellableProgress(`Exporting ${path.basename(runDir)} (${type})`, (_report, signal) =>
    ctx.runCli(['export', runDir, '--type', type, ...(out ? ['--out', out] : [])], { cwd: runDir, signal, scope: runDir }));
  if (r.code !== 0) throw new UserError(cliErrorMessage(r, `Export ${path.basename(runDir)}`));
  const m = / to (.+)$/m.exec(r.stdout);
  const dir = out ?? (m ? m[1].trim() : type === 'branch' ? runPaths(runDir).branch : runPaths(runDir).full);
  if (!isObj(a1)) {
    void ctx.notify(`Exported the ${type} model to ${dir}.`, 'Reveal').then((c) => {
      if (c) void vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(dir));
    });
  }
  return { dir };
};

// ---------------------------------------------------------------------------------------------------------------
// Environment and backends

const checkEnvironment: CommandFn = async (ctx, a0) => {
  const reveal = opts<{ show: boolean }>(a0).show !== false;
  const node = ctx.node();
  const [cli, nvidiaSmi] = await Promise.all([
    ctx.runCli(['env', '--json', '--backend-path', ctx.backendsDir], { timeoutMs: 60_000 }),
    probeNvidiaSmi(),
  ]);
  // `env --json` prints one indented JSON document (not JSON lines).
  let env: { node?: string; platform?: string; backends?: BackendProbe[]; engines?: BackendProbe[]; pretrained?: PretrainedCache } | undefined = cli.json[0];
  if (!env) {
    try {
      env = JSON.parse(cli.stdout) as typeof env;
    } catch {
      env = undefined;
    }
  }
  const cliError = cli.code === 0 && env ? undefined : cliErrorMessage(cli, 'embedlab env');
  const linuxX64 = process.platform === 'linux' && process.arch === 'x64';
  // The CUDA libraries matter only where there is an NVIDIA driver: no probing (and no noise) on a CPU-only machine.
  const cuda = linuxX64 && nvidiaSmi.found ? await probeCuda() : { checked: false, libraries: [], ldLibraryPath: [] };
  const backends = env?.backends ?? [];
  const engines = env?.engines ?? [];
  const report: EnvironmentReport = {
    backends, engines, nvidiaSmi, cuda, ...(env?.pretrained ? { pretrained: env.pretrained } : {}),
    node: { version: env?.node ?? '?', platform: env?.platform ?? `${process.platform}-${process.arch}`, worker: node.command },
    verdict: environmentVerdict({ backends, nvidiaSmi, cliError }),
    guidance: environmentGuidance({ platform: process.platform, arch: process.arch, backends, engines, nvidiaSmi, cuda, cliError }),
    ...(cliError ? { cliError } : {}),
  };
  await ctx.showReport('environment', environmentMarkdown(report), reveal);
  return report;
};

function installer(kind: NativeBackend): CommandFn {
  return async (ctx, a0) => {
    const programmatic = isObj(a0);
    const pkg = backendPackage(kind);
    ctx.requireTrust(`Installing ${pkg}`);
  const res = await withCancellableProgress(kind === 'webgpu' ? `Installing ${pkg} (Dawn's WebGPU bindings, about 50 MB to download)` : `Installing ${pkg} (libtensorflow download included; this can take minutes)`, (report, signal) =>
      installBackend(kind, ctx.backendsDir, {
        signal,
        onLog: (t) => {
          ctx.logLines('npm', t);
          const last = t.split('\n').map((l) => l.trim()).filter(Boolean).pop();
          if (last) report(last.slice(0, 120));
        },
      }));
    if (res.ok) {
      ctx.log.info(res.message);
      if (!programmatic) {
        void ctx.notify(`${res.message} Backend "auto" now prefers it; new runs use it.`, 'Check Environment').then((c) => {
          if (c) void vscode.commands.executeCommand('embeddingLab.checkEnvironment');
        });
      }
    } else {
      ctx.log.error(res.message);
      if (!programmatic) ctx.showError(res.message);
    }
    return { ok: res.ok, log: res.log, message: res.message };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Runs view actions

const refreshRuns: CommandFn = async (ctx) => {
  ctx.experiments.refresh();
  await ctx.runs.refresh();
  return { runs: ctx.runs.snapshot().length };
};

const deleteRun: CommandFn = async (ctx, a0, a1) => {
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

const revealRun: CommandFn = async (ctx, a0) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Reveal Run');
  const uri = vscode.Uri.file(runDir);
  const inWorkspace = (vscode.workspace.workspaceFolders ?? []).some((f) => isInside(runDir, f.uri.fsPath));
  if (inWorkspace) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(fs.existsSync(runPaths(runDir).run) ? runPaths(runDir).run : runDir));
  else await vscode.commands.executeCommand('revealFileInOS', uri);
  return { runDir };
};

/** Embed a folder with the model of a run (Runs view context action). */
const embedWithModel: CommandFn = async (ctx, a0) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Embed with Model', (n) => hasModel(n.runDir));
  const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: `Embed a folder with ${path.basename(runDir)}`, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
  const folder = must(f?.[0]);
  // Through the trust gate, like a menu click (never the function directly).
  return ctx.invoke('embedFolder', folder, { model: runDirOfModel(runDir) ?? runDir, notify: true });
};

const testState: CommandFn = async (ctx, a0) => {
  if (opts<{ refresh: boolean }>(a0).refresh) await ctx.runs.refresh();
  return ctx.testState();
};

/** One entry per contributed command: the function and what it needs (see `CommandNeeds`: a command that starts a
 * process declares which, and so needs a trusted workspace; the gate in Ctx derives from this). */
export interface CommandSpec extends CommandNeeds {
  run: CommandFn;
}

export const COMMANDS = {
  newExperiment: { run: newExperiment },
  trainExperiment: { run: trainExperiment, process: 'worker', doing: 'Training' },
  stopTraining: { run: stopTraining },
  resumeTraining: { run: resumeTraining, process: 'worker', doing: 'Resuming a run' },
  openDashboard: { run: openDashboard },
  showRunSummary: { run: showRunSummary },
  compareRuns: { run: compareRuns },
  embedFolder: { run: embedFolder, process: 'cli', doing: 'Embedding a folder' },
  embedWithModel: { run: embedWithModel, process: 'cli', doing: 'Embedding a folder' },
  findSimilarImages: { run: findSimilarImages, process: 'cli', doing: 'Finding similar images' },
  evaluateTable: { run: evaluateTable, process: 'cli', doing: 'Evaluating a table' },
  exportModel: { run: exportModel, process: 'cli', doing: 'Exporting a model' },
  checkEnvironment: { run: checkEnvironment, process: 'cli', doing: 'Checking the environment' },
  installGpuBackend: { run: installer('gpu'), process: 'npm', doing: 'Installing the GPU backend' },
  installNativeCpuBackend: { run: installer('cpu'), process: 'npm', doing: 'Installing the native CPU backend' },
  installWebGpuBackend: { run: installer('webgpu'), process: 'npm', doing: 'Installing the WebGPU backend' },
  refreshRuns: { run: refreshRuns },
  deleteRun: { run: deleteRun },
  revealRun: { run: revealRun },
  _testState: { run: testState },
  _dashboardState: { run: dashboardState },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

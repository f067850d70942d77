// The extension's decisions that need no VS Code API: which commands may run (workspace trust, running workers,
// the concurrency limit), how a run looks in the Runs view, which node runs the worker and with which arguments,
// default output paths. Unit-tested without vscode. The Runs view's text (run-status.ts), the reports' markdown
// (report-markdown.ts) and the command arguments (command-args.ts) are their own modules, re-exported here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateConfig } from '../core/config';

export const EXT = 'embeddingLab';

export * from './run-status';
export * from './report-markdown';
export * from './command-args';

// ---------------------------------------------------------------------------------------------------------------
// Command enablement

/**
 * What a command needs, declared once per entry of the command table (`COMMANDS` in commands.ts): `process` names
 * the child process it may start (the training worker, the `embedlab` CLI, npm). A command that starts a process
 * needs a trusted workspace: the trust gate derives from this declaration alone (see docs/extension.md).
 */
export interface CommandNeeds {
  process?: 'worker' | 'cli' | 'npm';
  /** What it does, for the Restricted Mode sentence ("Training", "Embedding a folder"). */
  doing?: string;
}

export const needsTrust = (n: CommandNeeds | undefined): boolean => n?.process !== undefined;

export interface EnablementState {
  trusted: boolean;
  /** Running runs: this window's workers and runs whose run.json says running with a live process. */
  running: readonly string[];
  /** The command was given a target (a run folder, a tree item): it decides itself. */
  hasTarget?: boolean;
}

export interface Enablement {
  enabled: boolean;
  reason?: string;
}

/** The sentence shown when a command that starts a process is invoked in Restricted Mode. */
export function restrictedReason(doing: string | undefined): string {
  return `${doing ?? 'This command'} is disabled in Restricted Mode: it runs the Embedding Lab engine (Node.js child processes) on files of this workspace. Trust the workspace (Manage Workspace Trust) to enable it.`;
}

/** Whether a command may run now, and if not, the sentence that says why (shown instead of running it). */
export function commandEnablement(command: string, needs: CommandNeeds | undefined, s: EnablementState): Enablement {
  if (needsTrust(needs) && !s.trusted) return { enabled: false, reason: restrictedReason(needs?.doing) };
  if (command === `${EXT}.stopTraining` && s.running.length === 0 && !s.hasTarget) {
    return { enabled: false, reason: 'No training run is running in this window.' };
  }
  return { enabled: true };
}

/** The concurrency limit: may another run start, and if not, why. */
export function canStartRun(running: number, max: number): Enablement {
  const limit = Math.max(1, Math.floor(max || 1));
  if (running < limit) return { enabled: true };
  return {
    enabled: false,
    reason: `${running} training run${running === 1 ? ' is' : 's are'} already running and embeddingLab.maxConcurrentRuns is ${limit}. Stop a run first, or raise the setting.`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Worker command line

export interface NodeChoice {
  command: string;
  env: Record<string, string>;
}

/** The node that runs the worker and the CLI: the nodePath setting, else VS Code's own binary as plain node. */
export function chooseNode(nodePathSetting: string | undefined, execPath: string): NodeChoice {
  const configured = (nodePathSetting ?? '').trim();
  if (configured) return { command: configured, env: {} };
  return { command: execPath, env: { ELECTRON_RUN_AS_NODE: '1' } };
}

export type BackendSetting = 'auto' | 'wasm' | 'cpu' | 'webgpu' | 'tensorflow' | 'tensorflow-gpu';

export interface TrainArgsOptions {
  config?: string;
  resume?: string;
  runsDir?: string;
  /** 'auto' leaves the config's training.backend in charge. */
  backend?: BackendSetting;
  backendPaths?: string[];
}

export function workerArgs(o: TrainArgsOptions): string[] {
  const args: string[] = [];
  if (o.resume) args.push('--resume', o.resume);
  else if (o.config) {
    args.push('--config', o.config);
    if (o.runsDir) args.push('--out', o.runsDir);
  } else throw new Error('workerArgs: give config or resume');
  if (o.backend && o.backend !== 'auto') args.push('--backend', o.backend);
  for (const p of o.backendPaths ?? []) args.push('--backend-path', p);
  return args;
}

/** The runs folder of a config: the setting (default "runs") relative to the config's folder, or absolute. */
export function runsDirFor(configFile: string, runsFolderSetting: string | undefined): string {
  const s = (runsFolderSetting ?? '').trim() || 'runs';
  return path.isAbsolute(s) ? s : path.resolve(path.dirname(configFile), s);
}

// ---------------------------------------------------------------------------------------------------------------
// Paths

/** Is `dir` a run folder (has run.json or config.json)? */
export function isRunDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'run.json')) || fs.existsSync(path.join(dir, 'config.json'));
}

/** The run folder a model lives in: the run itself, or `<run>/model/<type>`; undefined for a foreign model folder. */
export function runDirOfModel(model: string): string | undefined {
  const abs = path.resolve(model);
  if (isRunDir(abs)) return abs;
  const up2 = path.resolve(abs, '..', '..');
  if (path.basename(path.dirname(abs)) === 'model' && isRunDir(up2)) return up2;
  return undefined;
}

/** Default table of Embed Folder: `<runDir>/tables/<folderName>.parquet`, or beside a foreign model folder. */
export function defaultTableOut(model: string, folder: string): string {
  const name = (path.basename(path.resolve(folder)) || 'images').replace(/[^A-Za-z0-9._-]+/g, '-');
  const run = runDirOfModel(model);
  return path.join(run ?? path.resolve(model), 'tables', `${name}.parquet`);
}

export const IMAGE_EXT = /\.(png|jpe?g|webp|gif|avif|tiff?)$/i;
export const TABLE_EXT = /\.(parquet|csv)$/i;

/** Tables (.parquet/.csv) in `<runDir>/tables`, newest first. */
export function tablesOfRun(runDir: string): Array<{ file: string; mtimeMs: number }> {
  const dir = path.join(runDir, 'tables');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: Array<{ file: string; mtimeMs: number }> = [];
  for (const n of names) {
    if (!TABLE_EXT.test(n)) continue;
    try {
      out.push({ file: path.join(dir, n), mtimeMs: fs.statSync(path.join(dir, n)).mtimeMs });
    } catch {
      // vanished
    }
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs);
}

export interface TableMeta {
  model?: string;
  folder?: string;
  dim?: number;
  distance?: string;
  count?: number;
}

/** `<table>.meta.json`, the sidecar the table writer leaves (no Parquet reader needed in the host). */
export function readTableMeta(table: string): TableMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(`${table}.meta.json`, 'utf8')) as TableMeta;
  } catch {
    return undefined;
  }
}

/** `child` inside `parent` (or equal)? */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The table Find Similar uses for an image when none is given: among the tables of the runs (newest run first),
 * the newest whose embedded folder contains the image; else the newest table of the newest run that has one.
 */
export function chooseTableForImage(image: string, runDirs: readonly string[]): string | undefined {
  let fallback: string | undefined;
  for (const run of runDirs) {
    for (const t of tablesOfRun(run)) {
      const meta = readTableMeta(t.file);
      if (meta?.folder && isInside(image, meta.folder)) return t.file;
      fallback ??= t.file;
    }
  }
  return fallback;
}

/** The knn --query for an image: its path in the table when the table embedded its folder (exact row, distance 0). */
export function knnQueryFor(image: string, meta: TableMeta | undefined): string {
  if (meta?.folder && isInside(image, meta.folder)) return path.relative(meta.folder, path.resolve(image)).split(path.sep).join('/');
  return path.resolve(image);
}

// ---------------------------------------------------------------------------------------------------------------
// Config diagnostics

/** The text range of a field path (`loss.type`, `data.imageSize[0]`) in a JSON document: the value of the deepest
 * segment found (an unknown path underlines its nearest existing parent; `(root)` the whole object's brace). */
export function jsonPathRange(text: string, fieldPath: string): { start: number; end: number } {
  const segs: Array<string | number> = [];
  for (const m of fieldPath.matchAll(/\[(\d+)\]|([^.[\]]+)/g)) segs.push(m[1] !== undefined ? Number(m[1]) : m[2]);
  let i = 0;
  const ws = () => { while (i < text.length && /\s/.test(text[i])) i++; };
  const skipString = () => {
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
  };
  const skipValue = () => {
    ws();
    const c = text[i];
    if (c === '"') return skipString();
    if (c !== '{' && c !== '[') {
      while (i < text.length && !/[,}\]\s]/.test(text[i])) i++;
      return;
    }
    let depth = 0;
    while (i < text.length) {
      const ch = text[i];
      if (ch === '"') { skipString(); continue; }
      if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) { i++; return; }
      }
      i++;
    }
  };
  const valueRange = () => {
    ws();
    const start = i;
    const save = i;
    skipValue();
    const end = text[start] === '{' || text[start] === '[' ? start + 1 : Math.max(i, start + 1);
    i = save;
    return { start, end };
  };
  ws();
  let range = { start: i, end: Math.min(text.length, i + 1) };
  if (fieldPath === '(root)' || fieldPath === '') return range;
  for (const seg of segs) {
    ws();
    let found = false;
    if (typeof seg === 'string' && text[i] === '{') {
      i++;
      for (;;) {
        ws();
        if (text[i] !== '"') break;
        const ks = i;
        skipString();
        let key: unknown;
        try { key = JSON.parse(text.slice(ks, i)); } catch { break; }
        ws();
        if (text[i] !== ':') break;
        i++;
        if (key === seg) { found = true; break; }
        skipValue();
        ws();
        if (text[i] === ',') i++;
        else break;
      }
    } else if (typeof seg === 'number' && text[i] === '[') {
      i++;
      for (let n = 0; ; n++) {
        ws();
        if (text[i] === ']' || i >= text.length) break;
        if (n === seg) { found = true; break; }
        skipValue();
        ws();
        if (text[i] === ',') i++;
        else break;
      }
    }
    if (!found) return range;
    range = valueRange();
  }
  return range;
}

export interface ConfigProblem {
  start: number;
  end: number;
  message: string;
}

/**
 * What training would refuse in a config's text, each problem at its field: the same validation as `embedlab
 * train` (core/config), shown by the extension as errors (VS Code's JSON service reports schema problems only as
 * warnings). A JSON syntax error gives none here: the JSON service reports it, as an error.
 */
export function configProblems(text: string, configDir: string, defaultName: string): ConfigProblem[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return [];
  }
  const { issues } = validateConfig(raw, configDir, { defaultName });
  return issues.map((iss) => ({ ...jsonPathRange(text, iss.path), message: iss.path && iss.path !== '(root)' ? `${iss.path}: ${iss.message}` : iss.message }));
}

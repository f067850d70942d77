// The extension's decisions that need no VS Code API: which commands may run (workspace trust, running workers,
// the concurrency limit), how a run looks in the Runs view, which node runs the worker and with which arguments,
// default output paths, and the markdown of the run summary and evaluation reports. Unit-tested without vscode.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { validateConfig } from '../core/config';
import type { RunInfo } from '../core/run-folder';
import type { EpochEvent, RunStatus, WorkerEvent } from '../protocol/events';

export const EXT = 'embeddingLab';

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
// Runs view

export interface RunItemView {
  label: string;
  description: string;
  tooltip: string;
  contextValue: string;
  /** A codicon id. */
  icon: string;
}

export const STATUS_ICON: Record<RunStatus, string> = {
  running: 'sync~spin',
  done: 'pass',
  failed: 'error',
  stopped: 'debug-pause',
};

/** "just now", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400 * 1.5) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export function formatMetric(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(3);
}

/** The Runs view item of one run: read from its run.json (and the status after a liveness check). */
export function runItemView(runDir: string, info: RunInfo, status: RunStatus, now = Date.now()): RunItemView {
  const label = path.basename(runDir);
  const when = Date.parse(status === 'running' ? info.startedAt : info.endedAt ?? info.updatedAt ?? info.startedAt);
  const parts: string[] = [status];
  if (status === 'running') parts.push(`epoch ${Math.min(info.epoch + 1, info.epochs)}/${info.epochs}`);
  else if (status !== 'done') parts.push(`${info.epoch}/${info.epochs} epochs`);
  if (info.backend) parts.push(info.backend);
  if (info.bestMapAtR !== null && info.bestMapAtR !== undefined) parts.push(`MAP@R ${formatMetric(info.bestMapAtR)}`);
  if (Number.isFinite(when)) parts.push(formatAge(now - when));
  const tooltip = [
    `${info.name} (${info.lossType})`,
    `status: ${status}${status !== info.status ? ` (run.json says ${info.status}; its process is gone)` : ''}`,
    `backend: ${info.backend ?? 'not chosen yet'}`,
    `epochs: ${info.epoch}/${info.epochs}, step ${info.step}`,
    `best MAP@R: ${formatMetric(info.bestMapAtR)}, last MAP@R: ${formatMetric(info.lastMapAtR)}`,
    `started: ${info.startedAt}${info.endedAt ? `, ended: ${info.endedAt}` : ''}`,
    ...(info.error ? [`error: ${info.error}`] : []),
    runDir,
  ].join('\n');
  return { label, description: parts.join(' · '), tooltip, contextValue: `run-${status}`, icon: STATUS_ICON[status] };
}

/** Status bar text for a running worker from its latest step event. */
export function statusBarText(name: string, step?: { epoch: number; loss: number; imagesPerSec: number }, epochs?: number, others = 0): string {
  const more = others > 0 ? ` (+${others})` : '';
  if (!step) return `$(sync~spin) ${name}: starting…${more}`;
  const loss = Number.isFinite(step.loss) ? step.loss.toFixed(4) : String(step.loss);
  return `$(sync~spin) ${name}: epoch ${step.epoch + 1}${epochs ? `/${epochs}` : ''} · loss ${loss} · ${Math.round(step.imagesPerSec)} img/s${more}`;
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
// Reports

const f4 = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : String(x ?? '–'));

/** The run summary that stands in for the dashboard: status, per-epoch table, warnings, the last events. */
export function runSummaryMarkdown(runDir: string, info: RunInfo | undefined, status: RunStatus | undefined, events: readonly WorkerEvent[]): string {
  const lines: string[] = [`# Run ${path.basename(runDir)}`, ''];
  if (info) {
    lines.push(
      `| | |`, `|---|---|`,
      `| status | **${status ?? info.status}** |`,
      `| experiment | ${info.name} (${info.lossType}) |`,
      `| backend | ${info.backend ?? '–'} |`,
      `| progress | ${(status ?? info.status) === 'running' ? `epoch ${Math.min(info.epoch + 1, info.epochs)}/${info.epochs} (${info.epoch} done)` : `${info.epoch}/${info.epochs} epochs done`}, step ${info.step} |`,
      `| best MAP@R | ${formatMetric(info.bestMapAtR)} |`,
      `| last MAP@R | ${formatMetric(info.lastMapAtR)} |`,
      `| started | ${info.startedAt} |`,
      `| ended | ${info.endedAt ?? '–'} |`,
      ...(info.error ? [`| error | ${info.error.replace(/\|/g, '\\|')} |`] : []),
      `| config | ${info.configFile ?? '–'} |`,
      `| folder | ${runDir} |`,
      '',
    );
  } else {
    lines.push('_No run.json in this folder (yet)._', '');
  }
  const started = [...events].reverse().find((e) => e.type === 'started');
  if (started && started.type === 'started') {
    lines.push(
      `Training set: ${started.train.images} images in ${started.train.classes} classes` +
        (started.validation ? `; validation: ${started.validation.images} images in ${started.validation.classes} classes` : '') +
        `. ${started.parameters.toLocaleString('en-US')} parameters, ${started.stepsPerEpoch} steps per epoch, batch ${started.batchSize}, backend ${started.backend} (${started.backendDetail}).`,
      '',
    );
  }
  const epochs = events.filter((e): e is EpochEvent => e.type === 'epoch');
  const baseline = events.find((e) => e.type === 'baseline');
  if (baseline && baseline.type === 'baseline') lines.push(baselineLine(baseline.validation.mapAtR, epochs), '');
  if (epochs.length) {
    lines.push('## Epochs', '', '| epoch | train loss | P@1 | MAP@R | R-precision | seconds | best |', '|---:|---:|---:|---:|---:|---:|:---:|');
    for (const e of epochs) {
      lines.push(`| ${e.epoch + 1} | ${f4(e.trainLoss)} | ${f4(e.validation?.precisionAt1)} | ${f4(e.validation?.mapAtR)} | ${f4(e.validation?.rPrecision)} | ${e.seconds.toFixed(1)} | ${e.best ? '★' : ''} |`);
    }
    lines.push('');
  }
  const lastStep = [...events].reverse().find((e) => e.type === 'step');
  if (lastStep && lastStep.type === 'step') {
    lines.push(`Last step ${lastStep.step} (epoch ${lastStep.epoch + 1}): loss ${f4(lastStep.loss)}, positive distance ${f4(lastStep.posDist)}, negative distance ${f4(lastStep.negDist)}, ${Math.round(lastStep.imagesPerSec)} images/s.`, '');
  }
  // Epochs as a person counts them, from 1: the epoch of the checkpoint's last step (event fields stay 0-based).
  const spe = started && started.type === 'started' ? started.stepsPerEpoch : 0;
  const epochOfStep = (step: number, fallback: number) => (spe > 0 ? Math.floor(Math.max(0, step - 1) / spe) + 1 : fallback + 1);
  const notes = events.filter((e) => e.type === 'warning' || e.type === 'error' || e.type === 'checkpoint' || e.type === 'done');
  if (notes.length) {
    lines.push('## Events', '');
    for (const e of notes.slice(-30)) {
      if (e.type === 'warning') lines.push(`- ${e.time} ⚠ ${e.code}: ${e.message}`);
      else if (e.type === 'error') lines.push(`- ${e.time} ✗ ${e.code}: ${e.message.split('\n')[0]}`);
      else if (e.type === 'checkpoint') lines.push(`- ${e.time} checkpoint (${e.kind}) after step ${e.step}, epoch ${epochOfStep(e.step, e.epoch)}`);
      else if (e.type === 'done') lines.push(`- ${e.time} ${e.status} after ${e.seconds.toFixed(1)} s, best MAP@R ${formatMetric(e.bestMapAtR)}`);
    }
    lines.push('');
  }
  lines.push(`Full history: \`${path.join(runDir, 'events.jsonl')}\``, '');
  return lines.join('\n');
}

/** "Before training: MAP@R 0.412; best after training 0.655 (+0.243)": what training gained or lost against the baseline. */
export function baselineLine(before: number, epochs: readonly EpochEvent[]): string {
  const vals = epochs.map((e) => e.validation?.mapAtR).filter((v): v is number => typeof v === 'number');
  if (!vals.length) return `Before training (step 0): validation MAP@R ${before.toFixed(4)}.`;
  const best = Math.max(...vals);
  const d = best - before;
  return `Before training (step 0): validation MAP@R ${before.toFixed(4)}; best after training ${best.toFixed(4)} (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(4)}${d < 0 ? ', worse than the network it started from' : ''}).`;
}

/** The evaluation report of `embedlab eval --json`, as markdown. Unknown fields are listed raw at the end. */
export function evalMarkdown(report: Record<string, unknown>): string {
  const r = report as {
    table?: string; rows?: number; dim?: number; labels?: number; distance?: string;
    retrieval?: { precisionAt1?: number; recallAtK?: Record<string, number>; rPrecision?: number; mapAtR?: number; count?: number };
    clustering?: { nmi: number; k: number } | null;
    verification?: { rocAuc?: number; bestF1?: { threshold: number; f1: number; precision: number; recall: number }; atPrecision?: { target: number; threshold: number; precision: number; recall: number } | null; positives?: number; negatives?: number; sampled?: boolean };
    fewShot?: { accuracy: number; count: number; k: number };
  };
  const lines = [`# Evaluation of ${r.table ? path.basename(r.table) : 'table'}`, '', `${r.rows ?? '?'} rows × ${r.dim ?? '?'}, ${r.labels ?? '?'} labels, ${r.distance ?? '?'} distance.`, ''];
  if (r.retrieval) {
    lines.push(`## Retrieval (leave-one-out over ${r.retrieval.count ?? '?'} queries)`, '', '| metric | value |', '|---|---:|',
      `| Precision@1 | ${f4(r.retrieval.precisionAt1)} |`,
      ...Object.entries(r.retrieval.recallAtK ?? {}).map(([k, v]) => `| Recall@${k} | ${f4(v)} |`),
      `| R-Precision | ${f4(r.retrieval.rPrecision)} |`,
      `| MAP@R | ${f4(r.retrieval.mapAtR)} |`, '');
  }
  lines.push(r.clustering ? `## Clustering\n\nNMI of k-means (k = ${r.clustering.k}): ${f4(r.clustering.nmi)}\n` : '## Clustering\n\nskipped\n');
  if (r.verification) {
    const v = r.verification;
    lines.push(`## Verification (${v.positives ?? '?'} positive, ${v.negatives ?? '?'} negative pairs${v.sampled ? ', sampled' : ''})`, '',
      `- ROC AUC: ${f4(v.rocAuc)}`,
      v.bestF1 ? `- best F1 ${f4(v.bestF1.f1)} at distance ≤ ${f4(v.bestF1.threshold)} (precision ${f4(v.bestF1.precision)}, recall ${f4(v.bestF1.recall)})` : '- best F1: –',
      v.atPrecision ? `- precision ≥ ${v.atPrecision.target}: distance ≤ ${f4(v.atPrecision.threshold)} (precision ${f4(v.atPrecision.precision)}, recall ${f4(v.atPrecision.recall)})` : '- target precision: not reachable at any threshold',
      '');
  }
  if (r.fewShot) lines.push(`## Few-shot`, '', `kNN classification (k = ${r.fewShot.k}) against the reference: accuracy ${f4(r.fewShot.accuracy)} over ${r.fewShot.count} queries`, '');
  lines.push('## Raw', '', '```json', JSON.stringify(report, null, 2), '```', '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Command arguments

/**
 * The context object VS Code passes after the resource for editor-title menus (`{ groupId, editorIndex }`): a plain
 * object, but not options of ours.
 */
export function isEditorContext(a: unknown): boolean {
  return a !== null && typeof a === 'object' && typeof (a as { groupId?: unknown }).groupId === 'number';
}

/**
 * An options object passed by code (tests, other extensions, our own internal calls): a plain object. Not a Uri,
 * a tree item, the `selectedUris[]` array VS Code passes for an Explorer menu, nor an editor-title context.
 */
export function isOptionsObject(a: unknown): a is Record<string, unknown> {
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return false;
  const proto = Object.getPrototypeOf(a) as unknown;
  return (proto === Object.prototype || proto === null) && !isEditorContext(a);
}

/** Options objects or strings passed by code rather than by a menu (which passes a Uri or tree item, and an array). */
export function isProgrammaticCall(args: readonly unknown[]): boolean {
  return args.some((a) => typeof a === 'string' || isOptionsObject(a));
}

/**
 * The resources an Explorer menu command acts on. VS Code passes `(clicked, selected[])`: with several items
 * selected and the click on one of them, every selected item (the clicked one first); a click outside the selection
 * acts on the clicked item alone.
 */
export function menuSelection(clicked: string | undefined, selected: readonly string[] | undefined): string[] {
  const sel = (selected ?? []).filter((p) => typeof p === 'string' && p);
  if (clicked === undefined) return [...new Set(sel)];
  if (!sel.includes(clicked)) return [clicked];
  return [...new Set([clicked, ...sel])];
}

export interface KnnHit {
  rank: number;
  path: string;
  label: string;
  distance: number;
}

/**
 * The neighbours of a query without the query itself (as `eval`'s leave-one-out does): drops the row whose path is
 * the query's path in the table, keeps at most k, and ranks them again from 1.
 */
export function withoutQuery<T extends KnnHit>(hits: readonly T[], queryInTable: string | undefined, k: number): T[] {
  const q = queryInTable?.split(path.sep).join('/');
  return hits.filter((h) => q === undefined || h.path !== q).slice(0, k).map((h, i) => ({ ...h, rank: i + 1 }));
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

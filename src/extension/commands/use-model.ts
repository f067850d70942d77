// Use the model (issue 16): Compare Images (`embedlab verify`) and Classify Folder (`embedlab classify`), both in a
// `node dist/cli.js … --json` child process, like Embed Folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findThreshold } from '../../core/threshold';
import { cliErrorMessage } from '../cli-runner';
import { UserError, type CommandFn, type Ctx } from '../ctx';
import { IMAGE_EXT, runDirOfModel, tablesOfRun } from '../logic';
import { classificationViewOf, compareImagesHtml, verifyResultOf, type VerifyResult } from '../use-model-views';
import { isDir, isObj, must, opts, pathArg, pickModel, selectionArg, withCancellableProgress } from './args';

const IMAGE_FILTER = { Images: ['png', 'jpg', 'jpeg', 'webp', 'gif', 'avif', 'tif', 'tiff'] };

interface UseModelOptions { model: string; threshold: number | string; show: boolean }
interface ClassifyOptions extends UseModelOptions { folder: string; reference: string; closedSet: boolean; method: 'centroid' | 'knn'; k: number; out: string }

const engineFlags = (ctx: Ctx, scope: string) => {
  const backend = ctx.settings(scope).backend;
  return backend !== 'auto' ? ['--backend', backend] : [];
};

/** What to do when the model has no threshold: say how to make one. */
const noThresholdActions = [
  { title: 'Evaluate a Table…', run: () => vscode.commands.executeCommand('embeddingLab.evaluateTable') },
];

let comparePanel: vscode.WebviewPanel | undefined;

function showCompare(r: VerifyResult, model: string): void {
  const roots = [...new Set([path.dirname(r.a), path.dirname(r.b)])].map((d) => vscode.Uri.file(d));
  if (!comparePanel) {
    comparePanel = vscode.window.createWebviewPanel('embeddingLab.compareImages', 'Compare Images', vscode.ViewColumn.Active, { enableScripts: false, localResourceRoots: roots });
    comparePanel.onDidDispose(() => { comparePanel = undefined; });
  } else {
    comparePanel.webview.options = { enableScripts: false, localResourceRoots: roots };
    comparePanel.reveal(undefined, false);
  }
  const w = comparePanel.webview;
  comparePanel.title = `Compare: ${path.basename(r.a)} ↔ ${path.basename(r.b)}`;
  w.html = compareImagesHtml(r, { aSrc: w.asWebviewUri(vscode.Uri.file(r.a)).toString(), bSrc: w.asWebviewUri(vscode.Uri.file(r.b)).toString(), cspSource: w.cspSource, model });
}

/**
 * `compareImages(clicked, selectedUris[], { model?, threshold? })` from the Explorer (two images selected), or
 * `compareImages({ a, b, model?, threshold? })`: `embedlab verify a b --model … --json`, shown in a panel with both
 * thumbnails, the distance, the threshold and the verdict. Returns the verify result.
 */
export const compareImages: CommandFn = async (ctx, a0, a1, a2) => {
  const o = { ...opts<UseModelOptions & { a: string; b: string }>(a0), ...opts<UseModelOptions>(a1), ...opts<UseModelOptions>(a2) };
  const given = isObj(a0) ? [o.a, o.b].map(pathArg).filter((p): p is string => !!p) : selectionArg(a0, a1);
  const images = given.filter((p) => IMAGE_EXT.test(p));
  if (given.length && images.length < given.length) throw new UserError(`Compare Images compares two images; not an image: ${given.find((p) => !IMAGE_EXT.test(p))}`);
  if (images.length > 2) throw new UserError(`Compare Images compares two images; ${images.length} are selected.`);
  while (images.length < 2) {
    const f = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectMany: false, filters: IMAGE_FILTER, title: `Compare Images: the ${images.length ? 'second' : 'first'} image` });
    images.push(must(f?.[0]).fsPath);
  }
  for (const p of images) if (!fs.existsSync(p)) throw new UserError(`image does not exist: ${p}`);
  const [a, b] = images;
  const model = o.model ? path.resolve(o.model) : await pickModel(ctx, `Compare ${path.basename(a)} and ${path.basename(b)} with which model?`);
  const thr = o.threshold !== undefined ? ['--threshold', String(o.threshold)] : [];
  const r = await withCancellableProgress(`Comparing ${path.basename(a)} and ${path.basename(b)}`, (_report, signal) =>
    ctx.runCli(['verify', a, b, '--model', model, '--json', ...thr, ...engineFlags(ctx, a)], { cwd: path.dirname(a), signal, scope: a }));
  const res = verifyResultOf(r.json);
  if (r.code !== 0 || !res) {
    const message = cliErrorMessage(r, 'Compare Images');
    throw new UserError(message, /threshold/i.test(message) ? noThresholdActions : []);
  }
  ctx.log.info(`compare ${a} ${b}: ${res.metric} distance ${res.distance} vs threshold ${res.threshold} (${res.thresholdSource}): ${res.same ? 'same' : 'different'}`);
  if (o.show !== false) showCompare(res, model);
  return { ...res, model, panel: o.show !== false };
};

/** The reference of Classify Folder: a folder with one subfolder per class, or a labelled table of a run. */
async function pickReference(ctx: Ctx, folder: string): Promise<string> {
  const items: Array<vscode.QuickPickItem & { file?: string; browse?: 'folder' | 'table' }> = [
    { label: '$(folder) A folder with one subfolder per class…', description: 'a few images of each class', browse: 'folder' },
  ];
  for (const n of await ctx.runs.all()) for (const t of tablesOfRun(n.runDir)) items.push({ label: path.basename(t.file), description: n.view.label, detail: t.file, file: t.file });
  items.push({ label: '$(file) Browse for a labelled table…', browse: 'table' });
  const pick = must(await ctx.quickPick(items, { title: `Classify ${path.basename(folder)}: the reference (known classes)`, matchOnDetail: true }));
  if (pick.file) return pick.file;
  const f = await vscode.window.showOpenDialog(pick.browse === 'folder'
    ? { canSelectFolders: true, canSelectFiles: false, title: 'Reference: one subfolder per class', defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri }
    : { canSelectFiles: true, filters: { Tables: ['parquet', 'csv'] }, title: 'Reference: a labelled embedding table' });
  return must(f?.[0]).fsPath;
}

/**
 * `classifyFolder(folder, selectedUris?, { reference?, model?, threshold?, closedSet?, method?, k?, out?, show? })`:
 * `embedlab classify <folder> --reference … --model … --json`. The results table is opened; with labelled queries
 * (class subfolders) the confusion matrix goes to the run's dashboard. Without a threshold saved for the model (and
 * none given) it classifies closed set, and says so.
 */
export const classifyFolder: CommandFn = async (ctx, a0, a1, a2) => {
  const o: Partial<ClassifyOptions> = { ...opts<ClassifyOptions>(a0), ...opts<ClassifyOptions>(a1), ...opts<ClassifyOptions>(a2) };
  const picked = isObj(a0) ? [pathArg(o.folder)].filter((p): p is string => !!p) : selectionArg(a0, a1);
  let folder = picked.find(isDir);
  if (picked.length && !folder) throw new UserError(`Classify Folder classifies the images of a folder; not a folder: ${picked[0]}`);
  if (!folder) {
    const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: 'Classify Folder: the images to classify', defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
    folder = must(f?.[0]).fsPath;
  }
  const reference = o.reference ? path.resolve(o.reference) : await pickReference(ctx, folder);
  if (!fs.existsSync(reference)) throw new UserError(`reference does not exist: ${reference}`);
  const model = o.model ? path.resolve(o.model) : await pickModel(ctx, `Classify ${path.basename(folder)} with which model?`);
  let saved: boolean;
  try {
    saved = findThreshold(model) !== null;
  } catch {
    saved = true; // a broken threshold.json: the CLI names it
  }
  const closed = o.closedSet === true || (o.threshold === undefined && !saved);
  const args = ['classify', folder, '--reference', reference, '--model', model, '--json',
    ...(closed ? ['--closed-set'] : o.threshold !== undefined ? ['--threshold', String(o.threshold)] : []),
    ...(o.method ? ['--method', String(o.method)] : []), ...(o.k ? ['-k', String(o.k)] : []), ...(o.out ? ['--out', path.resolve(o.out)] : []),
    ...engineFlags(ctx, folder)];
  const r = await withCancellableProgress(`Classifying ${path.basename(folder)}`, (_report, signal) => ctx.runCli(args, { cwd: path.dirname(folder), signal, scope: folder }));
  const summary = r.json.find((x) => x.type === 'classified');
  if (r.code !== 0 || !summary) throw new UserError(cliErrorMessage(r, `Classify ${path.basename(folder)}`));
  const table = String(summary.table);
  const view = classificationViewOf(summary);
  const runDir = runDirOfModel(model);
  const note = closed && o.closedSet !== true ? ' (closed set: no threshold is saved for this model)' : '';
  ctx.log.info(`classified ${summary.queries} image(s) of ${folder} into ${table}${note}`);
  const show = o.show !== false;
  if (show) await vscode.commands.executeCommand('vscode.open', vscode.Uri.file(table), { preview: false, viewColumn: vscode.ViewColumn.Beside });
  let dashboard = false;
  if (view && runDir && show) {
    ctx.dashboards.open(runDir).session.showClassification(view);
    dashboard = true;
  }
  if (!isObj(a1) && !isObj(a2) && !isObj(a0)) {
    const acc = view && Number.isFinite(view.accuracy) ? `, accuracy ${(view.accuracy * 100).toFixed(1)} %` : '';
    void ctx.notify(`Classified ${summary.queries} image(s) of ${path.basename(folder)} into ${path.basename(table)}${acc}${note}.`);
  }
  return { ...summary, closedSet: closed, dashboard, classification: view };
};

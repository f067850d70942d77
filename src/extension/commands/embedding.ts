// Embed, Find Similar, Evaluate, Export: `node dist/cli.js … --json` child processes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { runPaths } from '../../core/run-folder';
import { cliErrorMessage } from '../cli-runner';
import { UserError, type CommandFn, type Ctx } from '../ctx';
import { chooseTableForImage, defaultTableOut, evalMarkdown, IMAGE_EXT, knnQueryFor, readTableMeta, runDirOfModel, tablesOfRun, withoutQuery } from '../logic';
import { activeImage, hasCheckpoint, hasModel, isDir, isObj, must, opts, pathArg, pickModel, pickRun, runDirArg, selectionArg, withCancellableProgress } from './args';

export interface EmbedResult {
  table: string;
  rows: number;
  skipped: number;
}

export async function embed(ctx: Ctx, folder: string, model: string, out: string, title: string): Promise<EmbedResult> {
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
export const embedFolder: CommandFn = async (ctx, a0, a1) => {
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
export const findSimilarImages: CommandFn = async (ctx, a0, a1) => {
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

export async function pickTable(ctx: Ctx): Promise<string> {
  const runs = await ctx.runs.all();
  const items: Array<vscode.QuickPickItem & { file?: string }> = [];
  for (const n of runs) for (const t of tablesOfRun(n.runDir)) items.push({ label: path.basename(t.file), description: n.view.label, detail: t.file, file: t.file });
  items.push({ label: '$(file) Browse…' });
  const pick = must(await vscode.window.showQuickPick(items, { title: 'Evaluate Table', matchOnDescription: true }));
  if (pick.file) return pick.file;
  const f = await vscode.window.showOpenDialog({ canSelectFiles: true, filters: { Tables: ['parquet', 'csv'] }, title: 'Embedding table' });
  return must(f?.[0]).fsPath;
}

export const evaluateTable: CommandFn = async (ctx, a0) => {
  const table = pathArg(a0) ?? await pickTable(ctx);
  if (!fs.existsSync(table)) throw new UserError(`table does not exist: ${table}`);
  const r = await withCancellableProgress(`Evaluating ${path.basename(table)}`, (_report, signal) => ctx.runCli(['eval', table, '--json'], { cwd: path.dirname(table), signal, scope: table }));
  const report = r.json.find((x) => 'retrieval' in x || 'table' in x);
  if (r.code !== 0 || !report) throw new UserError(cliErrorMessage(r, `Evaluate ${path.basename(table)}`));
  await ctx.showReport(`eval-${path.basename(table)}`, evalMarkdown(report));
  return report;
};

export const exportModel: CommandFn = async (ctx, a0, a1) => {
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
/** Embed a folder with the model of a run (Runs view context action). */
export const embedWithModel: CommandFn = async (ctx, a0) => {
  const runDir = runDirArg(a0) ?? await pickRun(ctx, 'Embed with Model', (n) => hasModel(n.runDir));
  const f = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, title: `Embed a folder with ${path.basename(runDir)}`, defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri });
  const folder = must(f?.[0]);
  // Through the trust gate, like a menu click (never the function directly).
  return ctx.invoke('embedFolder', folder, { model: runDirOfModel(runDir) ?? runDir, notify: true });
};

// CLI commands that use a trained model (issue 16): verify, classify, duplicates, and eval's --save-threshold.
// The logic lives in src/core (threshold.ts, classify.ts, duplicates.ts); this file reads the inputs, embeds
// images through src/engine/embed.ts and writes the outputs. docs/use-model.md records the decisions.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classify, classifyReport, UNKNOWN, type ClassifyReport, type Prediction } from '../core/classify';
import type { DistanceName } from '../core/config-types';
import { duplicateGroups } from '../core/duplicates';
import { BadDataError, LabError, messageOf } from '../core/errors';
import { printablePath as pp, printableText } from '../core/printable';
import { resultFormatOf, writeResultsTable } from '../core/results-table';
import { CsvParser, readTable, writeSkippedList, type Table } from '../core/table';
import { isTableArg, isTableGlob } from '../core/shards';
import {
  isSame, modelFacts, pairDistance, pairStats, parsePairLabel, resolveThreshold, saveThreshold, thresholdFromReport, type ResolvedThreshold,
} from '../core/threshold';
import { defineCommand, UsageError } from './args';
import { decodeThreads, DISTANCES, distanceOption, ENGINE_HELP, ENGINE_OPTIONS, engineOptions, type EngineFlags } from './scoring';

const THRESHOLD_HELP = '  --threshold  a distance (pairs closer than it are the same), or best-f1 / precision to pick a saved one;\n'
  + '               default: the model\'s threshold.json (written by `embedlab eval <table> --save-threshold <run|model>`)';

type Opened = Awaited<ReturnType<typeof import('../engine/embed').openEmbedder>>;

async function openModel(model: string, v: EngineFlags): Promise<Opened> {
  const eo = engineOptions(v);
  decodeThreads();
  const { openEmbedder } = await import('../engine/embed');
  const opened = await openEmbedder(path.resolve(model), eo);
  if (opened.fallbackReason) process.stderr.write(printableText(`embedlab: ONNX Runtime not used (${opened.fallbackReason}); running on ${opened.embedder.detail}\n`));
  return opened;
}

/**
 * Embeds image files in batches; an image that cannot be decoded is left out (ok[i] = 0) and listed, the others
 * are embedded. vectors holds files.length × dim values (zeros where ok is 0).
 */
async function embedMany(opened: Opened, files: string[]): Promise<{ vectors: Float32Array; ok: Uint8Array; failures: Array<{ path: string; reason: string }> }> {
  const { embedFiles } = await import('../engine/embed');
  const dim = opened.pre.embeddingDim;
  const vectors = new Float32Array(files.length * dim);
  const ok = new Uint8Array(files.length);
  const failures: Array<{ path: string; reason: string }> = [];
  const B = 64;
  for (let b0 = 0; b0 < files.length; b0 += B) {
    const batch = files.slice(b0, b0 + B);
    try {
      vectors.set(await embedFiles(opened.embedder, opened.pre, batch), b0 * dim);
      ok.fill(1, b0, b0 + batch.length);
    } catch (err) {
      if (!(err instanceof BadDataError)) throw err;
      // One bad image fails its batch: embed the batch's images one by one to tell which.
      for (let t = 0; t < batch.length; t++) {
        try {
          vectors.set(await embedFiles(opened.embedder, opened.pre, [batch[t]]), (b0 + t) * dim);
          ok[b0 + t] = 1;
        } catch (e) {
          if (!(e instanceof BadDataError)) throw e;
          failures.push({ path: batch[t], reason: messageOf(e).replace(/^cannot read image [^:]*: /, '') });
        }
      }
    }
  }
  return { vectors, ok, failures };
}

function reportSkipped(cmd: string, failures: Array<{ path: string; reason: string }>, listFile?: string): void {
  if (!failures.length) return;
  const shown = failures.slice(0, 5).map((f) => `  ${pp(f.path)}: ${printableText(f.reason)}`).join('\n');
  process.stderr.write(`embedlab ${cmd}: skipped ${failures.length} unreadable image(s)${listFile ? `, listed in ${pp(listFile)}` : ''}:\n${shown}${failures.length > 5 ? '\n  …' : ''}\n`);
}

const f6 = (x: number) => (Number.isFinite(x) ? x.toFixed(6) : String(x));
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

function outPath(v: string | undefined, fallback: string): string {
  const out = path.resolve(v ?? fallback);
  if (!resultFormatOf(out)) throw new UsageError(`--out must end in .csv or .parquet (got ${v})`);
  if (!fs.existsSync(path.dirname(out))) throw new UsageError(`output folder does not exist: ${path.dirname(out)}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// eval --save-threshold

/** Called by `eval` with its report: writes threshold.json into the run or model folder and says so. */
export async function saveEvalThreshold(target: string, report: Record<string, unknown>, json: boolean): Promise<void> {
  const t = thresholdFromReport(report as Parameters<typeof thresholdFromReport>[0]);
  const file = await saveThreshold(target, t);
  const msg = `saved threshold ${f6(t.threshold)} (best F1 ${f4(t.bestF1.f1)}${t.atPrecision ? `; precision ≥ ${t.atPrecision.target}: ${f6(t.atPrecision.threshold)}` : ''}) to ${file}`;
  if (json) process.stdout.write(JSON.stringify({ type: 'threshold-saved', file, threshold: t.threshold, bestF1: t.bestF1, atPrecision: t.atPrecision }) + '\n');
  else process.stderr.write(`embedlab eval: ${printableText(msg)}\n`);
}

/** Called by `eval --outliers <out.csv>`: per-row outlier scores written as a table, the top ones listed. */
export async function writeOutliers(outArg: string, table: Table, distance: DistanceName, k: number, json: boolean): Promise<void> {
  const out = outPath(outArg, outArg);
  const { outlierScores } = await import('../core/outliers');
  const n = table.paths.length;
  const s = outlierScores(table.vectors, n, table.dim, table.labels, k, distance, { unitCentroids: table.meta?.l2Normalized !== false });
  await writeResultsTable(out, [
    { name: 'path', type: 'string', values: table.paths }, { name: 'label', type: 'string', values: table.labels },
    { name: 'kth_neighbor_distance', type: 'double', values: s.kth }, { name: 'class_centroid_distance', type: 'double', values: s.centroid }, // NaN: no centroid
  ]);
  const top = Array.from({ length: n }, (_, i) => i).sort((x, y) => s.kth[y] - s.kth[x]).slice(0, 10)
    .map((i) => ({ path: table.paths[i], label: table.labels[i], kthNeighborDistance: s.kth[i], classCentroidDistance: Number.isNaN(s.centroid[i]) ? null : s.centroid[i] }));
  if (json) { process.stdout.write(JSON.stringify({ type: 'outliers', table: out, k: s.k, top }) + '\n'); return; }
  process.stderr.write(`embedlab eval: wrote outlier scores (distance to the ${s.k}-th neighbour and to the class centroid) to ${pp(out)}; the top ${top.length}:\n`
    + top.map((t) => `  ${f6(t.kthNeighborDistance)}  ${t.classCentroidDistance === null ? '' : `(centroid ${f6(t.classCentroidDistance)}) `}${t.label ? `[${printableText(t.label)}] ` : ''}${pp(t.path)}`).join('\n') + '\n');
}

// ---------------------------------------------------------------------------------------------------------------
// verify

interface PairRow { a: string; b: string; label: boolean | null; line: number }

/** Reads a pairs CSV (header with a, b and optionally label); relative paths are against the file's folder. */
export function readPairs(file: string): PairRow[] {
  const text = fs.readFileSync(file, 'utf8');
  const base = path.dirname(file);
  const rows: PairRow[] = [];
  let cols: { a: number; b: number; label: number } | null = null;
  const parser = new CsvParser(file, (fields, line) => {
    if (!cols) {
      const names = fields.map((f) => f.trim().toLowerCase());
      const a = names.indexOf('a');
      const b = names.indexOf('b');
      if (a < 0 || b < 0) throw new BadDataError(`${file} line ${line}: the header needs columns a and b (and optionally label); it has ${fields.map((f) => JSON.stringify(f)).join(', ')}`);
      cols = { a, b, label: names.indexOf('label') };
      return;
    }
    const need = Math.max(cols.a, cols.b) + 1;
    if (fields.length < need) throw new BadDataError(`${file} line ${line}: ${fields.length} field(s), the header has columns up to ${need}`);
    const cell = (i: number) => fields[i].trim();
    if (!cell(cols.a) || !cell(cols.b)) throw new BadDataError(`${file} line ${line}: column ${cell(cols.a) ? 'b' : 'a'} is empty`);
    let label: boolean | null = null;
    if (cols.label >= 0 && cols.label < fields.length) {
      try { label = parsePairLabel(fields[cols.label]); } catch (err) { throw new BadDataError(`${file} line ${line}: ${(err as Error).message}`); }
    }
    const a = path.resolve(base, cell(cols.a));
    const b = path.resolve(base, cell(cols.b));
    for (const [col, p] of [['a', a], ['b', b]] as const) if (!fs.existsSync(p)) throw new BadDataError(`${file} line ${line}: image ${col} does not exist: ${p}`);
    rows.push({ a, b, label, line });
  });
  parser.push(text);
  parser.end();
  if (!cols) throw new BadDataError(`${file} is empty: it needs a header with columns a and b, then one pair a line`);
  return rows;
}

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 'Same or different: the distance of two images against the model\'s threshold, or a CSV of pairs scored',
  usage: 'embedlab verify <imageA> <imageB> --model <runDir|modelDir> [--threshold <distance>|best-f1|precision] [--exit-code] [--json]\n'
    + '       embedlab verify --pairs <pairs.csv> --model <runDir|modelDir> [--out <scores.csv|.parquet>] [--threshold …] [--json]',
  help: '  prints the distance, the threshold and the verdict: same when the distance is below the threshold.\n'
    + '  --exit-code  exit 0 for same, 1 for different (one pair)\n'
    + '  --pairs      a CSV with columns a, b (image paths, relative to the CSV\'s folder) and optionally label\n'
    + '               (same/different or 1/0): writes a, b, label, distance, same to --out (default <pairs>.scores.csv),\n'
    + '               with accuracy, precision, recall and the confusion counts when labels are there\n' + THRESHOLD_HELP + '\n' + ENGINE_HELP,
  positionals: [0, 2],
  options: {
    model: { type: 'string' }, threshold: { type: 'string' }, 'exit-code': { type: 'boolean' }, json: { type: 'boolean' }, pairs: { type: 'string' }, out: { type: 'string' }, ...ENGINE_OPTIONS,
  },
  async run({ values: v, positionals, usage }) {
    if (!v.model) throw new UsageError(`missing --model <runDir|modelDir>\nusage: ${usage}`);
    if (v.pairs ? positionals.length !== 0 : positionals.length !== 2) throw new UsageError(`give two images, or --pairs <pairs.csv>\nusage: ${usage}`);
    if (v.pairs && v['exit-code']) throw new UsageError('--exit-code is for one pair; with --pairs the table has the verdicts');
    const facts = modelFacts(v.model);
    const thr = resolveThreshold(v.threshold, [v.model], { dim: facts.dim, distance: facts.distance });
    if (v.pairs) return verifyPairs(path.resolve(v.pairs), v, thr, usage);
    const [a, b] = positionals.map((p) => path.resolve(p));
    for (const p of [a, b]) if (!fs.existsSync(p)) throw new BadDataError(`image does not exist: ${p}`);
    const opened = await openModel(v.model, v);
    let va: Float32Array;
    let vb: Float32Array;
    try {
      const { embedFiles } = await import('../engine/embed');
      va = await embedFiles(opened.embedder, opened.pre, [a]);
      vb = await embedFiles(opened.embedder, opened.pre, [b]);
    } finally {
      await opened.embedder.dispose();
    }
    const distance = pairDistance(va, 0, vb, 0, opened.pre.embeddingDim, opened.pre.distance);
    const same = isSame(distance, thr.value);
    if (v.json) process.stdout.write(JSON.stringify({ type: 'verify', a, b, distance, metric: opened.pre.distance, threshold: thr.value, thresholdSource: thr.source, same }) + '\n');
    else process.stdout.write(`${same ? 'same' : 'different'}: ${opened.pre.distance} distance ${f6(distance)} ${same ? '<' : '≥'} threshold ${f6(thr.value)} (${pp(thr.source)})\n`);
    return v['exit-code'] && !same ? 1 : 0;
  },
});

async function verifyPairs(file: string, v: { model?: string; json?: boolean; out?: string } & EngineFlags, thr: ResolvedThreshold, usage: string): Promise<number> {
  if (!fs.existsSync(file)) throw new UsageError(`pairs file does not exist: ${file}\nusage: ${usage}`);
  const out = outPath(v.out, `${file}.scores.csv`);
  const pairs = readPairs(file);
  const files = [...new Set(pairs.flatMap((p) => [p.a, p.b]))];
  const index = new Map(files.map((f, i) => [f, i]));
  const opened = await openModel(v.model!, v);
  let emb: Awaited<ReturnType<typeof embedMany>>;
  try { emb = await embedMany(opened, files); } finally { await opened.embedder.dispose(); }
  const dim = opened.pre.embeddingDim;
  const hasLabels = pairs.some((p) => p.label !== null);
  const rows = { a: [] as string[], b: [] as string[], label: [] as Array<string | null>, distance: [] as number[], same: [] as string[] };
  const verdicts: boolean[] = [];
  const truth: boolean[] = [];
  let skippedPairs = 0;
  for (const p of pairs) {
    const ia = index.get(p.a)!;
    const ib = index.get(p.b)!;
    if (!emb.ok[ia] || !emb.ok[ib]) { skippedPairs++; continue; }
    const d = pairDistance(emb.vectors, ia, emb.vectors, ib, dim, opened.pre.distance);
    const same = isSame(d, thr.value);
    rows.a.push(p.a); rows.b.push(p.b); rows.label.push(p.label === null ? null : p.label ? 'same' : 'different');
    rows.distance.push(d); rows.same.push(same ? 'same' : 'different');
    if (p.label !== null) { verdicts.push(same); truth.push(p.label); }
  }
  await writeResultsTable(out, [
    { name: 'a', type: 'string', values: rows.a }, { name: 'b', type: 'string', values: rows.b },
    ...(hasLabels ? [{ name: 'label', type: 'string' as const, values: rows.label }] : []),
    { name: 'distance', type: 'double', values: rows.distance }, { name: 'same', type: 'string', values: rows.same },
  ]);
  if (emb.failures.length) await writeSkippedList(out, emb.failures);
  reportSkipped('verify', emb.failures, emb.failures.length ? `${out}.skipped.txt` : undefined);
  const stats = hasLabels ? pairStats(verdicts, truth) : null;
  const summary = { type: 'verified', table: out, pairs: pairs.length - skippedPairs, skippedPairs, skippedImages: emb.failures.length, threshold: thr.value, thresholdSource: thr.source, metric: opened.pre.distance, ...(stats ? { stats } : {}) };
  if (v.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    process.stdout.write(`wrote ${pp(out)}: ${summary.pairs} pair(s) at threshold ${f6(thr.value)} (${pp(thr.source)})${skippedPairs ? `; ${skippedPairs} pair(s) skipped (unreadable images)` : ''}\n`);
    if (stats) {
      process.stdout.write(`  accuracy ${f4(stats.accuracy)}  precision ${f4(stats.precision)}  recall ${f4(stats.recall)}  over ${stats.count} labelled pair(s)\n`);
      process.stdout.write(`  same→same ${stats.tp}  different→same ${stats.fp}  different→different ${stats.tn}  same→different ${stats.fn}\n`);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// classify

const isTable = isTableArg;

interface Images { paths: string[]; labels: string[] }

/** Images under a folder; the label is the first subfolder ('' for images at the top). */
async function folderImages(folder: string): Promise<Images> {
  const { listImages } = await import('../engine/embed');
  const { images } = await listImages(folder, 1);
  return { paths: images.map((i) => i.path), labels: images.map((i) => (i.rel.includes('/') ? i.rel.split('/')[0] : '')) };
}

async function loadTable(file: string, dim: number | undefined, what: string): Promise<Table> {
  if (!isTableGlob(file) && !fs.existsSync(file)) throw new UsageError(`${what} does not exist: ${file}`);
  const t = await readTable(file);
  if (dim !== undefined && t.dim !== dim) throw new BadDataError(`${what} ${file} has vectors of length ${t.dim}, the model gives ${dim}: embed it with this model`);
  return t;
}

export const classifyCommand = defineCommand({
  name: 'classify',
  summary: 'Few-shot classification against a reference (one subfolder per class, or a labelled table), open or closed set',
  usage: 'embedlab classify <folder|table> --reference <folder|table> --model <runDir|modelDir> [--method centroid|knn] [-k 5] [--threshold …|--closed-set] [--index <dir>] [--out <results.csv|.parquet>] [--json]',
  help: '  few-shot classification: the reference is one subfolder per class (a few images each) or a labelled embedding table.\n'
    + '  centroid (default): the nearest class mean; knn: a vote of the k nearest reference images. A query whose nearest\n'
    + '  distance is not below the threshold is "unknown" (open set; --closed-set never answers unknown).\n'
    + '  Writes path, label, predicted, distance, runner_up, runner_up_distance to --out (default <folder>.classified.csv);\n'
    + '  with labelled queries (one subfolder per class) prints accuracy, per-class precision/recall, the confusion matrix\n'
    + '  and how many queries of classes missing from the reference were rejected.\n'
    + '  --index  with --method knn and a reference table: search an index of it (embedlab index; approximate, exact without it)\n' + THRESHOLD_HELP + '\n' + ENGINE_HELP,
  positionals: [1, 1],
  options: {
    reference: { type: 'string' }, model: { type: 'string' }, method: { type: 'string' }, k: { type: 'int', short: 'k', min: 1, default: 5 }, threshold: { type: 'string' },
    'closed-set': { type: 'boolean' }, out: { type: 'string' }, json: { type: 'boolean' }, index: { type: 'string' }, ...ENGINE_OPTIONS,
  },
  async run({ values: v, positionals, usage }) {
    if (!v.reference) throw new UsageError(`missing --reference <folder|table>\nusage: ${usage}`);
    const method = v.method ?? 'centroid';
    if (method !== 'centroid' && method !== 'knn') throw new UsageError(`--method must be centroid or knn (got ${JSON.stringify(method)})`);
    const k = v.k;
    if (v['closed-set'] && v.threshold !== undefined) throw new UsageError('give --threshold or --closed-set, not both');
    if (v.index !== undefined && method !== 'knn') throw new UsageError('--index is for --method knn (the centroid method compares each query with one mean per class: no index needed)');
    const query = path.resolve(positionals[0]);
    const reference = path.resolve(v.reference);
    if (!isTableGlob(query) && !fs.existsSync(query)) throw new UsageError(`does not exist: ${query}`);
    if (!isTableGlob(reference) && !fs.existsSync(reference)) throw new UsageError(`reference does not exist: ${reference}`);
    const needsModel = !isTable(query) || !isTable(reference);
    const model = v.model;
    if (needsModel && !model) throw new UsageError(`missing --model <runDir|modelDir> (to embed the images)\nusage: ${usage}`);
    const facts = model ? modelFacts(model) : undefined;
    const out = outPath(v.out, `${query.replace(/[\\/]+$/, '')}.classified.csv`);
    const thr = v['closed-set'] ? undefined : resolveThreshold(v.threshold, model ? [model] : [], facts);
    const opened = needsModel ? await openModel(model!, v) : undefined;
    const failures: Array<{ path: string; reason: string }> = [];
    let refVectors: Float32Array; let refLabels: string[]; let dim: number;
    let qVectors: Float32Array; let qPaths: string[]; let qLabels: string[];
    let distance: DistanceName;
    let refTable: Table | undefined;
    if (v.index !== undefined && !isTable(reference)) throw new UsageError(`--index needs a reference table (the one the index was built from), not a folder of images: ${reference}`);
    try {
      dim = opened?.pre.embeddingDim ?? facts?.dim ?? 0;
      // The reference: a labelled table, or one subfolder per class with at least one readable image each.
      if (isTable(reference)) {
        const t = await loadTable(reference, dim || undefined, 'reference table');
        refTable = t;
        dim = t.dim;
        const rows = t.labels.map((l, i) => (l ? i : -1)).filter((i) => i >= 0);
        if (!rows.length) throw new BadDataError(`reference table ${reference} has no labelled rows: embed a folder with one subfolder per class`);
        refVectors = new Float32Array(rows.length * dim);
        rows.forEach((row, o) => refVectors.set(t.vectors.subarray(row * dim, row * dim + dim), o * dim));
        refLabels = rows.map((row) => t.labels[row]);
      } else {
        const classes = fs.readdirSync(reference, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
        if (!classes.length) throw new BadDataError(`reference folder ${reference} has no class subfolders: give one subfolder per class, a few images each`);
        const imgs = await folderImages(reference);
        const keep = imgs.labels.map((l, i) => (l ? i : -1)).filter((i) => i >= 0);
        const emb = await embedMany(opened!, keep.map((i) => imgs.paths[i]));
        failures.push(...emb.failures);
        const okRows = keep.map((_, o) => o).filter((o) => emb.ok[o]);
        refLabels = okRows.map((o) => imgs.labels[keep[o]]);
        for (const c of classes) {
          if (!refLabels.includes(c)) {
            const bad = emb.failures.filter((f) => path.relative(reference, f.path).split(path.sep)[0] === c).length;
            throw new BadDataError(`reference class "${c}" (${path.join(reference, c)}) has no readable images${bad ? ` (${bad} could not be decoded)` : ''}`);
          }
        }
        refVectors = new Float32Array(okRows.length * dim);
        okRows.forEach((o, t) => refVectors.set(emb.vectors.subarray(o * dim, o * dim + dim), t * dim));
      }
      // The queries: a table, or the images of a folder (labelled when they are in class subfolders).
      if (isTable(query)) {
        const t = await loadTable(query, dim, 'table');
        qVectors = t.vectors; qPaths = t.paths; qLabels = t.labels;
      } else {
        const imgs = await folderImages(query);
        if (!imgs.paths.length) throw new BadDataError(`no images under ${query}`);
        const emb = await embedMany(opened!, imgs.paths);
        failures.push(...emb.failures);
        const okRows = imgs.paths.map((_, i) => i).filter((i) => emb.ok[i]);
        qVectors = new Float32Array(okRows.length * dim);
        okRows.forEach((i, t) => qVectors.set(emb.vectors.subarray(i * dim, i * dim + dim), t * dim));
        qPaths = okRows.map((i) => path.relative(query, imgs.paths[i]).split(path.sep).join('/'));
        qLabels = okRows.map((i) => imgs.labels[i]);
      }
      distance = opened?.pre.distance ?? facts?.distance ?? 'euclidean';
    } finally {
      await opened?.embedder.dispose();
    }
    const unit = opened?.pre.l2Normalized ?? true;
    let neighbours: { indices: Int32Array; distances: Float32Array; k: number } | undefined;
    let search = method === 'knn' ? 'exact' : 'centroids';
    if (v.index !== undefined) {
      if (refLabels.length !== refTable!.paths.length) throw new BadDataError(`reference table ${reference} has ${refTable!.paths.length - refLabels.length} unlabelled row(s): an index for classify needs a table whose every row has a class`);
      const { openIndexFor } = await import('./index-cmd');
      const opened = await openIndexFor('classify', v.index, refTable!, distance);
      if (opened.index) {
        const kk = Math.min(k, refLabels.length);
        try { neighbours = { ...await opened.index.search(qVectors, qPaths.length, kk), k: kk }; } finally { opened.index.close(); }
        search = `index ${opened.index.info.index.type} (${opened.index.info.engine})`;
      }
    }
    const preds: Prediction[] = classify(qVectors, qPaths.length, { vectors: refVectors, labels: refLabels, dim }, distance, { method, k, threshold: thr?.value, unitCentroids: unit, neighbours });
    await writeResultsTable(out, [
      { name: 'path', type: 'string', values: qPaths }, { name: 'label', type: 'string', values: qLabels },
      { name: 'predicted', type: 'string', values: preds.map((p) => p.label) }, { name: 'distance', type: 'double', values: preds.map((p) => p.distance) },
      { name: 'runner_up', type: 'string', values: preds.map((p) => p.runnerUp) }, { name: 'runner_up_distance', type: 'double', values: preds.map((p) => p.runnerUpDistance) },
    ]);
    if (failures.length) await writeSkippedList(out, failures);
    reportSkipped('classify', failures, failures.length ? `${out}.skipped.txt` : undefined);
    const refClasses = [...new Set(refLabels)];
    const labelled = qLabels.some((l) => l);
    const report: ClassifyReport | null = labelled ? classifyReport(preds.map((p) => p.label), qLabels, refClasses) : null;
    const summary = {
      type: 'classified', table: out, queries: qPaths.length, skipped: failures.length, method, ...(method === 'knn' ? { k, search } : {}), classes: refClasses.length,
      referenceImages: refLabels.length, threshold: thr?.value ?? null, thresholdSource: thr?.source ?? 'closed set', unknown: preds.filter((p) => p.label === UNKNOWN).length,
      ...(report ? { report } : {}),
    };
    if (v.json) { process.stdout.write(JSON.stringify(summary) + '\n'); return 0; }
    process.stdout.write(`wrote ${pp(out)}: ${summary.queries} image(s) against ${refClasses.length} classes (${refLabels.length} reference images) by ${method === 'knn' ? `a ${k}-NN vote` : 'nearest centroid'}, `
      + `${thr ? `open set at threshold ${f6(thr.value)} (${pp(thr.source)}): ${summary.unknown} unknown` : 'closed set'}\n`);
    if (report) process.stdout.write(formatClassifyReport(report) + '\n');
    return 0;
  },
});

export function formatClassifyReport(r: ClassifyReport): string {
  const lines = [`accuracy ${f4(r.accuracy)} (${r.correct}/${r.known} of the queries whose class is in the reference; ${r.falselyRejected} answered unknown)`];
  if (r.unknownQueries) lines.push(`classes missing from the reference: ${r.unknownRejected}/${r.unknownQueries} queries rejected as unknown`);
  lines.push('class             precision  recall  support');
  for (const [c, s] of Object.entries(r.perClass)) lines.push(`${printableText(c).padEnd(16).slice(0, 16)}  ${f4(s.precision).padStart(9)}  ${f4(s.recall).padStart(6)}  ${String(s.support).padStart(7)}`);
  const truths = Object.keys(r.confusion);
  const preds = [...new Set(truths.flatMap((t) => Object.keys(r.confusion[t])))].sort();
  if (truths.length <= 20 && preds.length <= 20) {
    lines.push('confusion (rows: true class, columns: predicted)');
    const w = Math.max(6, ...preds.map((p) => p.length));
    lines.push(`${''.padEnd(16)}  ${preds.map((p) => printableText(p).padStart(w)).join(' ')}`);
    for (const t of truths.sort()) lines.push(`${printableText(t).padEnd(16).slice(0, 16)}  ${preds.map((p) => String(r.confusion[t][p] ?? 0).padStart(w)).join(' ')}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// duplicates

export const duplicatesCommand = defineCommand({
  name: 'duplicates',
  summary: 'Groups of near-duplicate images in a table (closer than the model\'s threshold), exact and in bounded memory',
  usage: 'embedlab duplicates <table> --out <groups.csv|.parquet> [--threshold …] [--model <runDir|modelDir>] [--distance euclidean|squared-euclidean|cosine] [--json]',
  help: '  groups of images closer than the threshold (connected components: a chain of close pairs is one group), largest\n'
    + '  first, as group, size, path, label rows. Exact, in bounded memory. The threshold defaults to that of --model\n'
    + '  (default: the model recorded in the table\'s metadata).\n' + THRESHOLD_HELP,
  positionals: [1, 1],
  options: { out: { type: 'string' }, threshold: { type: 'string' }, model: { type: 'string' }, distance: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values: v, positionals, usage }) {
    if (!v.out) throw new UsageError(`missing --out <groups.csv>\nusage: ${usage}`);
    const out = outPath(v.out, v.out);
    const file = path.resolve(positionals[0]);
    const distanceFlag = distanceOption(v.distance);
    const table = await loadTable(file, undefined, 'table');
    const metaModel = typeof table.meta?.model === 'string' ? table.meta.model : undefined;
    const model = v.model ?? (metaModel && fs.existsSync(metaModel) ? metaModel : undefined);
    const facts = model ? modelFacts(model) : undefined;
    if (facts && facts.dim !== table.dim) throw new BadDataError(`table ${file} has vectors of length ${table.dim}, model ${facts.dir} gives ${facts.dim}: it was not embedded with this model`);
    const metaDistance = DISTANCES.includes(table.meta?.distance as DistanceName) ? table.meta!.distance as DistanceName : undefined;
    const distance = distanceFlag ?? facts?.distance ?? metaDistance ?? 'euclidean';
    let thr: ResolvedThreshold;
    try {
      thr = resolveThreshold(v.threshold, model ? [model] : [], { dim: table.dim, distance });
    } catch (err) {
      if (!model && err instanceof LabError && err.code === 'bad-usage' && v.threshold === undefined) throw new UsageError(`${file} records no model to take a threshold from: pass --threshold <distance> or --model <runDir|modelDir>`);
      throw err;
    }
    const t0 = performance.now();
    const res = duplicateGroups(table.vectors, table.paths.length, table.dim, thr.value, distance);
    const seconds = (performance.now() - t0) / 1000;
    const members = res.groups.flatMap((g, gi) => g.map((row) => ({ group: gi + 1, size: g.length, row })));
    await writeResultsTable(out, [
      { name: 'group', type: 'int', values: members.map((m) => m.group) }, { name: 'size', type: 'int', values: members.map((m) => m.size) },
      { name: 'path', type: 'string', values: members.map((m) => table.paths[m.row]) }, { name: 'label', type: 'string', values: members.map((m) => table.labels[m.row]) },
    ]);
    const inGroups = res.groups.reduce((s, g) => s + g.length, 0);
    if (v.json) {
      process.stdout.write(JSON.stringify({ type: 'duplicates', table: out, rows: table.paths.length, groups: res.groups.length, images: inGroups, largest: res.groups[0]?.length ?? 0, threshold: thr.value, thresholdSource: thr.source, distance, seconds }) + '\n');
      return 0;
    }
    process.stdout.write(`wrote ${pp(out)}: ${res.groups.length} group(s) of near-duplicates (${inGroups} of ${table.paths.length} images; largest ${res.groups[0]?.length ?? 0}) `
      + `closer than ${f6(thr.value)} (${distance}, ${pp(thr.source)}) in ${seconds.toFixed(1)} s\n`);
    return 0;
  },
});

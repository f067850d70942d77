// CLI commands that deploy and score: export, embed, eval, knn, synth.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DistanceName } from '../core/config-types';
import { knn } from '../core/knn';
import { evaluateTableParallel } from '../core/evaluate-parallel';
import { knnClassify } from '../core/metrics';
import { readTable, type Table } from '../core/table';
import { isTableGlob, manifestPath, MAX_SHARDS, modelHash, parseShard } from '../core/shards';
import { writeJsonAtomic } from '../core/atomic';
import { printablePath as pp, printableText } from '../core/printable';
import { isPretrainedSource } from '../engine/pretrained/flags';
import type { ProgressEvent } from '../protocol/events';
import { defineCommand, UsageError } from './args';
import { bar } from './progress';
import { planShard, shardSelect, writeManifest } from './shards';

export const DISTANCES: readonly DistanceName[] = ['euclidean', 'squared-euclidean', 'cosine'];

async function engine() {
  // Loaded on demand: tfjs and sharp are heavy, and `eval` needs neither.
  const [{ initBackend }, exp, emb] = await Promise.all([import('../engine/backend'), import('../engine/export'), import('../engine/embed')]);
  return { initBackend, ...exp, ...emb };
}

function progressPrinter(json: boolean, task: ProgressEvent['task']) {
  let last = 0;
  return (done: number, total: number) => {
    if (json) {
      process.stdout.write(JSON.stringify({ type: 'progress', task, done, total, time: new Date().toISOString(), runId: '' } satisfies ProgressEvent) + '\n');
      return;
    }
    if (!process.stderr.isTTY) return;
    const now = Date.now();
    if (now - last < 100 && done < total) return;
    last = now;
    process.stderr.write(`\r\x1b[2K${task} ${bar(done / Math.max(1, total))} ${done}/${total}`);
    if (done >= total) process.stderr.write('\n');
  };
}

const FORMATS = ['tfjs', 'onnx', 'both'] as const;

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'Export a run\'s branch (the embedder) or its full model (all streams in, distances out), as TensorFlow.js and/or ONNX',
  usage: 'embedlab export <runDir> --type branch|full [--format tfjs|onnx|both] [--out <dir>] [--untrained] [--backend <name>]',
  help: '  --format  the file format (default tfjs: model.json + weights.bin; onnx: model.onnx, opset 13, input "image"\n'
    + '            [N,H,W,C] float32 normalised pixels, output "embedding" [N,D]; both). The full model\'s ONNX graph has\n'
    + '            one input per stream (image_anchor, … [N,H,W,C]) and the distances out (d_anchor_positive, … [N,1]).\n'
    + '            An export into the run\'s own model/branch always keeps model.json as well.',
  positionals: [1, 1],
  options: { type: { type: 'string' }, out: { type: 'string' }, untrained: { type: 'boolean' }, backend: { type: 'string' }, format: { type: 'string' } },
  async run({ values: v, positionals, usage }) {
    const type = v.type;
    if (type !== 'branch' && type !== 'full') throw new UsageError(`--type must be branch or full (got ${type === undefined ? 'nothing' : JSON.stringify(type)})\nusage: ${usage}`);
    const format = v.format ?? 'tfjs';
    if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')} (got ${JSON.stringify(format)})\nusage: ${usage}`);
    const runDir = path.resolve(positionals[0]);
    if (!fs.existsSync(runDir)) throw new UsageError(`run folder does not exist: ${runDir}`);
    if (!fs.existsSync(path.join(runDir, 'config.json'))) throw new UsageError(`not a run folder (no config.json): ${runDir}`);
    const e = await engine();
    await e.initBackend((v.backend as 'wasm' | undefined) ?? 'wasm');
    const out = v.out ? path.resolve(v.out) : undefined;
    if (out) fs.mkdirSync(path.dirname(out), { recursive: true }); // `--out a/b` with no `a` yet: made, as embed's and train's are
    const formats: Array<'tfjs' | 'onnx'> = format === 'both' ? ['tfjs', 'onnx'] : [format as 'tfjs' | 'onnx'];
    const res = await e.exportRun(runDir, type, out, { untrained: Boolean(v.untrained), formats });
    const files = fs.readdirSync(res.dir).filter((f) => /^model\.(json|onnx)$/.test(f)).sort();
    process.stdout.write(`exported ${type} model (${files.join(', ')}) from ${pp(res.checkpoint)} to ${pp(res.dir)}\n`);
    return 0;
  },
});

/**
 * libuv's thread-pool size for embedding. sharp decodes on that pool (default 4 threads), and embedding is
 * decode-bound: one pool thread per core (the JS thread, which runs ONNX Runtime, comes on top) took ~10 % less CPU
 * per image than libuv's 4 on 2 cores, and a bigger machine gets all its cores (bench/embed-throughput.ts --uv).
 */
export function decodeThreadsDefault(cores: number): number {
  return Math.max(2, Math.min(64, cores));
}

/**
 * Sizes libuv's thread pool for embedding. Must run before the pool starts (the process's first async fs / sharp
 * call); a UV_THREADPOOL_SIZE the user set wins.
 */
export function decodeThreads(): void {
  if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(decodeThreadsDefault(os.availableParallelism()));
}

export const ENGINE_HELP = '  --engine   auto (default: ONNX Runtime when onnxruntime-node loads, converting model.json in memory when the\n'
  + '             folder has no model.onnx; else TensorFlow.js), onnx (never falls back: exit 2 with the reason) or tfjs\n'
  + '  --threads  ONNX Runtime intra-op threads (default 1; decoding uses the other cores)\n'
  + '  --backend  the TensorFlow.js backend when tfjs runs (default auto)';

/** The options of the commands that embed images (`...ENGINE_OPTIONS` in their declaration; ENGINE_HELP says them). */
export const ENGINE_OPTIONS = { engine: { type: 'string' }, threads: { type: 'int', min: 1, max: 256 }, backend: { type: 'string' } } as const;

export interface EngineFlags { engine?: string; threads?: number; backend?: string }

export function engineOptions(v: EngineFlags): { engine: 'auto' | 'onnx' | 'tfjs'; threads?: number; backend?: string } {
  const engineName = v.engine ?? 'auto';
  if (engineName !== 'auto' && engineName !== 'onnx' && engineName !== 'tfjs') throw new UsageError(`--engine must be auto, onnx or tfjs (got ${JSON.stringify(engineName)})`);
  return { engine: engineName, threads: v.threads, backend: v.backend };
}

const pretrainedPath = (model: string) => (/^hf:/.test(model) ? model : path.resolve(model));

/** Download progress of a hub model on stderr (a line per 10 %), or as JSON lines with --json. */
function downloadPrinter(json: boolean): (p: { file: string; received: number; total?: number }) => void {
  let last = -1;
  return (p) => {
    const pct = p.total ? Math.floor((10 * p.received) / p.total) * 10 : -1;
    if (pct === last) return;
    last = pct;
    if (json) process.stdout.write(JSON.stringify({ type: 'progress', task: 'download', done: p.received, total: p.total ?? 0 }) + '\n');
    else process.stderr.write(`download ${printableText(p.file)} ${(p.received / 1e6).toFixed(1)}${p.total ? `/${(p.total / 1e6).toFixed(1)}` : ''} MB\n`);
  };
}

export const embedCommand = defineCommand({
  name: 'embed',
  summary: 'Embed a folder of images into a Parquet or CSV table (streams, bounded memory) with a trained, exported or pretrained model',
  usage: 'embedlab embed --model <runDir|modelDir|model.onnx|weights.safetensors|hf:owner/repo> <folder> --out <table.parquet|table.csv> [--engine auto|onnx|tfjs] [--threads 1] [--batch 64] [--backend <name>] [--json]\n'
    + '       embedlab embed --model <…> <folder> --shard i/N|auto [--shard-count N] --out <table-folder> [...]',
  help: '  --shard    embed the i-th (0-based) of N slices of the sorted file list into <table-folder>/part-<i>-of-<N>.parquet\n'
    + '             (+ its .manifest.json); auto: JOB_COMPLETION_INDEX (Kubernetes; N from --shard-count or EMBEDLAB_SHARD_COUNT)\n'
    + '             or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT. `embedlab status <table-folder>` tells the parts\n'
    + '  with a pretrained model (its pooled features, cosine distance): [--size H[,W]] [--normalize imagenet|zero-one|minus-one-one | --mean m[,m,m] --std s[,s,s]] [--pretrained-output <name> (.onnx)]\n' + ENGINE_HELP,
  positionals: [1, 1],
  options: {
    model: { type: 'string' }, out: { type: 'string' }, batch: { type: 'int', min: 1, max: 4096 }, json: { type: 'boolean' }, ...ENGINE_OPTIONS,
    size: { type: 'string' }, normalize: { type: 'string' }, mean: { type: 'string' }, std: { type: 'string' }, 'pretrained-output': { type: 'string' },
    shard: { type: 'string' }, 'shard-count': { type: 'int', min: 1, max: MAX_SHARDS },
  },
  async run({ values: v, positionals, usage }) {
    if (!v.model) throw new UsageError(`missing --model <runDir|modelDir>\nusage: ${usage}`);
    if (!v.out) throw new UsageError(`missing --out <table.parquet|table.csv>\nusage: ${usage}`);
    let out = path.resolve(v.out);
    if (v.shard === undefined && v['shard-count'] !== undefined) throw new UsageError('--shard-count goes with --shard auto');
    if (v.shard !== undefined) parseShard(v.shard, process.env, v['shard-count']); // a bad --shard fails before the model loads
    else {
      if (!/\.(parquet|csv)$/i.test(out)) throw new UsageError(`--out must end in .parquet or .csv (got ${v.out})`);
      if (!fs.existsSync(path.dirname(out))) throw new UsageError(`output folder does not exist: ${path.dirname(out)}`);
    }
    const folder = path.resolve(positionals[0]);
    if (!fs.existsSync(folder)) throw new UsageError(`folder does not exist: ${folder}`);
    const eo = engineOptions(v);
    decodeThreads();
    const e = await engine();
    // A pretrained .onnx image model: frozen features, preprocessing from the flags (src/engine/onnx-backbone.ts).
    // A pretrained ResNet (.safetensors or hf:owner/repo) as it is: the zero-shot baseline (src/engine/pretrained/open.ts).
    const onnxModel = /\.onnx$/i.test(v.model);
    const pretrainedModel = isPretrainedSource(v.model);
    if (!onnxModel && !pretrainedModel && (v.size ?? v.normalize ?? v.mean ?? v.std ?? v['pretrained-output']) !== undefined) throw new UsageError('--size, --normalize, --mean/--std and --pretrained-output apply to a pretrained model (--model <file.onnx|file.safetensors|hf:owner/repo>); a run or export folder records its preprocessing');
    if (pretrainedModel && v['pretrained-output'] !== undefined) throw new UsageError('--pretrained-output applies to an .onnx model (a ResNet state dict gives its pooled features)');
    const opened = onnxModel
      ? await (await import('../engine/onnx-backbone')).openOnnxBackbone(path.resolve(v.model), { size: v.size, normalize: v.normalize, mean: v.mean, std: v.std, output: v['pretrained-output'], threads: eo.threads, engine: eo.engine })
      : pretrainedModel
        ? await (await import('../engine/pretrained/open')).openPretrainedEmbedder(pretrainedPath(v.model), { size: v.size, normalize: v.normalize, mean: v.mean, std: v.std, ...eo }, { onProgress: downloadPrinter(Boolean(v.json)) })
        : await e.openEmbedder(path.resolve(v.model), eo);
    const { embedder } = opened;
    if (v.json) process.stdout.write(JSON.stringify({ type: 'engine', engine: embedder.name, detail: embedder.detail, ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}) }) + '\n');
    else if (opened.fallbackReason) process.stderr.write(printableText(`embedlab embed: ONNX Runtime not used (${opened.fallbackReason}); running on ${embedder.detail}\n`));
    // What the model hash reads: the weights on disk (a hub model's cached file), else the model's folder or file.
    const hashed: string = 'file' in opened && typeof opened.file === 'string' ? opened.file : opened.dir;
    const plan = v.shard !== undefined ? await planShard(v.shard, v['shard-count'], v.out, hashed) : undefined;
    if (plan) out = plan.out;
    let stop = false;
    const onSig = () => { stop = true; };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    try {
      const res = await e.embedFolder({
        embedder, pre: opened.pre, modelDir: opened.dir, folder, out,
        batchSize: v.batch, onProgress: progressPrinter(Boolean(v.json), 'embed'), shouldStop: () => stop,
        select: plan ? shardSelect(plan) : undefined, meta: { modelHash: plan?.modelHash ?? modelHash(hashed) },
        onOutsideLinks: (links) => {
          const msg = `${links.length} symbolic link(s) point outside ${folder} and were not followed: ${links.slice(0, 3).join(', ')}${links.length > 3 ? ', …' : ''}`;
          if (v.json) process.stdout.write(JSON.stringify({ type: 'warning', code: 'outside-links', message: msg, paths: links }) + '\n');
          else process.stderr.write(`embedlab embed: ${printableText(msg)}\n`);
        },
      });
      const manifest = plan ? await writeManifest(plan, res, opened.dir, opened.pre.embeddingDim) : undefined;
      const summary = {
        type: 'embedded', table: res.out, rows: res.rows, skipped: res.skipped.length, ignored: res.ignored, seconds: res.seconds,
        imagesPerSec: res.rows / Math.max(res.seconds, 1e-9), engine: res.engine, engineDetail: res.engineDetail,
        ...(manifest ? { shard: manifest.shard, filesSeen: manifest.filesSeen, filesInFolder: manifest.filesInFolder, manifest: manifestPath(res.out) } : {}),
      };
      if (v.json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        if (manifest) process.stdout.write(`shard ${manifest.shard.index}/${manifest.shard.count}: files ${manifest.filesSeen} of ${manifest.filesInFolder} (${pp(manifest.first ?? '')} … ${pp(manifest.last ?? '')})\n`);
        process.stdout.write(`wrote ${pp(res.out)}: ${res.rows} rows × ${opened.pre.embeddingDim} in ${res.seconds.toFixed(1)} s (${Math.round(summary.imagesPerSec)} images/s; ${res.engineDetail})\n`);
        if (res.skipped.length) process.stdout.write(`skipped ${res.skipped.length} unreadable image(s), listed in ${pp(res.out)}.skipped.txt\n`);
      }
      return 0;
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
      await embedder.dispose();
    }
  },
});

/** Label strings → class indices (unlabelled rows get -1). */
export function labelIndices(labels: string[], classes = new Map<string, number>()): { ids: Int32Array; classes: Map<string, number> } {
  const ids = new Int32Array(labels.length);
  labels.forEach((l, i) => {
    if (!l) { ids[i] = -1; return; }
    let c = classes.get(l);
    if (c === undefined) { c = classes.size; classes.set(l, c); }
    ids[i] = c;
  });
  return { ids, classes };
}

/** The value of a --distance option (undefined when not given); anything else than a distance is bad usage. */
export function distanceOption(v: string | undefined): DistanceName | undefined {
  if (v !== undefined && !DISTANCES.includes(v as DistanceName)) throw new UsageError(`--distance must be one of ${DISTANCES.join(', ')} (got ${v})`);
  return v as DistanceName | undefined;
}

function distanceOf(table: Table, override?: string): DistanceName {
  if (override) return distanceOption(override)!;
  const d = table.meta?.distance;
  return DISTANCES.includes(d as DistanceName) ? (d as DistanceName) : 'euclidean';
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'Retrieval, clustering and verification metrics of a labelled table; saves a threshold, scores outliers',
  usage: 'embedlab eval <table> [--reference <table>] [--precision 0.95] [--distance euclidean|squared-euclidean|cosine] [--out <eval.json>] [--save-threshold <runDir|modelDir>] [--outliers <scores.csv|.parquet> [--outlier-k 5]] [--json]',
  positionals: [1, 1],
  options: {
    reference: { type: 'string' }, precision: { type: 'number', min: 0, exclusiveMin: true, max: 1, default: 0.95 }, distance: { type: 'string' }, json: { type: 'boolean' },
    out: { type: 'string' }, 'save-threshold': { type: 'string' }, outliers: { type: 'string' }, 'outlier-k': { type: 'int', min: 1, default: 5 },
  },
  async run({ values: v, positionals }) {
    const file = path.resolve(positionals[0]);
    if (!isTableGlob(file) && !fs.existsSync(file)) throw new UsageError(`table does not exist: ${file}`);
    const targetPrecision = v.precision;
    const table = await readTable(file);
    const distance = distanceOf(table, v.distance);
    const { ids, classes } = labelIndices(table.labels);
    if (classes.size < 2) throw new UsageError(`${file} has ${classes.size} label(s); evaluation needs at least 2 labelled classes (embed a folder with one subfolder per class)`);
    const report: Record<string, unknown> = {
      table: file, rows: table.paths.length, labels: classes.size,
      // Retrieval on this thread, k-means + verification on a worker thread (src/core/evaluate-parallel.ts).
      ...await evaluateTableParallel(table.vectors, table.dim, ids, distance, { targetPrecision, onNote: (m) => process.stderr.write(printableText(`embedlab eval: ${m}\n`)) }),
    };
    if (v.reference) {
      const ref = await readTable(path.resolve(v.reference));
      if (ref.dim !== table.dim) throw new UsageError(`reference ${v.reference} has vectors of length ${ref.dim}, the table has ${table.dim}`);
      const refIds = labelIndices(ref.labels, classes);
      const q = labelIndices(table.labels, refIds.classes);
      report.fewShot = knnClassify({ vectors: ref.vectors, labels: refIds.ids }, { vectors: table.vectors, labels: q.ids }, table.dim, distance, 1);
    }
    await writeJsonAtomic(v.out ? path.resolve(v.out) : `${file}.eval.json`, report);
    // threshold.json for verify / classify / duplicates (src/cli/use-model.ts).
    if (v['save-threshold']) await (await import('./use-model')).saveEvalThreshold(v['save-threshold'], report, Boolean(v.json));
    if (v.outliers) await (await import('./use-model')).writeOutliers(v.outliers, table, distance, v['outlier-k'], Boolean(v.json));
    if (v.json) {
      process.stdout.write(JSON.stringify(report) + '\n');
      return 0;
    }
    process.stdout.write(formatReport(report) + '\n');
    return 0;
  },
});

export function formatReport(report: Record<string, unknown>): string {
  const r = report as {
    table: string; rows: number; dim: number; distance: string; labels: number;
    retrieval: { precisionAt1: number; recallAtK: Record<string, number>; rPrecision: number; mapAtR: number; count: number };
    clustering: { nmi: number; k: number } | null;
    verification: { rocAuc: number; bestF1: { threshold: number; f1: number; precision: number; recall: number }; atPrecision?: { target: number; threshold: number; precision: number; recall: number } | null; sampled: boolean; positives: number; negatives: number };
    fewShot?: { accuracy: number; count: number; k: number };
  };
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
  const lines = [
    `${pp(r.table)}: ${r.rows} rows × ${r.dim}, ${r.labels} labels, ${r.distance} distance`,
    `retrieval (leave-one-out over ${r.retrieval.count} queries)`,
    `  Precision@1  ${f(r.retrieval.precisionAt1)}`,
    `  Recall@K     ${Object.entries(r.retrieval.recallAtK).map(([k, x]) => `@${k} ${f(x)}`).join('  ')}`,
    `  R-Precision  ${f(r.retrieval.rPrecision)}`,
    `  MAP@R        ${f(r.retrieval.mapAtR)}`,
    r.clustering ? `clustering: NMI of k-means (k = ${r.clustering.k})  ${f(r.clustering.nmi)}` : 'clustering: skipped',
    `verification over ${r.verification.positives} positive and ${r.verification.negatives} negative pairs${r.verification.sampled ? ' (sampled)' : ''}`,
    `  ROC AUC      ${f(r.verification.rocAuc)}`,
    `  best F1      ${f(r.verification.bestF1.f1)} at distance ≤ ${f(r.verification.bestF1.threshold)} (precision ${f(r.verification.bestF1.precision)}, recall ${f(r.verification.bestF1.recall)})`,
    r.verification.atPrecision
      ? `  precision ≥ ${r.verification.atPrecision.target}: distance ≤ ${f(r.verification.atPrecision.threshold)} (precision ${f(r.verification.atPrecision.precision)}, recall ${f(r.verification.atPrecision.recall)})`
      : '  target precision: not reachable at any threshold',
  ];
  if (r.fewShot) lines.push(`few-shot kNN classification (k = ${r.fewShot.k}) against the reference: accuracy ${f(r.fewShot.accuracy)} over ${r.fewShot.count} queries`);
  return lines.join('\n');
}

export const knnCommand = defineCommand({
  name: 'knn',
  summary: 'The k nearest neighbours in a table of a row or of any image (embedded with the table\'s model)',
  usage: 'embedlab knn <table> --query <image|path-in-table> [-k 10] [--distance …] [--index <dir>] [--model <runDir|modelDir|model.onnx>] [--engine auto|onnx|tfjs] [--threads 1] [--json]',
  help: '  --index  search an index built by `embedlab index` (approximate; the distances shown are exact); without it, or\n'
    + '           when LanceDB is not installed (said on stderr), the search is exact\n'
    + '  An image outside the table is embedded with --model (default: the model recorded in the table\'s metadata):\n' + ENGINE_HELP,
  positionals: [1, 1],
  options: { query: { type: 'string' }, k: { type: 'int', short: 'k', min: 1, default: 10 }, distance: { type: 'string' }, json: { type: 'boolean' }, model: { type: 'string' }, index: { type: 'string' }, ...ENGINE_OPTIONS },
  async run({ values: v, positionals, usage }) {
    const eo = engineOptions(v);
    if (!v.query) throw new UsageError(`missing --query <image|path-in-table>\nusage: ${usage}`);
    const k = v.k;
    const file = path.resolve(positionals[0]);
    if (!isTableGlob(file) && !fs.existsSync(file)) throw new UsageError(`table does not exist: ${file}`);
    const table = await readTable(file);
    const distance = distanceOf(table, v.distance);
    const dim = table.dim;
    let q: Float32Array;
    let source: string;
    let engineUsed: Record<string, string> = {};
    const row = table.paths.indexOf(v.query.split(path.sep).join('/'));
    if (row >= 0) {
      q = table.vectors.slice(row * dim, (row + 1) * dim);
      source = `table row ${row}`;
    } else {
      const img = path.resolve(v.query);
      if (!fs.existsSync(img)) throw new UsageError(`--query is neither a path in the table nor an image file: ${v.query}`);
      const modelDir = v.model ?? (table.meta?.model as string | undefined);
      if (!modelDir) throw new UsageError(`${file} records no model in its metadata; pass --model <runDir|modelDir> to embed the query image`);
      const e = await engine();
      // A table embedded with a pretrained .onnx model: the query gets the preprocessing the table records.
      const opened = /\.onnx$/i.test(modelDir)
        ? await (await import('../engine/onnx-backbone')).openOnnxBackboneAs(path.resolve(modelDir), table.meta?.preprocessing, eo)
        : isPretrainedSource(modelDir)
          ? await (await import('../engine/pretrained/open')).openPretrainedEmbedder(pretrainedPath(modelDir), eo, { recorded: (v.model ? undefined : table.meta?.preprocessing) as Record<string, never> | undefined })
          : await e.openEmbedder(modelDir, eo);
      try {
        if (opened.pre.embeddingDim !== dim) throw new UsageError(`model ${opened.dir} gives vectors of length ${opened.pre.embeddingDim}, the table has ${dim}`);
        q = await e.embedFiles(opened.embedder, opened.pre, [img]);
      } finally {
        await opened.embedder.dispose();
      }
      source = `embedded with ${opened.dir} (${opened.embedder.name})`;
      engineUsed = { engine: opened.embedder.name, engineDetail: opened.embedder.detail, ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}) };
    }
    const n = table.paths.length;
    const opened = v.index ? await (await import('./index-cmd')).openIndexFor('knn', v.index, table, distance) : { index: null };
    let res: { indices: Int32Array; distances: Float32Array };
    let search: string;
    if (opened.index) {
      try { res = await opened.index.search(q, 1, Math.min(k, n)); } finally { opened.index.close(); }
      search = `index ${opened.index.info.index.type} (${opened.index.info.engine})`;
    } else {
      res = knn(q, 1, table.vectors, n, dim, Math.min(k, n), distance);
      search = 'exact';
    }
    const hits = Array.from(res.indices, (idx, i) => ({ rank: i + 1, path: table.paths[idx], label: table.labels[idx], distance: res.distances[i] })).filter((h) => h.path !== undefined);
    const fallback = 'fallbackReason' in opened ? { indexFallbackReason: opened.fallbackReason } : {};
    if (v.json) {
      process.stdout.write(JSON.stringify({ query: v.query, source, ...engineUsed, distance, search, ...fallback, k: hits.length, neighbors: hits }) + '\n');
      return 0;
    }
    process.stdout.write(`query ${pp(v.query)} (${pp(source)}), ${distance} distance, ${search} search\n`);
    for (const h of hits) process.stdout.write(`${String(h.rank).padStart(3)}  ${h.distance.toFixed(6)}  ${h.label ? `[${pp(h.label)}] ` : ''}${pp(h.path)}\n`);
    return 0;
  },
});

export const synthCommand = defineCommand({
  name: 'synth',
  summary: 'Draw a procedural test dataset: one subfolder per class of shapes',
  usage: 'embedlab synth <outDir> [--classes 12] [--per-class 40] [--size 64] [--seed 1] [--format png|jpeg]',
  positionals: [1, 1],
  options: {
    classes: { type: 'int', min: 1, max: 20, default: 12 }, 'per-class': { type: 'int', min: 1, max: 100_000, default: 40 },
    size: { type: 'int', min: 8, max: 4096, default: 64 }, seed: { type: 'int', min: 0, max: 2 ** 32 - 1, default: 1 }, format: { type: 'string' },
  },
  async run({ values: v, positionals }) {
    const format = v.format ?? 'png';
    if (format !== 'png' && format !== 'jpeg') throw new UsageError(`--format must be png or jpeg (got ${JSON.stringify(format)})`);
    const opts = { classes: v.classes, perClass: v['per-class'], size: v.size, seed: v.seed, format: format as 'png' | 'jpeg' };
    const { generateShapes } = await import('../engine/synth');
    const res = await generateShapes(path.resolve(positionals[0]), opts);
    process.stdout.write(`wrote ${res.files} images in ${res.classes.length} classes to ${pp(positionals[0])}\n`);
    return 0;
  },
});

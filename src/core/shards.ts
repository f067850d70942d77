/**
 * Tables in parts (issue 18): `embedlab embed --shard i/N --out <folder>` writes `<folder>/part-<i>-of-<N>.parquet`,
 * the i-th (0-based, as Kubernetes counts) of N contiguous slices of the folder's sorted file list, so every shard
 * agrees on its slice without talking to the others and the parts in index order are the rows of one unsharded run.
 *
 * Beside each part: its `.meta.json` (as any table) and `part-<i>-of-<N>.manifest.json` (files seen, rows, skipped,
 * the model's hash, the part's size in bytes), written last: a part with a manifest whose size matches is complete.
 * A job killed mid-way leaves only a hidden `.part-….tmp` temp file (src/core/atomic.ts), which readers and
 * `part-*.parquet` globs (DuckDB, Spark) do not see; a part cut short by a non-atomic store (a bucket mounted as a
 * folder) is told by its size or its Parquet footer, and named.
 *
 * Pure: no engine, no tfjs. docs/tables.md records the decisions.
 */
import { createHash } from 'node:crypto';
import { promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BadDataError, LabError } from './errors';

/** A bad --shard value or a shard environment that does not add up: exit 2. */
export class ShardError extends LabError {
  constructor(message: string) { super('bad-usage', message); }
}

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

/** Most shards a table may have (a sanity bound: a typo such as 0/1000000000 is refused). */
export const MAX_SHARDS = 100_000;

function shardInt(s: string, what: string, spec: string): number {
  if (!/^\d+$/.test(s.trim())) throw new ShardError(`--shard ${spec}: ${what} must be a whole number (got ${JSON.stringify(s)}); write i/N, e.g. 0/4 for the first of 4 shards`);
  return Number(s.trim());
}

/** Checks 0 ≤ index < count ≤ MAX_SHARDS; `source` says where the numbers came from. */
export function checkShard(index: number, count: number, source: string): Shard {
  if (!Number.isSafeInteger(count) || count < 1) throw new ShardError(`${source}: the number of shards must be at least 1 (got ${count})`);
  if (count > MAX_SHARDS) throw new ShardError(`${source}: ${count} shards is more than ${MAX_SHARDS}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new ShardError(`${source}: shard ${index} is out of range: shards are numbered from 0 to ${count - 1} (0-based, as Kubernetes' JOB_COMPLETION_INDEX)`);
  }
  return { index, count };
}

/**
 * The value of `--shard`: `i/N`, or `auto` (from the environment, see shardFromEnv). `count` is `--shard-count`
 * (for `auto` under Kubernetes, whose Indexed Job does not tell a pod the number of completions).
 */
export function parseShard(spec: string, env: NodeJS.ProcessEnv = process.env, count?: number): Shard {
  if (spec.trim() === 'auto') return shardFromEnv(env, count);
  const m = /^([^/]*)\/([^/]*)$/.exec(spec);
  if (!m) throw new ShardError(`--shard must be i/N (0-based index i of N shards, e.g. 0/4) or auto (got ${JSON.stringify(spec)})`);
  const index = shardInt(m[1], 'the index', spec);
  const n = shardInt(m[2], 'the number of shards', spec);
  return checkShard(index, n, `--shard ${spec}`);
}

/**
 * `--shard auto`: Kubernetes (JOB_COMPLETION_INDEX, with N from `--shard-count` or EMBEDLAB_SHARD_COUNT) or a Slurm
 * job array (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT; `--array=0-3` and `--array=1-4`
 * both give shards 0…3 of 4). An array with a step (`--array=0-9:2`) is refused: its ids are not 0…N−1.
 */
export function shardFromEnv(env: NodeJS.ProcessEnv, count?: number): Shard {
  const num = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    if (!/^\d+$/.test(v.trim())) throw new ShardError(`--shard auto: ${name} must be a whole number (got ${JSON.stringify(v)})`);
    return Number(v.trim());
  };
  const k8s = num('JOB_COMPLETION_INDEX');
  if (k8s !== undefined) {
    const n = count ?? num('EMBEDLAB_SHARD_COUNT');
    if (n === undefined) throw new ShardError('--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of shards: pass --shard-count N or set EMBEDLAB_SHARD_COUNT to the Job\'s completions');
    return checkShard(k8s, n, `--shard auto (JOB_COMPLETION_INDEX=${k8s}, ${n} shards)`);
  }
  const id = num('SLURM_ARRAY_TASK_ID');
  if (id !== undefined) {
    const n = count ?? num('SLURM_ARRAY_TASK_COUNT');
    if (n === undefined) throw new ShardError('--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: pass --shard-count N');
    const min = num('SLURM_ARRAY_TASK_MIN') ?? 0;
    const step = num('SLURM_ARRAY_TASK_STEP') ?? 1;
    if (step !== 1) throw new ShardError(`--shard auto: SLURM_ARRAY_TASK_STEP is ${step}; give the array consecutive ids (--array=0-${n - 1})`);
    return checkShard(id - min, n, `--shard auto (SLURM_ARRAY_TASK_ID=${id}, SLURM_ARRAY_TASK_MIN=${min}, ${n} shards)`);
  }
  throw new ShardError('--shard auto: neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor SLURM_ARRAY_TASK_ID (Slurm job array) is set; pass --shard i/N');
}

/** The half-open range [start, end) of `n` sorted files that shard `s` embeds: contiguous, sizes differ by ≤ 1. */
export function shardRange(n: number, s: Shard): { start: number; end: number } {
  return { start: Math.floor((s.index * n) / s.count), end: Math.floor(((s.index + 1) * n) / s.count) };
}

export function partName(s: Shard): string {
  return `part-${s.index}-of-${s.count}.parquet`;
}

const PART_RE = /^part-(\d+)-of-(\d+)\.parquet$/;

export function parsePartName(name: string): Shard | null {
  const m = PART_RE.exec(name);
  return m ? { index: Number(m[1]), count: Number(m[2]) } : null;
}

export function manifestPath(partPath: string): string {
  return partPath.replace(/\.parquet$/, '.manifest.json');
}

export interface PartManifest {
  part: string;
  shard: Shard;
  /** Files in the whole folder (the sorted list every shard splits). */
  filesInFolder: number;
  /** Files of this shard's slice, and the first and last of them. */
  filesSeen: number;
  first: string | null;
  last: string | null;
  rows: number;
  skipped: number;
  modelHash: string;
  model: string;
  dim: number;
  /** Size of the part in bytes when it was committed. */
  bytes: number;
  createdAt: string;
}

/**
 * A hash of the model's weights and graph: sha256 over the names and bytes of its files (a file, or the model
 * files at the top of a folder: *.json, *.bin, *.onnx, *.safetensors, except threshold.json and the sidecars that
 * `eval` writes later). Two parts are of one model when their hashes are equal.
 */
export function modelHash(modelPath: string): string {
  const h = createHash('sha256');
  const st = statSync(modelPath);
  const files = st.isDirectory()
    ? readdirSync(modelPath).filter((f) => /\.(json|bin|onnx|safetensors)$/i.test(f) && f !== 'threshold.json' && !f.startsWith('.')).sort()
      .map((f) => join(modelPath, f)).filter((f) => statSync(f).isFile())
    : [modelPath];
  for (const f of files) {
    h.update(basename(f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return `sha256:${h.digest('hex')}`;
}

export type PartState = 'complete' | 'missing' | 'truncated' | 'no-manifest' | 'other-model' | 'other-count';

export interface PartStatus {
  index: number;
  file: string;
  state: PartState;
  rows?: number;
  modelHash?: string;
  detail?: string;
}

export interface FolderStatus {
  folder: string;
  count: number | null;
  modelHash: string | null;
  parts: PartStatus[];
  /** Parts of another N (part-i-of-M with M ≠ count). */
  strays: string[];
  /** Hidden temp files of writers that did not finish (a killed job). */
  temps: string[];
  complete: boolean;
}

async function readManifest(file: string): Promise<PartManifest | null> {
  let text: string;
  try { text = await fsp.readFile(file, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try { return JSON.parse(text) as PartManifest; } catch { return null; }
}

/** Checks a part's Parquet framing: `PAR1` at both ends and a footer length that fits the file. */
async function parquetFraming(file: string, size: number): Promise<string | null> {
  if (size < 12) return `${size} bytes, too short for a Parquet file`;
  const fh = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(8);
    await fh.read(head, 0, 4, 0);
    await fh.read(tail, 0, 8, size - 8);
    if (head.toString('latin1') !== 'PAR1') return 'does not start with PAR1';
    if (tail.toString('latin1', 4) !== 'PAR1') return 'does not end with PAR1 (cut short)';
    const footer = tail.readUInt32LE(0);
    if (footer + 12 > size) return `footer of ${footer} bytes does not fit in ${size} bytes`;
    return null;
  } finally {
    await fh.close();
  }
}

/**
 * The state of a folder of parts: which of part-0…N−1 are complete, missing, truncated (size differs from the
 * manifest, or not framed as Parquet), without a manifest (the writer died between the part and its manifest),
 * or of another model (the hash most parts share is the folder's); parts of another N and leftover temp files.
 * `expect` (a model hash) overrides the majority.
 */
export async function folderStatus(folder: string, expect?: { modelHash?: string; count?: number }): Promise<FolderStatus> {
  let names: string[];
  try { names = await fsp.readdir(folder); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BadDataError(`table folder does not exist: ${folder}`);
    throw err;
  }
  const parts = names.map((n) => ({ n, s: parsePartName(n) })).filter((p): p is { n: string; s: Shard } => p.s !== null);
  const temps = names.filter((n) => /^\.part-\d+-of-\d+\.parquet\..*\.tmp$/.test(n)).sort();
  if (!parts.length) return { folder, count: expect?.count ?? null, modelHash: expect?.modelHash ?? null, parts: [], strays: [], temps, complete: false };
  // N: the count asked for, else the one most parts have.
  const counts = new Map<number, number>();
  for (const p of parts) counts.set(p.s.count, (counts.get(p.s.count) ?? 0) + 1);
  const count = expect?.count ?? [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  const strays = parts.filter((p) => p.s.count !== count).map((p) => p.n).sort();
  const byIndex = new Map(parts.filter((p) => p.s.count === count).map((p) => [p.s.index, p.n]));
  const out: PartStatus[] = [];
  for (let i = 0; i < count; i++) {
    const name = byIndex.get(i) ?? partName({ index: i, count });
    const file = join(folder, name);
    if (!byIndex.has(i)) { out.push({ index: i, file, state: 'missing' }); continue; }
    const size = (await fsp.stat(file)).size;
    const framing = await parquetFraming(file, size);
    const man = await readManifest(manifestPath(file));
    if (framing) { out.push({ index: i, file, state: 'truncated', detail: framing }); continue; }
    if (!man) { out.push({ index: i, file, state: 'no-manifest', detail: `${basename(manifestPath(file))} is missing or unreadable: the job stopped before it finished this part` }); continue; }
    if (man.bytes !== size) { out.push({ index: i, file, state: 'truncated', detail: `${size} bytes, its manifest says ${man.bytes}` }); continue; }
    out.push({ index: i, file, state: 'complete', rows: man.rows, modelHash: man.modelHash });
  }
  const hashes = new Map<string, number>();
  for (const p of out) if (p.modelHash) hashes.set(p.modelHash, (hashes.get(p.modelHash) ?? 0) + 1);
  const modelHash = expect?.modelHash ?? ([...hashes.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null);
  for (const p of out) {
    if (p.state === 'complete' && p.modelHash !== modelHash) { p.state = 'other-model'; p.detail = `model ${p.modelHash}, the folder's is ${modelHash}`; }
  }
  return { folder, count, modelHash, parts: out, strays, temps, complete: strays.length === 0 && out.every((p) => p.state === 'complete') };
}

/** One line per part that is not complete, naming it and what to do; '' when the folder is complete. */
export function describeProblems(st: FolderStatus): string {
  const lines: string[] = [];
  for (const p of st.parts) {
    if (p.state === 'complete') continue;
    const what = p.state === 'missing' ? 'missing' : p.state === 'truncated' ? `truncated (${p.detail})` : p.state === 'no-manifest' ? `incomplete (${p.detail})`
      : p.state === 'other-model' ? `from another model (${p.detail})` : p.state;
    lines.push(`  ${basename(p.file)}: ${what}; re-run shard ${p.index}/${st.count}`);
  }
  for (const s of st.strays) lines.push(`  ${s}: a part of another split than ${st.count} shards; remove it or embed into another folder`);
  return lines.join('\n');
}

/** Is `p` a glob over table files (a `*` or `?` in its last component)? */
export function isTableGlob(p: string): boolean {
  return /[*?]/.test(basename(p));
}

/** The files a basename glob (`*`, `?`) matches, sorted; the folder part is taken as it is. */
export function expandTableGlob(p: string): string[] {
  const dir = dirname(p);
  const re = new RegExp(`^${basename(p).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  let names: string[];
  try { names = readdirSync(dir); } catch { names = []; }
  return names.filter((n) => !n.startsWith('.') && re.test(n)).sort(partOrder).map((n) => join(dir, n));
}

/** Parts in index order (part-10 after part-9), other names by name. */
export function partOrder(a: string, b: string): number {
  const pa = parsePartName(basename(a));
  const pb = parsePartName(basename(b));
  if (pa && pb) return pa.count - pb.count || pa.index - pb.index;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Is `p` a folder that holds table parts (or their temp files)? */
export function isPartsFolder(p: string): boolean {
  try {
    if (!statSync(p).isDirectory()) return false;
    return readdirSync(p).some((n) => PART_RE.test(n));
  } catch { return false; }
}

/** A table argument: a .parquet/.csv file, a glob over them, or a folder of parts. */
export function isTableArg(p: string): boolean {
  return /\.(parquet|csv)$/i.test(p) || isTableGlob(p) || isPartsFolder(p);
}

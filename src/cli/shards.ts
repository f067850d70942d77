// Sharded embedding and tables in parts (issue 18): `embed --shard i/N|auto --out <folder>` (its preparation and
// manifest, called from embed in scoring.ts) and `embedlab status <table-folder>`. The rules live in src/core/shards.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../core/atomic';
import { printablePath as pp } from '../core/printable';
import {
  describeProblems, folderStatus, manifestPath, modelHash, parseShard, partName, shardRange, ShardError, type PartManifest, type Shard,
} from '../core/shards';
import { defineCommand, UsageError } from './args';

export interface ShardPlan {
  shard: Shard;
  folder: string;
  out: string;
  modelHash: string;
}

/**
 * Before a shard embeds: its index (from --shard or the environment), its part's path in --out (made when missing),
 * and a check that the folder holds no part of another model or another split.
 */
export async function planShard(spec: string, count: number | undefined, outArg: string, modelPath: string): Promise<ShardPlan> {
  const shard = parseShard(spec, process.env, count);
  const folder = path.resolve(outArg);
  if (/\.(parquet|csv)$/i.test(folder)) throw new UsageError(`with --shard, --out is a folder for the parts (got ${outArg}); the part is written as ${partName(shard)} in it`);
  if (fs.existsSync(folder) && !fs.statSync(folder).isDirectory()) throw new UsageError(`--out ${outArg} is a file; with --shard it must be a folder`);
  fs.mkdirSync(folder, { recursive: true });
  const hash = modelHash(modelPath);
  const st = await folderStatus(folder, { count: shard.count });
  if (st.strays.length) throw new ShardError(`${folder} holds parts of another split than ${shard.count} shards (${st.strays.slice(0, 3).join(', ')}${st.strays.length > 3 ? ', …' : ''}): embed into another folder, or remove them`);
  const others = st.parts.filter((p) => p.index !== shard.index && p.modelHash !== undefined && p.modelHash !== hash);
  if (others.length) {
    throw new ShardError(`${folder} holds parts of another model (${others.map((p) => path.basename(p.file)).slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}: ${others[0].modelHash}; this model is ${hash}): `
      + 'one folder is one table of one model; embed into another folder, or remove those parts');
  }
  return { shard, folder, out: path.join(folder, partName(shard)), modelHash: hash };
}

/** After the part is committed: its manifest, written last (a part with a manifest of its size is complete). */
export async function writeManifest(plan: ShardPlan, res: { rows: number; skipped: unknown[]; filesInFolder: number; filesSeen: number; first: string | null; last: string | null }, model: string, dim: number): Promise<PartManifest> {
  const manifest: PartManifest = {
    part: path.basename(plan.out), shard: plan.shard, filesInFolder: res.filesInFolder, filesSeen: res.filesSeen, first: res.first, last: res.last,
    rows: res.rows, skipped: res.skipped.length, modelHash: plan.modelHash, model, dim, bytes: fs.statSync(plan.out).size, createdAt: new Date().toISOString(),
  };
  await writeJsonAtomic(manifestPath(plan.out), manifest);
  return manifest;
}

/** The shard's slice of the sorted file list; an empty slice (more shards than files) is refused. */
export function shardSelect<T>(plan: ShardPlan): (images: T[]) => T[] {
  return (images) => {
    const { start, end } = shardRange(images.length, plan.shard);
    if (end === start) throw new ShardError(`shard ${plan.shard.index}/${plan.shard.count} has no images: the folder has ${images.length}; use at most ${images.length} shards`);
    return images.slice(start, end);
  };
}

export const statusCommand = defineCommand({
  name: 'status',
  summary: 'Which parts of a sharded table (embed --shard) are complete, missing, truncated or of another model',
  usage: 'embedlab status <table-folder> [--json]',
  help: '  one line per part-<i>-of-<N>.parquet; exit 0 when every part is complete, 1 when one is not (re-run the shards named).',
  positionals: [1, 1],
  options: { json: { type: 'boolean' } },
  async run({ values: v, positionals }) {
    const folder = path.resolve(positionals[0]);
    if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) throw new UsageError(`not a folder: ${folder}`);
    const st = await folderStatus(folder);
    const rows = st.parts.reduce((s, p) => s + (p.state === 'complete' ? p.rows ?? 0 : 0), 0);
    if (v.json) {
      process.stdout.write(JSON.stringify({ type: 'status', folder, count: st.count, modelHash: st.modelHash, complete: st.complete, rows, parts: st.parts.map((p) => ({ ...p, file: path.basename(p.file) })), strays: st.strays, temps: st.temps }) + '\n');
      return st.complete ? 0 : 1;
    }
    if (!st.parts.length) {
      process.stdout.write(`${pp(folder)}: no parts (part-<i>-of-<N>.parquet)${st.temps.length ? `; ${st.temps.length} unfinished temp file(s)` : ''}\n`);
      return 1;
    }
    for (const p of st.parts) {
      process.stdout.write(`${path.basename(p.file).padEnd(24)} ${p.state.padEnd(12)}${p.rows !== undefined ? ` ${p.rows} rows` : ''}${p.detail ? `  ${p.detail}` : ''}\n`);
    }
    const done = st.parts.filter((p) => p.state === 'complete').length;
    process.stdout.write(`${done} of ${st.count} parts complete, ${rows} rows; model ${st.modelHash ?? 'unknown'}\n`);
    if (st.temps.length) process.stdout.write(`${st.temps.length} unfinished temp file(s) of jobs that did not finish (removed when that shard runs again): ${st.temps.slice(0, 3).join(', ')}\n`);
    const problems = describeProblems(st);
    if (problems) process.stdout.write(`not complete:\n${problems}\n`);
    return st.complete ? 0 : 1;
  },
});

// `embedlab index <table> --out <dir>`: an approximate nearest-neighbour index of a table (src/core/vector-index.ts,
// LanceDB IVF-PQ), used by `knn` and `classify` with `--index <dir>`; and how those commands open it, or say why they
// search exactly instead.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DistanceName } from '../core/config-types';
import { printablePath as pp, printableText } from '../core/printable';
import { isTableGlob } from '../core/shards';
import { readTable, type Table } from '../core/table';
import { buildIndex, loadLance, openIndex, rowDistance, type OpenIndex } from '../core/vector-index';
import { defineCommand, UsageError } from './args';
import { distanceOption, DISTANCES } from './scoring';

export const indexCommand = defineCommand({
  name: 'index',
  summary: 'Build an approximate nearest-neighbour index of a table (LanceDB IVF-PQ) for knn and classify --index',
  usage: 'embedlab index <table|table-folder> --out <dir> [--distance euclidean|squared-euclidean|cosine] [--partitions N] [--sub-vectors M] [--nprobes P] [--refine R] [--json]',
  help: '  IVF-PQ (LanceDB, an optional dependency): --partitions (default √rows) IVF lists, --sub-vectors (default dim/8) PQ\n'
    + '  codes per vector; a search probes --nprobes lists (default max(20, partitions/16)) and re-ranks --refine × k\n'
    + '  candidates (default 10) on the full vectors. The index records the table it was built from: another table is refused.',
  positionals: [1, 1],
  options: {
    out: { type: 'string' }, distance: { type: 'string' }, partitions: { type: 'int', min: 1, max: 1_000_000 }, 'sub-vectors': { type: 'int', min: 1, max: 4096 },
    nprobes: { type: 'int', min: 1, max: 1_000_000 }, refine: { type: 'int', min: 1, max: 1000 }, json: { type: 'boolean' },
  },
  async run({ values: v, positionals, usage }) {
    if (!v.out) throw new UsageError(`missing --out <dir>\nusage: ${usage}`);
    const file = path.resolve(positionals[0]);
    if (!isTableGlob(file) && !fs.existsSync(file)) throw new UsageError(`table does not exist: ${file}`);
    const table = await readTable(file);
    const meta = table.meta?.distance;
    const distance = distanceOption(v.distance) ?? (DISTANCES.includes(meta as DistanceName) ? meta as DistanceName : 'euclidean');
    const info = await buildIndex(table, path.resolve(v.out), {
      distance, numPartitions: v.partitions, numSubVectors: v['sub-vectors'], nprobes: v.nprobes, refineFactor: v.refine, source: file,
    });
    if (v.json) process.stdout.write(JSON.stringify({ type: 'index', dir: path.resolve(v.out), ...info }) + '\n');
    else process.stdout.write(`wrote ${pp(path.resolve(v.out))}: ${info.index.type} index of ${info.table.rows} rows × ${info.table.dim} (${distance}; ${info.index.numPartitions} partitions, ${info.index.numSubVectors} sub-vectors) in ${info.buildSeconds.toFixed(1)} s with ${info.engine}\n`);
    return 0;
  },
});

/**
 * Opens `--index <dir>` for `table`. An index of another table or distance is refused (exit 2); when LanceDB is not
 * installed, says so on stderr and returns null: the caller searches exactly (and reports `search: "exact"`).
 */
export async function openIndexFor(cmd: string, dir: string, table: Table, distance: DistanceName): Promise<{ index: OpenIndex | null; fallbackReason?: string }> {
  const l = await loadLance();
  if (!l.ok) {
    process.stderr.write(printableText(`embedlab ${cmd}: --index ${dir} not used: ${l.reason}; searching exactly instead\n`));
    return { index: null, fallbackReason: l.reason };
  }
  return { index: await openIndex(path.resolve(dir), table, distance, rowDistance(distance, table.vectors, table.dim)) };
}

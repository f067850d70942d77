// The dashboard's table views: a loaded embedding table, its TableView, the cached eval report, and neighbours
// (from the table itself or from `embedlab knn`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DistanceName } from '../core/config-types';
import { knn } from '../core/knn';
import { readTable, type Table } from '../core/table';
import { type EvalView, type NeighborsView, type TableView } from '../protocol/webview';
import { tablesOfRun } from './logic';


const DISTANCES: readonly DistanceName[] = ['euclidean', 'squared-euclidean', 'cosine'];

export interface LoadedTable {
  file: string;
  table: Table;
  distance: DistanceName;
  /** The folder the table's paths are relative to (meta.folder), when it exists. */
  folder: string | null;
  /** Identity for the projection cache. */
  id: { rows: number; dim: number; size: number; mtimeMs: number };
  rowOf: Map<string, number>;
  /** The vectors in a SharedArrayBuffer for the worker thread (made on the first job; see sharedVectors). */
  shared?: SharedArrayBuffer;
}

/** The table a dashboard shows: the one given, else the newest under `<run>/tables/`. */
export function defaultTable(runDir: string, given?: string): string | undefined {
  if (given) return path.resolve(given);
  return tablesOfRun(runDir)[0]?.file;
}

export async function loadTable(file: string): Promise<LoadedTable> {
  const st = fs.statSync(file);
  const table = await readTable(file);
  const d = table.meta?.distance;
  const folder = typeof table.meta?.folder === 'string' && table.meta.folder ? path.resolve(path.dirname(file), table.meta.folder) : null;
  const rowOf = new Map<string, number>();
  table.paths.forEach((p, i) => { if (!rowOf.has(p)) rowOf.set(p, i); });
  return {
    file, table, distance: DISTANCES.includes(d as DistanceName) ? (d as DistanceName) : 'euclidean',
    folder: folder && fs.existsSync(folder) ? folder : null,
    id: { rows: table.paths.length, dim: table.dim, size: st.size, mtimeMs: st.mtimeMs }, rowOf,
  };
}

export function tableView(t: LoadedTable): TableView {
  return { file: t.file, rows: t.table.paths.length, dim: t.table.dim, distance: t.distance, paths: t.table.paths, labels: t.table.labels };
}

/** Class names in eval's class-index order (first-seen order of the non-empty labels, as `embedlab eval` numbers them). */
export function classNames(labels: readonly string[]): string[] {
  return [...new Set(labels.filter((l) => l !== ''))];
}

/** `<table>.eval.json` when it is at least as new as the table; else undefined. */
export function readCachedEval(tableFile: string): Record<string, unknown> | undefined {
  const f = `${tableFile}.eval.json`;
  try {
    if (fs.statSync(f).mtimeMs + 1 < fs.statSync(tableFile).mtimeMs) return undefined;
    const v = JSON.parse(fs.readFileSync(f, 'utf8')) as unknown;
    return v && typeof v === 'object' && 'retrieval' in v ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function evalView(report: Record<string, unknown>, labels: readonly string[]): EvalView {
  return { ...(report as unknown as EvalView), classNames: classNames(labels) };
}

/**
 * The neighbours of table row `row`: core knn over the rest of the table, leaving the row itself out (as `embedlab
 * eval` does: a query is never its own neighbour; an identical image in another row still is one).
 */
export function neighborsOfRow(t: LoadedTable, row: number, k: number): NeighborsView {
  const { table } = t;
  const n = table.paths.length;
  if (row < 0 || row >= n) throw new RangeError(`row ${row} is not in the table (${n} rows)`);
  const res = knn(table.vectors, 1, table.vectors, n, table.dim, Math.max(1, k), t.distance, { queryOffset: row, excludeSelf: true });
  return {
    query: { kind: 'row', row, path: table.paths[row], label: table.labels[row] },
    k: res.k, distance: t.distance,
    neighbors: Array.from(res.indices, (idx, i) => ({ rank: i + 1, row: idx, path: table.paths[idx], label: table.labels[idx], distance: res.distances[i] })),
  };
}

export interface CliNeighbor { rank: number; path: string; label: string; distance: number }

/**
 * `embedlab knn --json` output (for an image file) as a NeighborsView; rows found by path. An image that is a row of
 * the table (`image` is its path there) is left out of its own neighbours, the rest ranked from 1; at most `k` kept.
 */
export function neighborsFromCli(
  image: string, neighbors: readonly CliNeighbor[], distance: string, rowOf: Map<string, number> | undefined, uri?: string, k = Infinity,
): NeighborsView {
  const self = rowOf?.get(image);
  const kept = neighbors.filter((n) => self === undefined || n.path !== image).slice(0, k);
  return {
    query: { kind: 'image', path: image, ...(self !== undefined ? { label: neighbors.find((n) => n.path === image)?.label ?? '' } : {}), ...(uri ? { uri } : {}) },
    k: kept.length, distance,
    neighbors: kept.map((n, i) => ({ rank: i + 1, path: n.path, label: n.label ?? '', distance: n.distance, ...(rowOf?.has(n.path) ? { row: rowOf.get(n.path) } : {}) })),
  };
}

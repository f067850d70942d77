// The dashboard's table picker and its refresh: the workspace's embedding tables, newest first, and the run a table
// belongs to (a table written for the dashboard's own run is shown at once; others are listed in the picker).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TableChoice } from '../protocol/webview';
import { isInside, readTableMeta, runDirOfModel, TABLE_EXT, tablesOfRun } from './logic';

/** An embedding table: a .parquet or .csv file with the `.meta.json` sidecar `embed` writes, or in a run's tables/. */
export function isEmbeddingTable(file: string): boolean {
  if (!TABLE_EXT.test(file)) return false;
  if (path.basename(path.dirname(file)) === 'tables' && fs.existsSync(path.join(path.dirname(file), '..', 'run.json'))) return true;
  return fs.existsSync(`${file}.meta.json`);
}

/** The run folder whose model made a table: `<run>/tables/…`, else the model its sidecar records; undefined if neither. */
export function runOfTable(file: string): string | undefined {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  if (path.basename(dir) === 'tables' && fs.existsSync(path.join(dir, '..', 'run.json'))) return path.dirname(dir);
  const model = readTableMeta(abs)?.model;
  return typeof model === 'string' && model ? runDirOfModel(path.resolve(dir, model)) : undefined;
}

/**
 * The picker's entries for `files`: each existing file once, newest first (then by path), labelled by its path
 * relative to the first of `roots` that holds it (the workspace folders), else by its run and name.
 */
export function tableChoices(files: Iterable<string>, roots: readonly string[] = []): TableChoice[] {
  const seen = new Set<string>();
  const out: TableChoice[] = [];
  for (const f of files) {
    const abs = path.resolve(f);
    if (seen.has(abs)) continue;
    seen.add(abs);
    let mtimeMs: number;
    try {
      const st = fs.statSync(abs);
      if (!st.isFile()) continue;
      mtimeMs = st.mtimeMs;
    } catch {
      continue; // gone
    }
    const run = runOfTable(abs);
    const root = roots.find((r) => isInside(abs, r));
    const label = root ? path.relative(root, abs).split(path.sep).join('/') : run ? `${path.basename(run)}/${path.relative(run, abs).split(path.sep).join('/')}` : path.basename(abs);
    out.push({ file: abs, label, mtimeMs, ...(run ? { run: path.basename(run) } : {}) });
  }
  return out.sort((a, b) => b.mtimeMs - a.mtimeMs || a.file.localeCompare(b.file));
}

/** The picker's list for a dashboard: the workspace's tables (`listTables`), the run's own and the one shown. */
export async function workspaceTables(
  runDir: string, current: string | null, src: { listTables?(): Promise<string[]>; workspaceRoots?(): string[] },
): Promise<TableChoice[]> {
  const files = [...(await src.listTables?.() ?? []), ...tablesOfRun(runDir).map((t) => t.file), ...(current ? [current] : [])];
  return tableChoices(files, src.workspaceRoots?.() ?? []);
}

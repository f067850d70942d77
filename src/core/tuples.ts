// Tuples for the full model (issue 16, item 3): a CSV with one image column per stream — pairs (with an optional
// same/different target), triplets, quartets — as DLPy's ImageEmbeddingTable lays them out (`_path_`, `_path_1`, …)
// or with readable names; the per-row scores `embedlab score` writes (DLPy's `_DL_Pred0_`, `_DL_Pred1_`, … plus the
// model's output names) and the rule for a correct triplet or quartet. Pure: no tfjs, no images. docs/use-model.md.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadDataError } from './errors';
import { CsvParser } from './table';
import { parsePairLabel } from './threshold';

export type StreamCount = 2 | 3 | 4;

/**
 * The column names accepted for each stream, as alternative complete sets (matched case-insensitively, the first
 * set whose every column the header has wins). DLPy's: `_path_`, `_path_1`, … (or `_image_`, `_image_1`, … holding
 * paths, as a CSV cannot hold its binary images); the full model's input names (`image_anchor`, …); plain names.
 */
export const STREAM_COLUMNS: Record<StreamCount, ReadonlyArray<readonly string[]>> = {
  2: [['_path_', '_path_1'], ['_image_', '_image_1'], ['image_a', 'image_b'], ['a', 'b']],
  3: [['_path_', '_path_1', '_path_2'], ['_image_', '_image_1', '_image_2'], ['image_anchor', 'image_positive', 'image_negative'], ['anchor', 'positive', 'negative']],
  4: [
    ['_path_', '_path_1', '_path_2', '_path_3'], ['_image_', '_image_1', '_image_2', '_image_3'],
    ['image_anchor', 'image_positive', 'image_negative1', 'image_negative2'], ['anchor', 'positive', 'negative1', 'negative2'],
    // DLPy's quartet panels: Anchor / Positive / Negative / Negative1.
    ['anchor', 'positive', 'negative', 'negative1'],
  ],
};

/** The streams' names in the output table (the columns that hold each row's image paths as the CSV gave them). */
export const STREAM_OUT: Record<StreamCount, readonly string[]> = {
  2: ['a', 'b'], 3: ['anchor', 'positive', 'negative'], 4: ['anchor', 'positive', 'negative1', 'negative2'],
};

/** A pair's target column: DLPy's `_dissimilar_` (1 = different classes) or `label` (same/different, 1 = same, as verify's). */
export const TARGET_COLUMNS = ['_dissimilar_', 'label'] as const;

export interface TupleRow {
  /** The CSV line the row is on (1 = the header). */
  line: number;
  /** The image of each stream: absolute (a relative path is resolved against the CSV's folder). */
  files: string[];
  /** The paths as the CSV wrote them. */
  given: string[];
  /** Pairs: true = same, false = different, null = no target. */
  same: boolean | null;
}

export interface Tuples {
  streams: StreamCount;
  /** The header's names of the stream columns that were used, and of the target column (pairs; null if none). */
  columns: string[];
  target: string | null;
  rows: TupleRow[];
}

/** Reads a tuples CSV for a model of `streams` streams. Missing columns, empty cells, absent files: errors naming the line. */
export function readTuples(file: string, streams: StreamCount): Tuples {
  if (!fs.existsSync(file)) throw new BadDataError(`tuples file does not exist: ${file}`);
  const base = path.dirname(file);
  const text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''); // a BOM (Excel's UTF-8 CSV)
  let cols: number[] | null = null;
  let target = -1;
  let header: string[] = [];
  const rows: TupleRow[] = [];
  const parser = new CsvParser(file, (fields, line) => {
    if (!cols) {
      header = fields.map((f) => f.trim());
      const lower = header.map((f) => f.toLowerCase());
      for (const set of STREAM_COLUMNS[streams]) {
        const idx = set.map((c) => lower.indexOf(c));
        if (idx.every((i) => i >= 0)) { cols = idx; break; }
      }
      if (!cols) {
        const kind = streams === 2 ? 'pairs' : streams === 3 ? 'triplets' : 'quartets';
        throw new BadDataError(`${file} line ${line}: the model scores ${kind} (${streams} images a row), so the header needs one of the column sets `
          + `${STREAM_COLUMNS[streams].map((s) => s.join(',')).join(' | ')}; it has ${header.map((f) => JSON.stringify(f)).join(', ')}`);
      }
      if (streams === 2) target = TARGET_COLUMNS.map((c) => lower.indexOf(c)).find((i) => i >= 0) ?? -1;
      return;
    }
    const c = cols;
    const need = Math.max(...c) + 1;
    if (fields.length === 1 && fields[0].trim() === '') return; // a blank line
    if (fields.length < need) throw new BadDataError(`${file} line ${line}: ${fields.length} field(s), the header has columns up to ${need}`);
    const given = c.map((i) => fields[i].trim());
    given.forEach((g, s) => { if (!g) throw new BadDataError(`${file} line ${line}: column ${header[c[s]]} is empty`); });
    const files = given.map((g) => path.resolve(base, g));
    files.forEach((f, s) => { if (!fs.existsSync(f)) throw new BadDataError(`${file} line ${line}: image ${header[c[s]]} does not exist: ${f}`); });
    let same: boolean | null = null;
    if (target >= 0 && target < fields.length) {
      const cell = fields[target];
      try {
        if (header[target].toLowerCase() === '_dissimilar_') {
          const d = parsePairLabel(cell); // 1 = dissimilar
          same = d === null ? null : !d;
        } else same = parsePairLabel(cell);
      } catch (err) {
        throw new BadDataError(`${file} line ${line}: column ${header[target]}: ${(err as Error).message}${header[target].toLowerCase() === '_dissimilar_' ? ' (1 = different classes, 0 = same)' : ''}`);
      }
    }
    rows.push({ line, files, given, same });
  });
  parser.push(text);
  parser.end();
  if (!cols) throw new BadDataError(`${file} is empty: it needs a header (e.g. ${STREAM_COLUMNS[streams][STREAM_COLUMNS[streams].length - 1].join(',')}) and one tuple a line`);
  if (!rows.length) throw new BadDataError(`${file} has a header but no rows`);
  return { streams, columns: (cols as number[]).map((i) => header[i]), target: target >= 0 ? header[target] : null, rows };
}

/** DLPy's name of the k-th distance a full model outputs (`_DL_Pred0_`, `_DL_Pred1_`, …). */
export const dlPredColumn = (k: number): string => `_DL_Pred${k}_`;

/**
 * A triplet or quartet is correct when the positive pair is closer than every negative pair the model measures:
 * triplet d(a,p) < d(a,n) (DLPy's `_DL_Pred0_ < _DL_Pred1_`); quartet d(a,p) < d(a,n1) and d(a,p) < d(n1,n2)
 * (both terms of the quartet loss satisfied at margin 0). `d` holds the row's distances in the model's order.
 */
export function tupleCorrect(d: ArrayLike<number>): boolean {
  for (let k = 1; k < d.length; k++) if (!(d[0] < d[k])) return false;
  return true;
}

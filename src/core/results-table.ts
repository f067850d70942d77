// The result tables of the commands that use a model (verify --pairs, classify, duplicates, eval --outliers, score):
// flat rows of named, typed columns, written atomically as CSV or Parquet by the file's extension — the same choice as
// `embed --out`. CSV: a header row, strings quoted where needed (csvQuote), numbers as JavaScript prints them, a
// missing value empty. Parquet: one row group, one DataPage v1 per column, PLAIN values (strings UTF8 BYTE_ARRAY,
// numbers DOUBLE, integers INT64, booleans BOOLEAN), a column with missing values OPTIONAL with its definition levels;
// src/core/parquet-format.ts encodes the page headers, levels and footer. pandas, DuckDB and polars read both.
import { writeFileAtomic } from './atomic';
import {
  ConvertedType, encodeFileMetaData, encodePageHeader, MAGIC, plainByteArrays, PqType, Repetition, utf8, varintBytes,
  type ColumnChunkInfo, type SchemaNode,
} from './parquet-format';
import { csvQuote } from './table';

export type ResultColumn =
  | { name: string; type: 'string'; values: ReadonlyArray<string | null> }
  | { name: string; type: 'double'; values: ReadonlyArray<number | null> | Float32Array | Float64Array }
  | { name: string; type: 'int'; values: ReadonlyArray<number | null> | Int32Array }
  | { name: string; type: 'boolean'; values: ReadonlyArray<boolean | null> };

export type ResultFormat = 'csv' | 'parquet';

/** The format a results file's name asks for, or undefined (neither .csv nor .parquet). */
export function resultFormatOf(file: string): ResultFormat | undefined {
  return /\.csv$/i.test(file) ? 'csv' : /\.parquet$/i.test(file) ? 'parquet' : undefined;
}

function rowCount(columns: readonly ResultColumn[]): number {
  const n = columns[0]?.values.length ?? 0;
  for (const c of columns) if (c.values.length !== n) throw new Error(`results table: column ${c.name} has ${c.values.length} values, ${columns[0].name} ${n}`);
  return n;
}

/** The value as a CSV field: a missing value (null, or NaN in a number column) is empty. */
function csvField(c: ResultColumn, i: number): string {
  const v = c.values[i];
  if (v === null || v === undefined) return '';
  if (c.type === 'string') return csvQuote(v as string);
  if (c.type === 'boolean') return v ? 'true' : 'false';
  return Number.isNaN(v) ? '' : String(v);
}

export function resultsCsv(columns: readonly ResultColumn[]): string {
  const n = rowCount(columns);
  const lines = [columns.map((c) => csvQuote(c.name)).join(',')];
  for (let i = 0; i < n; i++) lines.push(columns.map((c) => csvField(c, i)).join(','));
  return lines.join('\n') + '\n';
}

const TYPE = { boolean: PqType.BOOLEAN, int: PqType.INT64, double: PqType.DOUBLE, string: PqType.BYTE_ARRAY } as const;

const missing = (c: ResultColumn, i: number): boolean => {
  const v = c.values[i];
  return v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v)); // NaN: no value (as in CSV)
};

/** RLE/bit-packed hybrid runs (bit width 1) of 0/1 levels, with DataPage v1's 4-byte length prefix. */
function levels(defined: Uint8Array): Uint8Array {
  const runs: number[] = [];
  for (let i = 0; i < defined.length;) {
    let j = i;
    while (j < defined.length && defined[j] === defined[i]) j++;
    runs.push(...varintBytes((j - i) * 2), defined[i]); // RLE run: header count << 1, then the value
    i = j;
  }
  const out = Buffer.allocUnsafe(4 + runs.length);
  out.writeUInt32LE(runs.length, 0);
  out.set(runs, 4);
  return out;
}

/** PLAIN values of the defined rows. */
function plainValues(c: ResultColumn, rows: number[]): Uint8Array {
  switch (c.type) {
    case 'string': {
      const parts = rows.map((i) => utf8.encode(c.values[i] as string));
      return plainByteArrays(parts, parts.reduce((s, p) => s + p.byteLength, 0));
    }
    case 'double': {
      const out = Buffer.allocUnsafe(rows.length * 8);
      rows.forEach((i, k) => out.writeDoubleLE(c.values[i] as number, k * 8));
      return out;
    }
    case 'int': {
      const out = Buffer.allocUnsafe(rows.length * 8);
      rows.forEach((i, k) => {
        const v = c.values[i] as number;
        if (!Number.isSafeInteger(v)) throw new Error(`results table: column ${c.name} row ${i + 1} is not an integer: ${v}`);
        out.writeBigInt64LE(BigInt(v), k * 8);
      });
      return out;
    }
    case 'boolean': {
      const out = new Uint8Array(Math.ceil(rows.length / 8));
      rows.forEach((i, k) => { if (c.values[i]) out[k >> 3] |= 1 << (k & 7); });
      return out;
    }
  }
}

export function resultsParquet(columns: readonly ResultColumn[], meta: Record<string, string> = {}): Uint8Array {
  const n = rowCount(columns);
  const schema: SchemaNode[] = [{ name: 'schema', numChildren: columns.length }];
  const chunks: Uint8Array[] = [MAGIC];
  const infos: ColumnChunkInfo[] = [];
  let offset = MAGIC.byteLength;
  for (const c of columns) {
    const defined = new Uint8Array(n);
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (!missing(c, i)) { defined[i] = 1; rows.push(i); }
    const optional = rows.length < n;
    schema.push({ name: c.name, type: TYPE[c.type], repetition: optional ? Repetition.OPTIONAL : Repetition.REQUIRED, ...(c.type === 'string' ? { convertedType: ConvertedType.UTF8, logicalType: 1 as const } : {}) });
    const values = plainValues(c, rows);
    const lv = optional ? levels(defined) : new Uint8Array(0);
    const header = encodePageHeader(lv.byteLength + values.byteLength, n);
    infos.push({ type: TYPE[c.type], pathInSchema: [c.name], numValues: n, totalSize: header.byteLength + lv.byteLength + values.byteLength, dataPageOffset: offset });
    chunks.push(header, lv, values);
    offset += header.byteLength + lv.byteLength + values.byteLength;
  }
  const footer = encodeFileMetaData(schema, [{ columns: infos, numRows: n, fileOffset: MAGIC.byteLength }], n, meta, 'embedding-lab');
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(footer.byteLength, 0);
  chunks.push(footer, len, MAGIC);
  return Buffer.concat(chunks);
}

/** Writes the table to `file` (temp file, then rename) as its extension says: .csv or .parquet. */
export async function writeResultsTable(file: string, columns: readonly ResultColumn[], meta: Record<string, string> = {}): Promise<void> {
  const format = resultFormatOf(file);
  if (!format) throw new Error(`results table: ${file} is neither .csv nor .parquet`);
  await writeFileAtomic(file, format === 'csv' ? resultsCsv(columns) : resultsParquet(columns, meta));
}

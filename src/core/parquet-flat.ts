/**
 * A small Parquet writer for flat tables of scalar columns (what `embedlab score` writes: paths, distances,
 * verdicts), beside the streaming embedding-table writer of parquet-writer.ts (whose schema is fixed to path,
 * label, embedding). The whole table is in memory (a score table has a few columns per tuple); the bytes it returns
 * are written atomically by the caller.
 *
 * The subset of the format (https://github.com/apache/parquet-format): every column REQUIRED (no definition or
 * repetition levels), string = BYTE_ARRAY (UTF8 / STRING), double = DOUBLE, boolean = BOOLEAN (PLAIN: bit-packed,
 * LSB first), int = INT32; row groups of at most `rowGroupRows` rows, one DataPage v1 per column chunk, PLAIN, UNCOMPRESSED,
 * no statistics; key/value metadata. FileMetaData is Thrift compact (parquet-writer.ts's encoder).
 */
import { ThriftCompactWriter } from './parquet-writer';

export type FlatColumn =
  | { name: string; type: 'string'; values: readonly string[] }
  | { name: string; type: 'int'; values: ArrayLike<number> }
  | { name: string; type: 'double'; values: ArrayLike<number> }
  | { name: string; type: 'boolean'; values: ArrayLike<boolean> };

const PQ = { BOOLEAN: 0, INT32: 1, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const REQUIRED = 0;
const UTF8 = 0; // ConvertedType
const PLAIN = 0;
const DATA_PAGE = 0;
const MAGIC = new TextEncoder().encode('PAR1');
const utf8 = new TextEncoder();

const physical = (c: FlatColumn): number => ({ string: PQ.BYTE_ARRAY, int: PQ.INT32, double: PQ.DOUBLE, boolean: PQ.BOOLEAN })[c.type];

function plainValues(c: FlatColumn, from: number, to: number): Uint8Array {
  const n = to - from;
  if (c.type === 'double') {
    const out = Buffer.allocUnsafe(n * 8);
    for (let i = 0; i < n; i++) out.writeDoubleLE(c.values[from + i], i * 8);
    return out;
  }
  if (c.type === 'int') {
    const out = Buffer.allocUnsafe(n * 4);
    for (let i = 0; i < n; i++) out.writeInt32LE(c.values[from + i], i * 4);
    return out;
  }
  if (c.type === 'boolean') {
    const out = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) if (c.values[from + i]) out[i >> 3] |= 1 << (i & 7);
    return out;
  }
  const parts = c.values.slice(from, to).map((s) => utf8.encode(s));
  const out = Buffer.allocUnsafe(parts.reduce((a, p) => a + 4 + p.byteLength, 0));
  let o = 0;
  for (const p of parts) { out.writeUInt32LE(p.byteLength, o); out.set(p, o + 4); o += 4 + p.byteLength; }
  return out;
}

function pageHeader(size: number, numValues: number): Uint8Array {
  const w = new ThriftCompactWriter();
  w.structBegin();
  w.fieldI32(1, DATA_PAGE);
  w.fieldI32(2, size); // uncompressed_page_size
  w.fieldI32(3, size); // compressed_page_size
  w.fieldStructBegin(5); // data_page_header
  w.fieldI32(1, numValues);
  w.fieldI32(2, PLAIN);
  w.fieldI32(3, PLAIN); // definition_level_encoding (no levels are written: every column is required)
  w.fieldI32(4, PLAIN); // repetition_level_encoding
  w.structEnd();
  w.structEnd();
  return w.finish();
}

interface Chunk { type: number; name: string; numValues: number; totalSize: number; offset: number }

/** The Parquet bytes of a flat table. Every column must have the same number of values. */
export function encodeFlatParquet(columns: readonly FlatColumn[], opts: { metadata?: Record<string, string>; rowGroupRows?: number; createdBy?: string } = {}): Uint8Array {
  if (!columns.length) throw new Error('Parquet: a table needs at least one column');
  const rows = columns[0].values.length;
  const names = new Set<string>();
  for (const c of columns) {
    if (c.values.length !== rows) throw new Error(`Parquet: column ${c.name} has ${c.values.length} values, ${columns[0].name} has ${rows}`);
    if (names.has(c.name)) throw new Error(`Parquet: two columns are named ${c.name}`);
    names.add(c.name);
    if (c.type === 'double') for (let i = 0; i < rows; i++) if (typeof c.values[i] !== 'number') throw new Error(`Parquet: column ${c.name} row ${i} is not a number`);
    if (c.type === 'int') for (let i = 0; i < rows; i++) if (!Number.isInteger(c.values[i]) || Math.abs(c.values[i]) > 0x7fffffff) throw new Error(`Parquet: column ${c.name} row ${i} is not a 32-bit integer`);
  }
  const groupRows = Math.max(1, Math.floor(opts.rowGroupRows ?? 65536));
  const parts: Uint8Array[] = [MAGIC];
  let offset = MAGIC.byteLength;
  const groups: Array<{ chunks: Chunk[]; rows: number; offset: number }> = [];
  for (let from = 0; from < rows || (rows === 0 && groups.length === 0); from += groupRows) {
    const to = Math.min(rows, from + groupRows);
    const g = { chunks: [] as Chunk[], rows: to - from, offset };
    for (const c of columns) {
      const data = plainValues(c, from, to);
      const header = pageHeader(data.byteLength, to - from);
      g.chunks.push({ type: physical(c), name: c.name, numValues: to - from, totalSize: header.byteLength + data.byteLength, offset });
      parts.push(header, data);
      offset += header.byteLength + data.byteLength;
    }
    groups.push(g);
    if (rows === 0) break;
  }
  const w = new ThriftCompactWriter();
  w.structBegin();
  w.fieldI32(1, 1); // version
  w.fieldListBegin(2, 'struct', columns.length + 1); // schema
  w.structBegin();
  w.fieldBinary(4, 'schema');
  w.fieldI32(5, columns.length);
  w.structEnd();
  for (const c of columns) {
    w.structBegin();
    w.fieldI32(1, physical(c));
    w.fieldI32(3, REQUIRED);
    w.fieldBinary(4, c.name);
    if (c.type === 'string') {
      w.fieldI32(6, UTF8);
      w.fieldStructBegin(10); // LogicalType
      w.fieldStructBegin(1); // STRING
      w.structEnd();
      w.structEnd();
    }
    w.structEnd();
  }
  w.fieldI64(3, rows);
  w.fieldListBegin(4, 'struct', groups.length);
  for (const g of groups) {
    w.structBegin();
    w.fieldListBegin(1, 'struct', g.chunks.length);
    let total = 0;
    for (const c of g.chunks) {
      total += c.totalSize;
      w.structBegin();
      w.fieldI64(2, c.offset); // file_offset
      w.fieldStructBegin(3); // ColumnMetaData
      w.fieldI32(1, c.type);
      w.fieldListBegin(2, 'i32', 1);
      w.elemI32(PLAIN);
      w.fieldListBegin(3, 'binary', 1);
      w.elemBinary(c.name);
      w.fieldI32(4, 0); // UNCOMPRESSED
      w.fieldI64(5, c.numValues);
      w.fieldI64(6, c.totalSize);
      w.fieldI64(7, c.totalSize);
      w.fieldI64(9, c.offset); // data_page_offset
      w.structEnd();
      w.structEnd();
    }
    w.fieldI64(2, total);
    w.fieldI64(3, g.rows);
    w.fieldI64(5, g.offset);
    w.fieldI64(6, total);
    w.structEnd();
  }
  const kv = Object.entries(opts.metadata ?? {});
  if (kv.length) {
    w.fieldListBegin(5, 'struct', kv.length);
    for (const [k, v] of kv) { w.structBegin(); w.fieldBinary(1, k); w.fieldBinary(2, v); w.structEnd(); }
  }
  w.fieldBinary(6, opts.createdBy ?? 'embedding-lab');
  w.structEnd();
  const footer = w.finish();
  const tail = Buffer.allocUnsafe(8);
  tail.writeUInt32LE(footer.byteLength, 0);
  tail.set(MAGIC, 4);
  parts.push(footer, tail);
  return Buffer.concat(parts);
}

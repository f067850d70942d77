/**
 * A minimal, streaming Parquet writer for embedding tables.
 *
 * Why our own: it holds one row group at a time (bounded by a row count and a byte budget) and streams it to a
 * byte sink, as `embedlab embed` produces rows in batches. hyparquet-writer streams too, but measured on
 * 1,000,000 × 64 (bench/parquet-writer.ts, docs/tables.md) it took ~47× longer (its list columns take arrays of
 * JS arrays) and 2.5× the peak memory; DuckDB reads both files exactly.
 *
 * The subset of the format it writes (https://github.com/apache/parquet-format), and nothing else:
 *   - file layout: "PAR1", row groups, FileMetaData (Thrift compact protocol), 4-byte LE footer length, "PAR1";
 *   - a fixed schema:
 *         required binary path (STRING);
 *         required binary label (STRING);
 *         required group embedding (LIST) { repeated group list { required float element; } }
 *     i.e. the standard 3-level LIST; the outer group is REQUIRED (every row has a vector), so the
 *     max definition level is 1 and the max repetition level is 1;
 *   - one DataPage v1 per column chunk, PLAIN values, UNCOMPRESSED, levels as RLE/bit-packed hybrid
 *     (RLE runs only), no statistics, no dictionary, no page index, no bloom filters;
 *   - `created_by` and key/value metadata (the table layer stores its metadata JSON under `embedding_lab`).
 * Every Parquet reader we care about (pyarrow, DuckDB, polars, hyparquet) reads that subset.
 *
 * The Thrift compact encoder below covers what FileMetaData and PageHeader need: structs, i32/i64 as
 * zigzag varints, binary/string, lists.
 */

/** Where the bytes go (e.g. an AtomicFileWriter). write() must be done with the chunk when it resolves. */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
}

export interface ParquetWriterOptions {
  /** Vector length: every row's embedding must have exactly this many values. */
  dim: number;
  /** Most rows in one row group (default 8192). */
  rowGroupRows?: number;
  /** Byte budget of one buffered row group, which also caps rowGroupRows for large dims (default 32 MiB). */
  rowGroupBytes?: number;
  /** Stored as FileMetaData.created_by (default "embedding-lab"). */
  createdBy?: string;
}

// ---------------------------------------------------------------------------------------------
// Parquet enums (parquet.thrift): only the members we write.

const enum PqType { FLOAT = 4, BYTE_ARRAY = 6 }
const enum Repetition { REQUIRED = 0, REPEATED = 2 }
// (src/core/parquet-columns.ts writes flat tables of other types through the functions exported below.)
const enum ConvertedType { UTF8 = 0, LIST = 3 }
const enum Encoding { PLAIN = 0, RLE = 3 }
const enum PageType { DATA_PAGE = 0 }
const CODEC_UNCOMPRESSED = 0;

// ---------------------------------------------------------------------------------------------
// Thrift compact protocol encoder.

const enum CType { BOOL_TRUE = 1, BOOL_FALSE = 2, BYTE = 3, I16 = 4, I32 = 5, I64 = 6, DOUBLE = 7, BINARY = 8, LIST = 9, SET = 10, MAP = 11, STRUCT = 12 }

const utf8 = new TextEncoder();

/** Encodes Thrift structs with the compact protocol into a growable buffer. */
export class ThriftCompactWriter {
  private buf = new Uint8Array(256);
  private len = 0;
  private lastFieldId = 0;
  private readonly fieldIdStack: number[] = [];

  /** The bytes written so far. */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Starts a struct (top level, or as a list element). Pair with structEnd(). */
  structBegin(): void {
    this.fieldIdStack.push(this.lastFieldId);
    this.lastFieldId = 0;
  }

  /** Writes the field stop marker and returns to the enclosing struct. */
  structEnd(): void {
    this.byte(0);
    this.lastFieldId = this.fieldIdStack.pop() ?? 0;
  }

  fieldI32(id: number, v: number): void {
    this.fieldHeader(id, CType.I32);
    this.varint32(zigzag32(v));
  }

  fieldI64(id: number, v: number | bigint): void {
    this.fieldHeader(id, CType.I64);
    this.varint64(zigzag64(BigInt(v)));
  }

  fieldBinary(id: number, v: string | Uint8Array): void {
    this.fieldHeader(id, CType.BINARY);
    this.binary(v);
  }

  fieldBool(id: number, v: boolean): void {
    this.fieldHeader(id, v ? CType.BOOL_TRUE : CType.BOOL_FALSE);
  }

  /** A struct-valued field: call the struct's field writers, then structEnd(). */
  fieldStructBegin(id: number): void {
    this.fieldHeader(id, CType.STRUCT);
    this.structBegin();
  }

  /** A list-valued field; follow with `size` elements written by the element writers below. */
  fieldListBegin(id: number, elemType: 'i32' | 'binary' | 'struct', size: number): void {
    this.fieldHeader(id, CType.LIST);
    const t = elemType === 'i32' ? CType.I32 : elemType === 'binary' ? CType.BINARY : CType.STRUCT;
    if (size < 15) this.byte((size << 4) | t);
    else {
      this.byte(0xf0 | t);
      this.varint32(size);
    }
  }

  /** List element writers. */
  elemI32(v: number): void { this.varint32(zigzag32(v)); }
  elemBinary(v: string | Uint8Array): void { this.binary(v); }

  private fieldHeader(id: number, type: CType): void {
    const delta = id - this.lastFieldId;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.varint32(zigzag32(id));
    }
    this.lastFieldId = id;
  }

  private binary(v: string | Uint8Array): void {
    const bytes = typeof v === 'string' ? utf8.encode(v) : v;
    this.varint32(bytes.byteLength);
    this.ensure(bytes.byteLength);
    this.buf.set(bytes, this.len);
    this.len += bytes.byteLength;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned varint of a value < 2^32. */
  private varint32(v: number): void {
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
  }

  /** Unsigned varint of a value < 2^64. */
  private varint64(v: bigint): void {
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

function zigzag32(v: number): number {
  return ((v << 1) ^ (v >> 31)) >>> 0;
}

function zigzag64(v: bigint): bigint {
  return BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
}

// ---------------------------------------------------------------------------------------------
// Parquet structures we serialize.

export interface ColumnChunkInfo {
  /** Parquet physical type (parquet.thrift Type). */
  type: number;
  pathInSchema: string[];
  numValues: number;
  /** Page header + page data bytes (uncompressed == compressed). */
  totalSize: number;
  dataPageOffset: number;
}

export interface RowGroupInfo {
  columns: ColumnChunkInfo[];
  numRows: number;
  fileOffset: number;
}

/** A DataPage v1 header: PLAIN values, RLE/bit-packed levels, uncompressed. */
export function encodePageHeader(dataSize: number, numValues: number): Uint8Array {
  const w = new ThriftCompactWriter();
  w.structBegin();
  w.fieldI32(1, PageType.DATA_PAGE);
  w.fieldI32(2, dataSize); // uncompressed_page_size
  w.fieldI32(3, dataSize); // compressed_page_size
  w.fieldStructBegin(5); // data_page_header
  w.fieldI32(1, numValues);
  w.fieldI32(2, Encoding.PLAIN);
  w.fieldI32(3, Encoding.RLE); // definition_level_encoding
  w.fieldI32(4, Encoding.RLE); // repetition_level_encoding
  w.structEnd();
  w.structEnd();
  return w.finish();
}

export interface SchemaNode {
  name: string;
  /** Physical type (parquet.thrift Type) of a leaf. */
  type?: number;
  /** FieldRepetitionType: 0 required, 1 optional, 2 repeated. */
  repetition?: number;
  numChildren?: number;
  /** ConvertedType: 0 UTF8, 3 LIST. */
  convertedType?: number;
  /** LogicalType union member id: 1 = STRING, 3 = LIST. */
  logicalType?: 1 | 3;
}

/** The fixed schema, flattened depth-first as FileMetaData.schema wants it. */
const SCHEMA: SchemaNode[] = [
  { name: 'schema', numChildren: 3 },
  { name: 'path', type: PqType.BYTE_ARRAY, repetition: Repetition.REQUIRED, convertedType: ConvertedType.UTF8, logicalType: 1 },
  { name: 'label', type: PqType.BYTE_ARRAY, repetition: Repetition.REQUIRED, convertedType: ConvertedType.UTF8, logicalType: 1 },
  { name: 'embedding', repetition: Repetition.REQUIRED, numChildren: 1, convertedType: ConvertedType.LIST, logicalType: 3 },
  { name: 'list', repetition: Repetition.REPEATED, numChildren: 1 },
  { name: 'element', type: PqType.FLOAT, repetition: Repetition.REQUIRED },
];

/** FileMetaData of a file with this schema (flattened depth-first, the root first) and these row groups. */
export function encodeFileMetaData(
  schema: readonly SchemaNode[], rowGroups: RowGroupInfo[], numRows: number, keyValue: Record<string, string>, createdBy: string,
): Uint8Array {
  const w = new ThriftCompactWriter();
  w.structBegin();
  w.fieldI32(1, 1); // version
  w.fieldListBegin(2, 'struct', schema.length);
  for (const s of schema) {
    w.structBegin();
    if (s.type !== undefined) w.fieldI32(1, s.type);
    if (s.repetition !== undefined) w.fieldI32(3, s.repetition);
    w.fieldBinary(4, s.name);
    if (s.numChildren !== undefined) w.fieldI32(5, s.numChildren);
    if (s.convertedType !== undefined) w.fieldI32(6, s.convertedType);
    if (s.logicalType !== undefined) {
      w.fieldStructBegin(10); // LogicalType union
      w.fieldStructBegin(s.logicalType); // StringType / ListType: empty structs
      w.structEnd();
      w.structEnd();
    }
    w.structEnd();
  }
  w.fieldI64(3, numRows);
  w.fieldListBegin(4, 'struct', rowGroups.length);
  for (const rg of rowGroups) {
    w.structBegin();
    w.fieldListBegin(1, 'struct', rg.columns.length);
    let total = 0;
    for (const c of rg.columns) {
      total += c.totalSize;
      w.structBegin(); // ColumnChunk
      w.fieldI64(2, c.dataPageOffset); // file_offset
      w.fieldStructBegin(3); // ColumnMetaData
      w.fieldI32(1, c.type);
      w.fieldListBegin(2, 'i32', 2);
      w.elemI32(Encoding.PLAIN);
      w.elemI32(Encoding.RLE);
      w.fieldListBegin(3, 'binary', c.pathInSchema.length);
      for (const p of c.pathInSchema) w.elemBinary(p);
      w.fieldI32(4, CODEC_UNCOMPRESSED);
      w.fieldI64(5, c.numValues);
      w.fieldI64(6, c.totalSize); // total_uncompressed_size
      w.fieldI64(7, c.totalSize); // total_compressed_size
      w.fieldI64(9, c.dataPageOffset);
      w.structEnd();
      w.structEnd();
    }
    w.fieldI64(2, total); // total_byte_size
    w.fieldI64(3, rg.numRows);
    w.fieldI64(5, rg.fileOffset);
    w.fieldI64(6, total); // total_compressed_size
    w.structEnd();
  }
  const kv = Object.entries(keyValue);
  if (kv.length > 0) {
    w.fieldListBegin(5, 'struct', kv.length);
    for (const [k, v] of kv) {
      w.structBegin();
      w.fieldBinary(1, k);
      w.fieldBinary(2, v);
      w.structEnd();
    }
  }
  w.fieldBinary(6, createdBy);
  w.structEnd();
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Levels and values.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const MAGIC = utf8.encode('PAR1');

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/**
 * Repetition + definition levels of `rows` lists of `dim` elements each, as DataPage v1 wants them:
 * each level stream is `<u32 LE byte length><RLE/bit-packed hybrid runs>`, bit width 1.
 * Repetition levels per row: one 0 then dim−1 ones (two RLE runs); definition levels: all 1 (one RLE run).
 */
function listLevels(rows: number, dim: number): Uint8Array {
  const rowRuns = [...varintBytes(1 << 1), 0];
  if (dim > 1) rowRuns.push(...varintBytes((dim - 1) * 2), 1);
  const repLen = rows * rowRuns.length;
  const defRun = [...varintBytes(rows * dim * 2), 1];
  const out = Buffer.allocUnsafe(4 + repLen + 4 + defRun.length);
  out.writeUInt32LE(repLen, 0);
  let o = 4;
  for (let r = 0; r < rows; r++) for (const b of rowRuns) out[o++] = b;
  out.writeUInt32LE(defRun.length, o);
  o += 4;
  for (const b of defRun) out[o++] = b;
  return out;
}

/** PLAIN BYTE_ARRAY values: `<u32 LE length><bytes>` each. */
function plainByteArrays(values: Uint8Array[], totalBytes: number): Uint8Array {
  const out = Buffer.allocUnsafe(totalBytes + 4 * values.length);
  let o = 0;
  for (const v of values) {
    out.writeUInt32LE(v.byteLength, o);
    out.set(v, o + 4);
    o += 4 + v.byteLength;
  }
  return out;
}

/** PLAIN FLOAT values: 4 bytes little-endian each. */
function plainFloats(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

// ---------------------------------------------------------------------------------------------

/**
 * Streams an embedding table (path, label, embedding) as Parquet into a ByteSink.
 * Rows are buffered into the current row group; a full row group is encoded and written out,
 * so memory stays at about one row group. Call finish() once to write the footer; the sink
 * (e.g. an AtomicFileWriter) is then committed by the caller.
 */
export class ParquetEmbeddingWriter {
  readonly dim: number;
  /** Rows per row group actually used (rowGroupRows capped by the byte budget). */
  readonly rowGroupRows: number;
  private readonly rowGroupBytes: number;
  private readonly createdBy: string;

  private offset = 0;
  private rows = 0;
  private readonly rowGroups: RowGroupInfo[] = [];
  private readonly vectors: Float32Array;
  private paths: Uint8Array[] = [];
  private labels: Uint8Array[] = [];
  private pathBytes = 0;
  private labelBytes = 0;
  private started = false;
  private finished = false;

  constructor(private readonly sink: ByteSink, opts: ParquetWriterOptions) {
    const { dim } = opts;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`Parquet writer: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.rowGroupBytes = opts.rowGroupBytes ?? 32 * 1024 * 1024;
    const byBudget = Math.max(1, Math.floor(this.rowGroupBytes / (dim * 4)));
    this.rowGroupRows = Math.max(1, Math.min(opts.rowGroupRows ?? 8192, byBudget));
    this.createdBy = opts.createdBy ?? 'embedding-lab';
    this.vectors = new Float32Array(this.rowGroupRows * dim);
  }

  /** Rows appended so far. */
  get rowCount(): number { return this.rows; }

  /**
   * Appends rows. `vectors` is either one flat Float32Array of paths.length × dim values, or one
   * vector per row; every vector must have exactly `dim` values.
   * Await each call before the next one.
   */
  async append(paths: readonly string[], labels: readonly string[], vectors: Float32Array | readonly ArrayLike<number>[]): Promise<void> {
    if (this.finished) throw new Error('Parquet writer: append() after finish()');
    const n = paths.length;
    if (labels.length !== n) throw new Error(`Parquet writer: ${n} paths but ${labels.length} labels`);
    const dim = this.dim;
    let flat: Float32Array | undefined;
    if (vectors instanceof Float32Array) {
      if (vectors.length !== n * dim) {
        throw new Error(`Parquet writer: expected ${n} × ${dim} = ${n * dim} vector values for ${n} rows, got ${vectors.length}`);
      }
      flat = vectors;
    } else {
      if (vectors.length !== n) throw new Error(`Parquet writer: ${n} rows but ${vectors.length} vectors`);
      vectors.forEach((v, i) => {
        if (v.length !== dim) throw new Error(`Parquet writer: vector ${i} (${paths[i]}) has ${v.length} values, expected ${dim}`);
      });
    }
    for (let i = 0; i < n; i++) {
      if (typeof paths[i] !== 'string') throw new Error(`Parquet writer: path of row ${i} is not a string`);
      if (typeof labels[i] !== 'string') throw new Error(`Parquet writer: label of row ${i} (${paths[i]}) is not a string`);
    }
    if (!this.started) await this.start();

    for (let i = 0; i < n; i++) {
      const k = this.paths.length;
      if (flat) this.vectors.set(flat.subarray(i * dim, (i + 1) * dim), k * dim);
      else this.vectors.set(vectors[i] as ArrayLike<number>, k * dim);
      const p = utf8.encode(paths[i]);
      const l = utf8.encode(labels[i]);
      this.paths.push(p);
      this.labels.push(l);
      this.pathBytes += p.byteLength;
      this.labelBytes += l.byteLength;
      this.rows++;
      const bufferedBytes = (k + 1) * dim * 4 + this.pathBytes + this.labelBytes;
      if (k + 1 >= this.rowGroupRows || bufferedBytes >= this.rowGroupBytes) await this.flushRowGroup();
    }
  }

  /** Writes the last row group and the footer. Returns the number of rows written. */
  async finish(keyValueMetadata: Record<string, string> = {}): Promise<{ rows: number; bytes: number }> {
    if (this.finished) throw new Error('Parquet writer: finish() called twice');
    if (!this.started) await this.start();
    await this.flushRowGroup();
    this.finished = true;
    const footer = encodeFileMetaData(SCHEMA, this.rowGroups, this.rows, keyValueMetadata, this.createdBy);
    const tail = Buffer.allocUnsafe(8);
    tail.writeUInt32LE(footer.byteLength, 0);
    tail.set(MAGIC, 4);
    await this.put(footer);
    await this.put(tail);
    return { rows: this.rows, bytes: this.offset };
  }

  private async start(): Promise<void> {
    this.started = true;
    await this.put(MAGIC);
  }

  private async put(bytes: Uint8Array): Promise<void> {
    await this.sink.write(bytes);
    this.offset += bytes.byteLength;
  }

  private async flushRowGroup(): Promise<void> {
    const n = this.paths.length;
    if (n === 0) return;
    const rg: RowGroupInfo = { columns: [], numRows: n, fileOffset: this.offset };
    rg.columns.push(await this.writeColumn(PqType.BYTE_ARRAY, ['path'], n, [plainByteArrays(this.paths, this.pathBytes)]));
    rg.columns.push(await this.writeColumn(PqType.BYTE_ARRAY, ['label'], n, [plainByteArrays(this.labels, this.labelBytes)]));
    const values = plainFloats(this.vectors.subarray(0, n * this.dim));
    rg.columns.push(await this.writeColumn(PqType.FLOAT, ['embedding', 'list', 'element'], n * this.dim, [listLevels(n, this.dim), values]));
    this.rowGroups.push(rg);
    this.paths = [];
    this.labels = [];
    this.pathBytes = 0;
    this.labelBytes = 0;
  }

  /** One column chunk = one page header + the page's data parts. */
  private async writeColumn(type: PqType, pathInSchema: string[], numValues: number, parts: Uint8Array[]): Promise<ColumnChunkInfo> {
    const dataSize = parts.reduce((s, p) => s + p.byteLength, 0);
    if (dataSize > 0x7fffffff) throw new Error(`Parquet writer: page of ${dataSize} bytes is too large; lower rowGroupBytes`);
    const header = encodePageHeader(dataSize, numValues);
    const dataPageOffset = this.offset;
    await this.put(header);
    for (const p of parts) await this.put(p);
    return { type, pathInSchema, numValues, totalSize: header.byteLength + dataSize, dataPageOffset };
  }
}

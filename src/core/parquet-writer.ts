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

import {
  ConvertedType, encodeFileMetaData, encodePageHeader, MAGIC, plainByteArrays, plainFloats, PqType, Repetition, utf8, varintBytes,
  type ColumnChunkInfo, type RowGroupInfo, type SchemaNode,
} from './parquet-format';

// The format's encoders (Thrift, page headers, FileMetaData, levels, PLAIN values) are in parquet-format.ts.
export { ThriftCompactWriter } from './parquet-format';

/** The fixed schema, flattened depth-first as FileMetaData.schema wants it. */
const SCHEMA: SchemaNode[] = [
  { name: 'schema', numChildren: 3 },
  { name: 'path', type: PqType.BYTE_ARRAY, repetition: Repetition.REQUIRED, convertedType: ConvertedType.UTF8, logicalType: 1 },
  { name: 'label', type: PqType.BYTE_ARRAY, repetition: Repetition.REQUIRED, convertedType: ConvertedType.UTF8, logicalType: 1 },
  { name: 'embedding', repetition: Repetition.REQUIRED, numChildren: 1, convertedType: ConvertedType.LIST, logicalType: 3 },
  { name: 'list', repetition: Repetition.REPEATED, numChildren: 1 },
  { name: 'element', type: PqType.FLOAT, repetition: Repetition.REQUIRED },
];


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

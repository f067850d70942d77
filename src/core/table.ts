/**
 * Embedding tables: the files `embedlab embed` writes and `evaluate`/the extension read.
 *
 * A table has one row per image: `path` (relative to the scored folder, '/' separators), `label`
 * (empty when the folder is not class-structured) and a float32 vector of length `dim`. Two formats,
 * chosen by extension:
 *   - `.parquet`: columns path, label (strings) and embedding (list<float>), written by our streaming
 *     writer (parquet-writer.ts), read back with hyparquet;
 *   - `.csv`: header `path,label,emb_0,…,emb_{dim−1}`, RFC 4180 quoting, floats printed with the
 *     fewest digits that round-trip float32 exactly.
 * Writing streams (one batch / one row group in memory) and is atomic (atomic.ts): the final name
 * appears only on commit().
 *
 * Sidecars next to a table:
 *   - `<table>.meta.json`: the caller's metadata (model dir, distance, preprocessing, …) plus `dim` and
 *     `count`, written atomically on commit (also embedded in Parquet files under key `embedding_lab`);
 *   - `<table>.skipped.txt`: images that failed, one `path<TAB>reason` per line (see writeSkippedList).
 */
import { createReadStream, promises as fsp, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AtomicFileWriter, describeWriteError, writeFileAtomic, writeJsonAtomic } from './atomic';
import { BadDataError, LabError } from './errors';
import { ParquetEmbeddingWriter, type ParquetWriterOptions } from './parquet-writer';
import { describeProblems, expandTableGlob, folderStatus, isTableGlob } from './shards';

export type TableFormat = 'parquet' | 'csv';

/** One row's identity; its vector travels separately in a flat Float32Array. */
export interface TableRow {
  path: string;
  label: string;
}

export interface TableWriterOptions {
  /** Vector length. */
  dim: number;
  /** Caller's metadata (opaque): written to `<table>.meta.json` (and into Parquet files) on commit, with `dim` and `count` added. */
  meta?: Record<string, unknown>;
  /** Parquet only: rows per row group (default 8192, capped by a 32 MiB budget). */
  rowGroupRows?: ParquetWriterOptions['rowGroupRows'];
}

export interface TableWriter {
  readonly path: string;
  readonly format: TableFormat;
  readonly dim: number;
  /** Rows appended so far. */
  readonly rows: number;
  /**
   * Appends a batch: `vectors` holds rows.length × dim values, row-major. The caller may reuse both
   * arguments once the promise resolves. Batches are written in call order; await each one to keep
   * memory bounded. A batch that fails validation is rejected whole and the writer stays usable;
   * an I/O failure aborts the writer.
   */
  append(rows: readonly TableRow[], vectors: Float32Array): Promise<void>;
  /** Finishes the file, renames it into place, then writes the meta sidecar. */
  commit(): Promise<{ rows: number; path: string }>;
  /** Discards the table (removes the temp file). Safe to call more than once. */
  abort(): Promise<void>;
}

export interface Table {
  paths: string[];
  labels: string[];
  /** paths.length × dim values, row-major. */
  vectors: Float32Array;
  dim: number;
  /** `<table>.meta.json` if present, else the metadata embedded in a Parquet file, else null. */
  meta: Record<string, unknown> | null;
}

/** Key under which the metadata JSON is stored in a Parquet file's key/value metadata. */
export const PARQUET_META_KEY = 'embedding_lab';

/** The table format for a path, from its extension; anything else is an error. */
export function tableFormat(path: string): TableFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.parquet') return 'parquet';
  if (ext === '.csv') return 'csv';
  throw new BadDataError(`unsupported table format "${ext || '(no extension)'}" for ${path}: use .parquet or .csv`);
}

/** `<table>.meta.json` */
export function tableMetaPath(tablePath: string): string {
  return `${tablePath}.meta.json`;
}

/** `<table>.skipped.txt` */
export function tableSkippedPath(tablePath: string): string {
  return `${tablePath}.skipped.txt`;
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Opens a streaming, atomic table writer; the format follows the extension (.parquet or .csv).
 * Throws at once for an unknown extension, a bad dim, or a missing output folder
 * ("output folder does not exist: …"). Nothing appears under `path` until commit().
 */
export function openTableWriter(path: string, opts: TableWriterOptions): TableWriter {
  const format = tableFormat(path);
  const { dim } = opts;
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`cannot write ${path}: dim must be a positive integer, got ${dim}`);
  const dir = dirname(resolve(path));
  let dirOk = false;
  try { dirOk = statSync(dir).isDirectory(); } catch { /* missing */ }
  if (!dirOk) throw new Error(`output folder does not exist: ${dir}`);
  return new TableWriterImpl(path, format, opts);
}

class TableWriterImpl implements TableWriter {
  readonly dim: number;
  private count = 0;
  private readonly file: Promise<AtomicFileWriter>;
  private parquet: ParquetEmbeddingWriter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor(readonly path: string, readonly format: TableFormat, private readonly opts: TableWriterOptions) {
    this.dim = opts.dim;
    this.file = AtomicFileWriter.open(path);
    this.file.catch(() => undefined); // surfaced by the first append/commit
  }

  get rows(): number { return this.count; }

  append(rows: readonly TableRow[], vectors: Float32Array): Promise<void> {
    return this.enqueue(async () => {
      this.assertOpen('append to');
      validateBatch(this.path, this.dim, rows, vectors, this.count);
      const file = await this.file;
      if (this.format === 'parquet') {
        await (await this.parquetWriter(file)).append(rows.map((r) => r.path), rows.map((r) => r.label), vectors);
      } else {
        if (file.bytesWritten === 0) await file.write(csvHeader(this.dim));
        await file.write(csvRows(rows, vectors, this.dim));
      }
      this.count += rows.length;
    });
  }

  commit(): Promise<{ rows: number; path: string }> {
    return this.enqueue(async () => {
      this.assertOpen('commit');
      const file = await this.file;
      const meta = { ...(this.opts.meta ?? {}), dim: this.dim, count: this.count };
      if (this.format === 'parquet') {
        await (await this.parquetWriter(file)).finish({ [PARQUET_META_KEY]: JSON.stringify(meta) });
      } else if (file.bytesWritten === 0) {
        await file.write(csvHeader(this.dim));
      }
      // The table and its meta are a pair: both or neither. The meta is written and synced to a temp file first
      // (a full disk fails here, and the table's temp file is dropped); then the table is renamed into place,
      // then the meta over the old one (a rename needs no space; should it fail all the same, the new table and
      // the old meta are removed). A failure before the table's rename leaves an older table and meta as they were.
      const metaPath = tableMetaPath(this.path);
      const metaTemp = await writeSyncedTemp(metaPath, JSON.stringify(meta, null, 2) + '\n');
      try {
        await file.commit();
        this.state = 'committed';
        try {
          await fsp.rename(metaTemp, metaPath);
        } catch (err) {
          await fsp.unlink(this.path).catch(() => undefined);
          await fsp.unlink(metaPath).catch(() => undefined);
          throw describeWriteError(err, metaPath);
        }
      } catch (err) {
        await fsp.unlink(metaTemp).catch(() => undefined);
        throw err;
      }
      return { rows: this.count, path: this.path };
    });
  }

  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    await this.queue.catch(() => undefined);
    const file = await this.file.catch(() => undefined);
    await file?.abort();
  }

  private async parquetWriter(file: AtomicFileWriter): Promise<ParquetEmbeddingWriter> {
    this.parquet ??= new ParquetEmbeddingWriter(file, { dim: this.dim, rowGroupRows: this.opts.rowGroupRows });
    return this.parquet;
  }

  private assertOpen(op: string): void {
    if (this.state !== 'open') throw new Error(`cannot ${op} ${this.path}: the table writer was already ${this.state}`);
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Writes `text` to a new temp file beside `path` (`.<name>.<pid>.<hex>.tmp`, as atomic.ts names its temp files),
 * fsyncs and closes it, and returns its path; on failure nothing is left.
 */
async function writeSyncedTemp(path: string, text: string): Promise<string> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(temp, 'wx');
    await fh.writeFile(text, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    return temp;
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await fsp.unlink(temp).catch(() => undefined);
    throw describeWriteError(err, path);
  }
}

function validateBatch(path: string, dim: number, rows: readonly TableRow[], vectors: Float32Array, before: number): void {
  if (!(vectors instanceof Float32Array)) throw new Error(`cannot write ${path}: vectors must be a Float32Array`);
  if (vectors.length !== rows.length * dim) {
    throw new Error(`cannot write ${path}: batch of ${rows.length} rows needs ${rows.length} × ${dim} = ${rows.length * dim} values, got ${vectors.length}`);
  }
  rows.forEach((r, i) => {
    if (typeof r?.path !== 'string' || typeof r.label !== 'string') {
      throw new Error(`cannot write ${path}: row ${before + i + 1} must have string path and label`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// CSV encoding

function csvHeader(dim: number): string {
  const cols = ['path', 'label'];
  for (let j = 0; j < dim; j++) cols.push(`emb_${j}`);
  return cols.join(',') + '\n';
}

/**
 * RFC 4180: quote a field containing a comma, a quote or a line break; double inner quotes. The empty string is
 * written `""`, so that pandas and DuckDB read an empty label as "" (an empty field is their NaN / NULL).
 */
export function csvQuote(s: string): string {
  if (s === '') return '""';
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csvRows(rows: readonly TableRow[], vectors: Float32Array, dim: number): string {
  const lines: string[] = new Array(rows.length);
  const fields: string[] = new Array(dim + 2);
  for (let i = 0; i < rows.length; i++) {
    fields[0] = csvQuote(rows[i].path);
    fields[1] = csvQuote(rows[i].label);
    const base = i * dim;
    for (let j = 0; j < dim; j++) fields[j + 2] = formatFloat32(vectors[base + j]);
    lines[i] = fields.join(',');
  }
  return lines.join('\n') + '\n';
}

/** Strips trailing zeros of a toPrecision() mantissa: "1.50000000e-7" → "1.5e-7", "2.0000000" → "2". */
function trimZeros(s: string): string {
  const e = s.indexOf('e');
  const m = e < 0 ? s : s.slice(0, e);
  if (m.charCodeAt(m.length - 1) !== 0x30 || m.indexOf('.') < 0) return s;
  let k = m.length;
  while (m.charCodeAt(k - 1) === 0x30) k--;
  if (m.charCodeAt(k - 1) === 0x2e) k--;
  return e < 0 ? m.slice(0, k) : m.slice(0, k) + s.slice(e);
}

/**
 * A short decimal string that parses back to exactly the float32 value of `v`:
 * `Math.fround(Number(formatFloat32(x))) === Math.fround(x)` always. 8 significant digits when they
 * suffice, else 9 (which always round-trip a float32); trailing zeros trimmed. (A true shortest search
 * from 1 digit up costs ~4× more for ~0.4 chars less per value.) NaN and ±Infinity print as JavaScript
 * does; readTable refuses them, and parses them back with { nonFinite: 'keep' }.
 */
export function formatFloat32(v: number): string {
  v = Math.fround(v);
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return Object.is(v, -0) ? '-0' : String(v);
  const t = v.toPrecision(8);
  if (Math.fround(Number(t)) === v) return trimZeros(t);
  return trimZeros(v.toPrecision(9));
}

// ---------------------------------------------------------------------------------------------
// Reading

export interface ReadTableOptions {
  /** 'refuse' (default): a NaN or ±Infinity value is an error naming its row and column; 'keep': read as is. */
  nonFinite?: 'refuse' | 'keep';
}

/**
 * Reads a whole table: a file (format by extension), a folder of parts (`part-<i>-of-<N>.parquet`, all present and
 * complete, else an error naming each part that is not) or a glob over table files (`dir/*.parquet`). Errors are BadDataError (exit 2) naming the file and, where it
 * applies, the row: missing columns, mixed vector lengths ("row 17 has 63 values, expected 64"), non-numeric
 * values, NaN or ±Infinity ("row 3, column emb_5: NaN"), an empty table, an unreadable Parquet file. Errors of the
 * file system (EACCES, EIO, …) pass through as they are.
 */
export async function readTable(path: string, opts: ReadTableOptions = {}): Promise<Table> {
  // A folder of parts or a glob over tables: one table (src/core/shards.ts, issue 18).
  if (isTableGlob(path)) {
    const files = expandTableGlob(path);
    if (!files.length) throw new BadDataError(`no table matches ${path}`);
    return readTableParts(path, files, opts);
  }
  if (isDirectory(path)) {
    const st = await folderStatus(path);
    if (!st.parts.length) throw new BadDataError(`${path} is a folder without table parts (part-<i>-of-<N>.parquet, written by embedlab embed --shard i/N --out ${path})`);
    if (!st.complete) throw new BadDataError(`table folder ${path} is not complete (embedlab status ${path}):\n${describeProblems(st)}`);
    return readTableParts(path, st.parts.map((p) => p.file), opts);
  }
  return readTableFile(path, opts);
}

function isDirectory(path: string): boolean {
  try { return statSync(path).isDirectory(); } catch { return false; }
}

/** The model a table's metadata names: its hash when recorded, else the model path. */
function modelOf(meta: Record<string, unknown> | null): string | undefined {
  if (typeof meta?.modelHash === 'string') return meta.modelHash;
  return typeof meta?.model === 'string' ? meta.model : undefined;
}

/**
 * Reads tables one after the other as one (in the order given): each is read, checked against the first (vector
 * length, format, model) and appended; a part that differs is refused by name. The metadata is the first part's,
 * with `count` the total and `parts` the number of parts.
 */
async function readTableParts(what: string, files: string[], opts: ReadTableOptions): Promise<Table> {
  const paths: string[] = [];
  const labels: string[] = [];
  const chunks: Float32Array[] = [];
  let first: { file: string; dim: number; format: TableFormat; model: string | undefined; meta: Record<string, unknown> | null } | undefined;
  for (const file of files) {
    const t = await readTableFile(file, opts);
    const format = tableFormat(file);
    const model = modelOf(t.meta);
    if (!first) first = { file, dim: t.dim, format, model, meta: t.meta };
    else {
      if (t.dim !== first.dim) throw new BadDataError(`${what}: part ${file} has vectors of length ${t.dim}, ${first.file} has ${first.dim}: the parts are not one table`);
      if (format !== first.format) throw new BadDataError(`${what}: part ${file} is ${format}, ${first.file} is ${first.format}: the parts are not one table`);
      if (model !== first.model) throw new BadDataError(`${what}: part ${file} was embedded with another model (${model ?? 'none recorded'}) than ${first.file} (${first.model ?? 'none recorded'}): re-embed it, or keep the models' tables in separate folders`);
    }
    for (let i = 0; i < t.paths.length; i++) { paths.push(t.paths[i]); labels.push(t.labels[i]); }
    chunks.push(t.vectors);
  }
  const dim = first!.dim;
  const vectors = new Float32Array(paths.length * dim);
  let off = 0;
  for (const c of chunks) { vectors.set(c, off); off += c.length; }
  const meta = first!.meta ? { ...first!.meta, count: paths.length, parts: files.length } : null;
  return { paths, labels, vectors, dim, meta };
}

/** Reads one table file (see readTable). */
export async function readTableFile(path: string, opts: ReadTableOptions = {}): Promise<Table> {
  const format = tableFormat(path);
  try {
    await fsp.access(path);
  } catch {
    throw new BadDataError(`table not found: ${path}`);
  }
  let table: Table;
  try {
    table = format === 'parquet' ? await readParquetTable(path) : await readCsvTable(path);
  } catch (err) {
    if (err instanceof LabError || typeof (err as NodeJS.ErrnoException | null)?.code === 'string') throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new BadDataError(message.includes(path) ? message : `${path}: ${message}`, { cause: err });
  }
  if (opts.nonFinite !== 'keep') assertFinite(path, format, table);
  const sidecar = await readTableMeta(path);
  if (sidecar) table.meta = sidecar;
  return table;
}

/** Refuses a NaN or ±Infinity value, naming the first one's row (1-based) and column. */
export function assertFinite(path: string, format: TableFormat, table: Pick<Table, 'vectors' | 'dim'>): void {
  const { vectors, dim } = table;
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    if (v - v !== 0) { // false only for NaN and ±Infinity
      const row = Math.floor(i / dim) + 1;
      const col = i % dim;
      throw new BadDataError(`${path}: row ${row}, column ${format === 'csv' ? `emb_${col}` : `embedding[${col}]`}: ${String(v)}; `
        + 'a table must hold finite numbers (had the model diverged when it embedded this image?)');
    }
  }
}

/** Grows a Float32Array as rows arrive (amortized doubling). */
class VectorBuffer {
  private data: Float32Array;
  length = 0;
  constructor(initial: number) { this.data = new Float32Array(Math.max(16, initial)); }
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    let cap = this.data.length * 2;
    while (cap < this.length + extra) cap *= 2;
    const next = new Float32Array(cap);
    next.set(this.data.subarray(0, this.length));
    this.data = next;
  }
  push(v: number): void { this.data[this.length++] = v; }
  result(): Float32Array { return this.length === this.data.length ? this.data : this.data.slice(0, this.length); }
}

/** Parses a CSV number field; empty and non-numeric text is rejected (Number('') would be 0). */
function parseNumber(s: string): number {
  const v = Number(s);
  if (Number.isNaN(v)) {
    const t = s.trim();
    if (t === 'NaN' || t === '-NaN') return NaN;
    throw new Error('not a number');
  }
  if (s.trim() === '') throw new Error('empty');
  return v;
}

async function readCsvTable(path: string): Promise<Table> {
  const paths: string[] = [];
  const labels: string[] = [];
  let vectors: VectorBuffer | undefined;
  let dim = 0;
  let pathCol = -1;
  let labelCol = -1;
  let embCols: number[] = [];
  let header: string[] | undefined;
  let row = 0;

  const onRecord = (fields: string[], line: number): void => {
    if (!header) {
      header = fields.map((f) => f.trim());
      if (header.length > 0 && header[0].charCodeAt(0) === 0xfeff) header[0] = header[0].slice(1);
      pathCol = header.indexOf('path');
      labelCol = header.indexOf('label');
      const missing = [pathCol < 0 ? 'path' : '', labelCol < 0 ? 'label' : ''].filter(Boolean);
      const emb = new Map<number, number>();
      header.forEach((h, i) => {
        const m = /^emb_(\d+)$/.exec(h);
        if (m) emb.set(Number(m[1]), i);
      });
      dim = emb.size;
      if (dim === 0) missing.push('emb_0…emb_{d-1}');
      if (missing.length) {
        throw new Error(`${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header: ${header.slice(0, 8).join(',')}${header.length > 8 ? ',…' : ''})`);
      }
      embCols = [];
      for (let j = 0; j < dim; j++) {
        const c = emb.get(j);
        if (c === undefined) throw new Error(`${path}: missing column emb_${j} (embedding columns must be emb_0…emb_${dim - 1})`);
        embCols.push(c);
      }
      vectors = new VectorBuffer(1024 * dim);
      return;
    }
    row++;
    const expectedFields = header.length;
    if (fields.length !== expectedFields) {
      const values = fields.length - (expectedFields - dim);
      throw new Error(`${path}: row ${row} (line ${line}) has ${values} values, expected ${dim}`);
    }
    paths.push(fields[pathCol]);
    labels.push(fields[labelCol]);
    const vb = vectors!;
    vb.reserve(dim);
    for (let j = 0; j < dim; j++) {
      const s = fields[embCols[j]];
      let v: number;
      try {
        v = parseNumber(s);
      } catch {
        throw new Error(`${path}: row ${row} (line ${line}), column emb_${j}: not a number: ${JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s)}`);
      }
      vb.push(v);
    }
  };

  const parser = new CsvParser(path, onRecord);
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) parser.push(chunk as string);
    parser.end();
  } finally {
    stream.destroy();
  }
  if (!header) throw new Error(`${path}: empty table (no header)`);
  if (row === 0) throw new Error(`${path}: empty table (header only, no rows)`);
  return { paths, labels, vectors: vectors!.result(), dim, meta: null };
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/**
 * A streaming RFC 4180 parser: feed it text chunks of any size; it calls onRecord(fields, line) for
 * each record (line = 1-based line where the record starts). Accepts LF and CRLF; blank lines are skipped.
 */
export class CsvParser {
  private state: 'start' | 'unquoted' | 'quoted' | 'quoteInQuoted' | 'afterCr' = 'start';
  private field = '';
  private record: string[] = [];
  private line = 1;
  private recordLine = 1;
  private fieldLine = 1;

  constructor(private readonly file: string, private readonly onRecord: (fields: string[], line: number) => void) {}

  push(chunk: string): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case 'afterCr':
          this.state = 'start';
          if (chunk.charCodeAt(i) === LF) i++;
          break;
        case 'start': {
          const c = chunk.charCodeAt(i);
          if (c === QUOTE) {
            this.state = 'quoted';
            this.fieldLine = this.line;
            i++;
          } else {
            this.state = 'unquoted';
          }
          break;
        }
        case 'unquoted': {
          let j = i;
          while (j < n) {
            const d = chunk.charCodeAt(j);
            if (d === COMMA || d === LF || d === CR) break;
            if (d === QUOTE) throw new Error(`${this.file}: line ${this.line}: quote inside an unquoted field`);
            j++;
          }
          this.field += chunk.slice(i, j);
          i = j;
          if (j < n) i = this.delimiter(chunk.charCodeAt(j), i);
          break;
        }
        case 'quoted': {
          const j = chunk.indexOf('"', i);
          const end = j < 0 ? n : j;
          const part = chunk.slice(i, end);
          for (let k = part.indexOf('\n'); k >= 0; k = part.indexOf('\n', k + 1)) this.line++;
          this.field += part;
          i = end;
          if (j >= 0) {
            this.state = 'quoteInQuoted';
            i++;
          }
          break;
        }
        case 'quoteInQuoted': {
          const c = chunk.charCodeAt(i);
          if (c === QUOTE) {
            this.field += '"';
            this.state = 'quoted';
            i++;
          } else if (c === COMMA || c === LF || c === CR) {
            i = this.delimiter(c, i);
          } else {
            throw new Error(`${this.file}: line ${this.line}: unexpected character after a closing quote`);
          }
          break;
        }
      }
    }
  }

  /** Call after the last chunk: flushes a final record without a trailing newline. */
  end(): void {
    if (this.state === 'quoted') throw new Error(`${this.file}: unterminated quoted field starting at line ${this.fieldLine}`);
    if (this.state === 'unquoted' || this.state === 'quoteInQuoted' || this.record.length > 0) {
      this.record.push(this.field);
      this.emit();
    }
    this.state = 'start';
  }

  /** Handles a comma / CR / LF at chunk[i] that ends the current field; returns the next index. */
  private delimiter(c: number, i: number): number {
    this.record.push(this.field);
    this.field = '';
    if (c === COMMA) {
      this.state = 'start';
      // A trailing comma at the end of a line still ends an (empty) field: 'start' handles the line break.
      return i + 1;
    }
    this.emit();
    this.line++;
    this.recordLine = this.line;
    this.state = c === CR ? 'afterCr' : 'start';
    return i + 1;
  }

  private emit(): void {
    const rec = this.record;
    this.record = [];
    if (rec.length === 1 && rec[0] === '') return; // blank line
    this.onRecord(rec, this.recordLine);
  }
}

/** hyparquet's AsyncBuffer over an open file handle (reads only the byte ranges asked for). */
function fileAsyncBuffer(fh: FileHandle, size: number) {
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      const len = Math.max(0, end - start);
      const buf = new ArrayBuffer(len);
      const view = new Uint8Array(buf);
      let off = 0;
      while (off < len) {
        const { bytesRead } = await fh.read(view, off, len - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return buf;
    },
  };
}

async function readParquetTable(path: string): Promise<Table> {
  const hp = await import('hyparquet');
  // ZSTD, GZIP, BROTLI, LZ4, LZ4_RAW and (a faster) SNAPPY: hyparquet itself reads only SNAPPY and uncompressed.
  const { compressors } = await import('hyparquet-compressors');
  const fh = await fsp.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const file = fileAsyncBuffer(fh, size);
    let metadata;
    try {
      metadata = await hp.parquetMetadataAsync(file);
    } catch (err) {
      throw new BadDataError(`${path}: not a readable Parquet file: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const columns = hp.parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = ['path', 'label', 'embedding'].filter((c) => !columns.includes(c));
    if (missing.length) {
      throw new Error(`${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (columns: ${columns.join(', ')})`);
    }
    const numRows = Number(metadata.num_rows);
    if (numRows === 0) throw new Error(`${path}: empty table (no rows)`);

    let embedded: Record<string, unknown> | null = null;
    const kv = metadata.key_value_metadata?.find((e) => e.key === PARQUET_META_KEY);
    if (kv?.value) {
      try {
        const parsed: unknown = JSON.parse(kv.value);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) embedded = parsed as Record<string, unknown>;
      } catch { /* foreign or damaged metadata: ignore */ }
    }

    const paths: string[] = new Array(numRows);
    const labels: string[] = new Array(numRows);
    let vectors: Float32Array | undefined;
    let dim = 0;
    let row = 0;
    // One row group at a time keeps the transient (boxed) copy small.
    let groupStart = 0;
    for (const rg of metadata.row_groups) {
      const groupEnd = groupStart + Number(rg.num_rows);
      const rows = await hp.parquetReadObjects({
        file, metadata, columns: ['path', 'label', 'embedding'], rowStart: groupStart, rowEnd: groupEnd, compressors,
      }).catch((err: unknown) => {
        throw new BadDataError(`${path}: cannot read rows ${groupStart + 1}–${groupEnd}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      });
      for (const r of rows) {
        const rowNo = row + 1;
        const p: unknown = r.path;
        if (typeof p !== 'string') throw new Error(`${path}: row ${rowNo}: path is ${p === null || p === undefined ? 'missing' : 'not a string'}`);
        const l: unknown = r.label;
        const e: unknown = r.embedding;
        if (e === null || e === undefined || typeof (e as ArrayLike<unknown>).length !== 'number') {
          throw new Error(`${path}: row ${rowNo}: embedding is missing`);
        }
        const vec = e as ArrayLike<unknown>;
        if (!vectors) {
          dim = vec.length;
          if (dim === 0) throw new Error(`${path}: row ${rowNo} has 0 values`);
          vectors = new Float32Array(numRows * dim);
        }
        if (vec.length !== dim) throw new Error(`${path}: row ${rowNo} has ${vec.length} values, expected ${dim}`);
        const base = row * dim;
        for (let j = 0; j < dim; j++) {
          const v = vec[j];
          if (typeof v !== 'number') throw new Error(`${path}: row ${rowNo}, value ${j}: not a number: ${String(v)}`);
          vectors[base + j] = v;
        }
        paths[row] = p;
        labels[row] = typeof l === 'string' ? l : l === null || l === undefined ? '' : String(l);
        row++;
      }
      groupStart = groupEnd;
    }
    if (row !== numRows) throw new Error(`${path}: expected ${numRows} rows, read ${row}`);
    return { paths, labels, vectors: vectors!, dim, meta: embedded };
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Sidecars

/** Reads `<table>.meta.json`; null when it does not exist. Invalid JSON is an error naming the file. */
export async function readTableMeta(tablePath: string): Promise<Record<string, unknown> | null> {
  const metaPath = tableMetaPath(tablePath);
  let text: string;
  try {
    text = await fsp.readFile(metaPath, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return null;
    throw new Error(`cannot read ${metaPath}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BadDataError(`${metaPath}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadDataError(`${metaPath}: expected a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Writes `<table>.meta.json` atomically (openTableWriter's commit() already does this). */
export async function writeTableMeta(tablePath: string, meta: Record<string, unknown>): Promise<void> {
  await writeJsonAtomic(tableMetaPath(tablePath), meta);
}

/** Backslash-escapes `\`, tab, LF and CR so each failure stays on one `path<TAB>reason` line. */
function escapeField(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

function unescapeField(s: string): string {
  return s.replace(/\\([\\tnr])/g, (_, c: string) => (c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : '\\'));
}

/**
 * Writes `<table>.skipped.txt` atomically: one `path<TAB>reason` line per failure (tabs, line breaks
 * and backslashes inside fields are backslash-escaped). With no failures, removes a stale list instead.
 */
export async function writeSkippedList(tablePath: string, failures: ReadonlyArray<{ path: string; reason: string }>): Promise<void> {
  const file = tableSkippedPath(tablePath);
  if (failures.length === 0) {
    await fsp.unlink(file).catch(() => undefined);
    return;
  }
  const text = failures.map((f) => `${escapeField(f.path)}\t${escapeField(f.reason)}\n`).join('');
  await writeFileAtomic(file, text);
}

/** Reads `<table>.skipped.txt`; an empty list when it does not exist. */
export async function readSkippedList(tablePath: string): Promise<Array<{ path: string; reason: string }>> {
  let text: string;
  try {
    text = await fsp.readFile(tableSkippedPath(tablePath), 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return [];
    throw err;
  }
  return text.split('\n').filter((l) => l.length > 0).map((l) => {
    const tab = l.indexOf('\t');
    return tab < 0
      ? { path: unescapeField(l), reason: '' }
      : { path: unescapeField(l.slice(0, tab)), reason: unescapeField(l.slice(tab + 1)) };
  });
}

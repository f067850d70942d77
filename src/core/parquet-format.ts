// The Parquet format as our writers encode it (https://github.com/apache/parquet-format): the Thrift compact
// protocol, page headers, FileMetaData for a given schema, RLE level runs and PLAIN values — the subset described in
// parquet-writer.ts's header. Shared by the streaming embedding-table writer (parquet-writer.ts) and the flat results
// tables (results-table.ts).

// ---------------------------------------------------------------------------------------------
// Parquet enums (parquet.thrift): only the members we write.


export enum PqType { BOOLEAN = 0, INT64 = 2, FLOAT = 4, DOUBLE = 5, BYTE_ARRAY = 6 }
export enum Repetition { REQUIRED = 0, OPTIONAL = 1, REPEATED = 2 }
export enum ConvertedType { UTF8 = 0, LIST = 3 }
export enum Encoding { PLAIN = 0, RLE = 3 }
export enum PageType { DATA_PAGE = 0 }
export const CODEC_UNCOMPRESSED = 0;

// ---------------------------------------------------------------------------------------------
// Thrift compact protocol encoder.

export enum CType { BOOL_TRUE = 1, BOOL_FALSE = 2, BYTE = 3, I16 = 4, I32 = 5, I64 = 6, DOUBLE = 7, BINARY = 8, LIST = 9, SET = 10, MAP = 11, STRUCT = 12 }

export const utf8 = new TextEncoder();

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

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
export const MAGIC = utf8.encode('PAR1');

/** An unsigned varint (LEB128), as RLE run headers are written. */
export function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
/** PLAIN BYTE_ARRAY values: `<u32 LE length><bytes>` each. */
export function plainByteArrays(values: Uint8Array[], totalBytes: number): Uint8Array {
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
export function plainFloats(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

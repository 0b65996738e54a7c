/**
 * The child -> parent record codec. One record on the pipe:
 *
 *   u32le length | u32le crc32 | u16le magic 'PC' | u8 type | u32le pid | data
 *
 * `length` counts the bytes after itself, as in the original's 4-byte header; the
 * CRC-32 covers everything after it (magic, type, pid, data). A whole record is at
 * most PIPE_BUF bytes, so one write() puts it in the pipe atomically and records
 * from concurrent children never interleave. The original could never recover
 * from one bad length (its author warned of it); here a damaged stretch is skipped
 * byte by byte until a record with a valid length, magic and checksum starts again.
 */
import { crc32 } from './crc32.js';

/** What a record asks the parent to do. */
export const RecordType = {
  /** A complete line from the client (without its line end). */
  msg: 1,
  /** The client has gone; the child is about to exit. From a web child, data: the WebSocket close code (u16 BE) to send, if any. */
  disc: 2,
  /** A line that hit the length limit: delivered cut, and its sender is told. */
  cut: 3,
  /** Bytes for the parent to send back to this record's client (telnet answers). */
  reply: 4,
  /** The client sends faster than the rate limit: lines are being dropped (data: how many so far). */
  throttled: 5,
  /** The client kept flooding past the limit: the child asks the parent to disconnect it. */
  flood: 6,
  /** A JSON message between the parent and its Redis link process (src/cluster/protocol.ts). */
  link: 7,
  /**
   * The client's own address, from the PROXY header its trusted proxy sent first: 'ADDRESS PORT',
   * or empty when the proxy gives none (v1 UNKNOWN; v2 LOCAL to the web port). Before any line.
   */
  origin: 8,
  /** The child refuses its connection (a missing, malformed or unexpected PROXY header); data: why. */
  refused: 9,
  /** A web child's client has opened its WebSocket: it joins the chat now (before, it only fetched the page). */
  open: 10,
  /** A JSON message between the parent and its password hasher process (src/hasher/protocol.ts). */
  hasher: 11,
  /**
   * The trusted proxy's own connection (a PROXY v2 LOCAL header: a health check) to the
   * telnet port: the parent answers it with one line and closes it; it never joins.
   */
  check: 12,
} as const;
export type RecordTypeName = keyof typeof RecordType;
export type RecordTypeCode = (typeof RecordType)[RecordTypeName];

/** 'msg' for 1; the number as text for a type this version does not know. */
export function recordTypeName(type: number): string {
  for (const [name, code] of Object.entries(RecordType)) if (code === type) return name;
  return String(type);
}

const LENGTH_BYTES = 4;
const CRC_OFFSET = 4;
const MAGIC_OFFSET = 8;
const TYPE_OFFSET = 10;
const PID_OFFSET = 11;
/** 'PC' read as little-endian u16. */
export const RECORD_MAGIC = 0x4350;
/** length + crc + magic + type + pid. */
export const RECORD_HEADER_BYTES = 15;
/**
 * `PIPE_BUF` on Linux: the largest pipe write the kernel keeps whole, never interleaved
 * with another writer's. A constant here, so the codec loads without the addon; a test
 * checks it against the addon's value from <limits.h>.
 */
export const PIPE_BUF = 4096;
/** The largest record: one atomic pipe write. */
export const MAX_RECORD_BYTES = PIPE_BUF;
/** The most data one record carries. */
export const MAX_RECORD_DATA_BYTES = MAX_RECORD_BYTES - RECORD_HEADER_BYTES;

/** A decoded record. `data` is a view into the decoder's buffer, valid only during the callback. */
export interface PipeRecord {
  type: number;
  pid: number;
  data: Buffer;
}

/**
 * Where decoded records go. An object with a method, not a callback: every object of one
 * class shares its method, so the decoder's optimised code, which calls it, stays valid
 * from one such object to the next (the parent's start-up rehearsal feeds another server
 * object than the real one; a closure per object would be another call target each time).
 */
export interface RecordSink {
  record(record: PipeRecord): void;
}

/**
 * Writes a record header at `buffer[offset]`, in front of `dataLength` bytes already
 * placed at `buffer[offset + RECORD_HEADER_BYTES...]`, and returns the record's total
 * size. The child builds its records in place this way, copying nothing.
 */
export function writeRecordHeader(buffer: Buffer, offset: number, type: RecordTypeCode, pid: number, dataLength: number): number {
  if (dataLength < 0 || dataLength > MAX_RECORD_DATA_BYTES) {
    throw new RangeError(`record data must be 0-${MAX_RECORD_DATA_BYTES} bytes, got ${dataLength}`);
  }
  const size = RECORD_HEADER_BYTES + dataLength;
  // Byte by byte rather than Buffer#writeUInt32LE, whose checks deoptimise on a value
  // they have not seen before: this runs in every child, which must not recompile.
  putU32(buffer, offset, size - LENGTH_BYTES);
  buffer[offset + MAGIC_OFFSET] = RECORD_MAGIC & 0xff;
  buffer[offset + MAGIC_OFFSET + 1] = RECORD_MAGIC >>> 8;
  buffer[offset + TYPE_OFFSET] = type;
  putU32(buffer, offset + PID_OFFSET, pid);
  putU32(buffer, offset + CRC_OFFSET, crc32(buffer, offset + MAGIC_OFFSET, offset + size));
  return size;
}

function putU32(buffer: Buffer, offset: number, value: number): void {
  buffer[offset] = value & 0xff;
  buffer[offset + 1] = (value >>> 8) & 0xff;
  buffer[offset + 2] = (value >>> 16) & 0xff;
  buffer[offset + 3] = (value >>> 24) & 0xff;
}

/** A new buffer holding one whole record. */
export function encodeRecord(type: RecordTypeCode, pid: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const buffer = Buffer.allocUnsafe(RECORD_HEADER_BYTES + data.length);
  buffer.set(data, RECORD_HEADER_BYTES);
  writeRecordHeader(buffer, 0, type, pid, data.length);
  return buffer;
}

/** Bytes the decoder skipped to find the next valid record. */
export interface CorruptRecord {
  discardedBytes: number;
}

/** How many bytes the parent reads from the pipe at once: many records per read() call. */
export const PIPE_READ_BYTES = 64 * 1024;

const enum Check {
  Valid,
  Partial,
  Invalid,
}

/**
 * Reassembles records from pipe reads that may end anywhere, holding a partial record
 * until the rest arrives. The caller reads straight into `buffer` at `end` (no copy),
 * then calls `commit(bytesRead, sink)`.
 */
export class RecordDecoder {
  readonly buffer = Buffer.allocUnsafe(PIPE_READ_BYTES + MAX_RECORD_BYTES);
  /** Where the next read should write. */
  end = 0;
  /** Bytes skipped since the last valid record, reported when a valid one turns up again. */
  private skipped = 0;

  constructor(private readonly onCorrupt: (info: CorruptRecord) => void = () => {}) {}

  /** Room left for the next read. */
  get room(): number {
    return this.buffer.length - this.end;
  }

  /** Copies `chunk` in and decodes; for callers that did not read into `buffer` directly. */
  push(chunk: Uint8Array, sink: RecordSink): number {
    let count = 0;
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(this.room, chunk.length - offset);
      this.buffer.set(chunk.subarray(offset, offset + take), this.end);
      offset += take;
      count += this.commit(take, sink);
    }
    return count;
  }

  /** Decodes every complete record in the buffer after `bytes` more arrived; returns how many. */
  commit(bytes: number, sink: RecordSink): number {
    this.end += bytes;
    let start = 0;
    let count = 0;
    for (;;) {
      const check = this.check(start);
      if (check === Check.Partial) break;
      if (check === Check.Invalid) {
        start++; // resynchronise: try the next byte as a record start
        this.skipped++;
        continue;
      }
      this.reportSkipped();
      const size = LENGTH_BYTES + this.buffer.readUInt32LE(start);
      const type = this.buffer.readUInt8(start + TYPE_OFFSET);
      const pid = this.buffer.readUInt32LE(start + PID_OFFSET);
      const data = this.buffer.subarray(start + RECORD_HEADER_BYTES, start + size);
      start += size;
      count++;
      sink.record({ type, pid, data });
    }
    // Keep the partial record at the front; it is always shorter than MAX_RECORD_BYTES.
    this.buffer.copyWithin(0, start, this.end);
    this.end -= start;
    return count;
  }

  private reportSkipped(): void {
    if (this.skipped === 0) return;
    this.onCorrupt({ discardedBytes: this.skipped });
    this.skipped = 0;
  }

  /** Is there a whole, valid record at `start`? */
  private check(start: number): Check {
    const available = this.end - start;
    if (available < LENGTH_BYTES) return Check.Partial;
    const size = LENGTH_BYTES + this.buffer.readUInt32LE(start);
    if (size < RECORD_HEADER_BYTES || size > MAX_RECORD_BYTES) return Check.Invalid;
    if (available >= MAGIC_OFFSET + 2 && this.buffer.readUInt16LE(start + MAGIC_OFFSET) !== RECORD_MAGIC) return Check.Invalid;
    if (available < size) return Check.Partial;
    const crc = this.buffer.readInt32LE(start + CRC_OFFSET);
    return crc32(this.buffer, start + MAGIC_OFFSET, start + size) === crc ? Check.Valid : Check.Invalid;
  }
}

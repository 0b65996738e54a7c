/**
 * The child -> parent record codec. One record on the pipe:
 *
 *   u32le length | u8 type | u32le pid | data (length - 5 bytes, any byte values)
 *
 * `length` counts the bytes after itself, as in the original's 4-byte header. A whole
 * record is at most PIPE_BUF bytes, so one write() puts it in the pipe atomically and
 * records from concurrent children never interleave.
 */
import { PIPE_BUF } from './posix.js';

/** What a record asks the parent to do. */
export const RecordType = {
  /** A complete line from the client (without its line end). */
  msg: 1,
  /** The client has gone; the child is about to exit. */
  disc: 2,
  /** A line that hit the length limit: delivered cut, and its sender is told. */
  cut: 3,
  /** Bytes for the parent to send back to this record's client (telnet answers). */
  reply: 4,
} as const;
export type RecordTypeName = keyof typeof RecordType;
export type RecordTypeCode = (typeof RecordType)[RecordTypeName];

const LENGTH_BYTES = 4;
/** length + type + pid. */
export const RECORD_HEADER_BYTES = LENGTH_BYTES + 1 + 4;
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
 * Writes a record header in front of `dataLength` bytes already placed at
 * `buffer[RECORD_HEADER_BYTES...]`, and returns the record's total size. The child
 * builds its records in place this way, allocating nothing per message.
 */
export function writeRecordHeader(buffer: Buffer, type: RecordTypeCode, pid: number, dataLength: number): number {
  if (dataLength < 0 || dataLength > MAX_RECORD_DATA_BYTES) {
    throw new RangeError(`record data must be 0-${MAX_RECORD_DATA_BYTES} bytes, got ${dataLength}`);
  }
  buffer.writeUInt32LE(dataLength + RECORD_HEADER_BYTES - LENGTH_BYTES, 0);
  buffer.writeUInt8(type, LENGTH_BYTES);
  buffer.writeUInt32LE(pid, LENGTH_BYTES + 1);
  return RECORD_HEADER_BYTES + dataLength;
}

/** A new buffer holding one whole record. */
export function encodeRecord(type: RecordTypeCode, pid: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const buffer = Buffer.allocUnsafe(RECORD_HEADER_BYTES + data.length);
  buffer.set(data, RECORD_HEADER_BYTES);
  writeRecordHeader(buffer, type, pid, data.length);
  return buffer;
}

/** Why the decoder threw bytes away. */
export interface CorruptRecord {
  length: number;
  discardedBytes: number;
}

/** How many bytes the parent reads from the pipe at once: many records per read() call. */
export const PIPE_READ_BYTES = 64 * 1024;

/**
 * Reassembles records from pipe reads that may end anywhere, holding a partial record
 * until the rest arrives. The caller reads straight into `buffer` at `end` (no copy),
 * then calls `commit(bytesRead, onRecord)`.
 */
export class RecordDecoder {
  readonly buffer = Buffer.allocUnsafe(PIPE_READ_BYTES + MAX_RECORD_BYTES);
  /** Where the next read should write, and how much room there is. */
  end = 0;

  constructor(private readonly onCorrupt: (info: CorruptRecord) => void = () => {}) {}

  get room(): number {
    return this.buffer.length - this.end;
  }

  /** Copies `chunk` in and decodes; for callers that did not read into `buffer` directly. */
  push(chunk: Uint8Array, onRecord: (record: PipeRecord) => void): number {
    let count = 0;
    for (let offset = 0; offset < chunk.length; ) {
      const take = Math.min(this.room, chunk.length - offset);
      this.buffer.set(chunk.subarray(offset, offset + take), this.end);
      offset += take;
      count += this.commit(take, onRecord);
    }
    return count;
  }

  /** Decodes every complete record in the buffer after `bytes` more arrived; returns how many. */
  commit(bytes: number, onRecord: (record: PipeRecord) => void): number {
    this.end += bytes;
    let start = 0;
    let count = 0;
    while (this.end - start >= LENGTH_BYTES) {
      const length = this.buffer.readUInt32LE(start);
      if (length < RECORD_HEADER_BYTES - LENGTH_BYTES || length > MAX_RECORD_BYTES - LENGTH_BYTES) {
        // No valid record can start here; nothing after it can be trusted to align either.
        this.onCorrupt({ length, discardedBytes: this.end - start });
        start = this.end;
        break;
      }
      if (this.end - start < LENGTH_BYTES + length) break;
      const type = this.buffer.readUInt8(start + LENGTH_BYTES);
      const pid = this.buffer.readUInt32LE(start + LENGTH_BYTES + 1);
      const data = this.buffer.subarray(start + RECORD_HEADER_BYTES, start + LENGTH_BYTES + length);
      start += LENGTH_BYTES + length;
      count++;
      onRecord({ type, pid, data });
    }
    // Keep the partial record at the front; it is always shorter than MAX_RECORD_BYTES.
    this.buffer.copyWithin(0, start, this.end);
    this.end -= start;
    return count;
  }
}

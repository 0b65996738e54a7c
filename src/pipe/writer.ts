/**
 * The writing end of the pipe (the original's FIFO): how a process hands records
 * to the parent. Records are batched; each write() carries as many whole records
 * as fit in PIPE_BUF, so it is atomic and never interleaves with another writer's;
 * each flush() wakes the parent once (kill SIGUSR1), however many records it carried.
 *
 * Used by every child and by the Redis link. It calls no system call itself: the
 * process gives it `write` and `wake` (the addon's in a child, Node's in the link),
 * so it loads and runs without the addon.
 */
import { MAX_RECORD_BYTES, RECORD_HEADER_BYTES, recordTypeName, writeRecordHeader, type RecordTypeCode } from '../protocol/record.js';

/** The system calls a writer needs. */
export interface PipeIo {
  /** Writes `buffer[0, length)` to the pipe, whole (blocking while the pipe is full). */
  write(buffer: Buffer, length: number): void;
  /** Wakes the parent: kill(parent, SIGUSR1). */
  wake(): void;
}

export class PipeWriter {
  private readonly batch = Buffer.allocUnsafe(MAX_RECORD_BYTES);
  private batchLength = 0;
  /** Records in the batch. */
  private records = 0;
  /** Records written to the pipe since the last wake(). */
  private sent = 0;

  /**
   * @param pid the writer's pid, put in every record (a forked child's `process.pid` is its parent's)
   * @param trace --trace: one line per record and per write; null when off
   */
  constructor(
    private readonly io: PipeIo,
    private pid: number,
    private readonly trace: ((text: string) => void) | null = null,
  ) {}

  /** The process whose records these now are: a spare's, for the writer it inherited from the zygote. */
  ownedBy(pid: number): void {
    this.pid = pid;
  }

  /** Adds a record whose data is `source[from, from + length)`. */
  queue(type: RecordTypeCode, source: Uint8Array, from: number, length: number): void {
    if (this.batchLength + RECORD_HEADER_BYTES + length > this.batch.length) this.write();
    // A plain loop: Buffer#copy makes a view object per call, and a child must not allocate.
    const to = this.batchLength + RECORD_HEADER_BYTES;
    for (let i = 0; i < length; i++) this.batch[to + i] = source[from + i] ?? 0;
    this.batchLength += writeRecordHeader(this.batch, this.batchLength, type, this.pid, length);
    this.records++;
    if (this.trace !== null) this.trace(`record ${recordTypeName(type)}, ${length} bytes of data`);
  }

  /** Writes what is batched and wakes the parent. Returns how many records went out since the last flush. */
  flush(): number {
    this.write();
    const sent = this.sent;
    if (sent === 0) return 0;
    this.sent = 0;
    this.io.wake();
    return sent;
  }

  /** Forgets what is batched and not yet written (a spare's dry run). */
  discard(): void {
    this.batchLength = 0;
    this.records = 0;
    this.sent = 0;
  }

  /** One atomic write of the whole records batched so far. */
  private write(): void {
    if (this.batchLength === 0) return;
    this.io.write(this.batch, this.batchLength);
    if (this.trace !== null) this.trace(`write(pipe, ${this.batchLength} bytes): ${this.records} record(s)`);
    this.sent += this.records;
    this.batchLength = 0;
    this.records = 0;
  }
}

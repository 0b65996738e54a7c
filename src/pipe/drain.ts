/**
 * The parent's end of the pipe (the original's FIFO, made with pipe() instead of
 * mkfifo): created once before the first fork, so every child inherits the write
 * end; the parent reads the other, non-blocking. One wake-up may stand for many
 * records (signals coalesce), so each drain() reads until the pipe is empty, or
 * for at most MAX_READS_PER_TURN reads so the loop goes round (accepts, sends).
 */
import * as posix from '../posix/index.js';
import { RecordDecoder, type RecordSink } from '../protocol/record.js';
import type { Tracer } from '../contracts.js';

/** What drain() hands the records to (see RecordSink for why an object). */
export interface PipeReader extends RecordSink {
  /** After each read's records: the loop sends now; false stops reading (flow control). */
  afterRead(): boolean;
}

/** Pipe reads per drain() before the loop goes round and comes back. */
const MAX_READS_PER_TURN = 8;

export class PipeDrain {
  readonly readFd: number;
  /** Inherited by every child (and the Redis link): where they write their records. */
  readonly writeFd: number;
  /** Set when the last drain() stopped with records possibly still waiting. */
  hasMore = false;
  /** Damaged stretches of the pipe skipped so far. */
  private corruptRuns = 0;
  private readonly decoder: RecordDecoder;

  /**
   * @param onCorrupt told of each damaged stretch skipped (bytes, and the count of stretches so far)
   */
  constructor(
    private readonly tracer: Tracer,
    onCorrupt: (discardedBytes: number, runs: number) => void,
  ) {
    [this.readFd, this.writeFd] = posix.pipe();
    posix.setNonBlocking(this.readFd, true);
    this.decoder = new RecordDecoder(({ discardedBytes }) => {
      this.corruptRuns++;
      onCorrupt(discardedBytes, this.corruptRuns);
    });
  }

  /**
   * Reads every complete record waiting, handing each to `reader.record()`; after each
   * read, `reader.afterRead()` (the loop sends then: one send per client per read, so the
   * backlog never outgrows one read's worth), which returns false to stop reading (flow
   * control). Returns true when the pipe was read to the end: empty now.
   */
  drain(reader: PipeReader): boolean {
    this.hasMore = false;
    for (let reads = 0; reads < MAX_READS_PER_TURN; reads++) {
      const n = posix.read(this.readFd, this.decoder.buffer, this.decoder.end, this.decoder.room);
      if (n === null || n === 0) return true;
      if (this.tracer.enabled) this.trace(`read(pipe) -> ${n} bytes`);
      const records = this.decoder.commit(n, reader);
      if (this.tracer.enabled) this.trace(`  ${records} record(s) from that read`);
      if (!reader.afterRead()) break;
    }
    this.hasMore = true; // come back after one more loop turn
    return false;
  }

  close(): void {
    posix.close(this.readFd);
    posix.close(this.writeFd);
  }

  private trace(text: string): void {
    this.tracer.line('parent', posix.getpid(), text);
  }
}

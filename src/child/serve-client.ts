/**
 * The child's read loop: read the client until it goes, passing every line on as
 * records, then say goodbye (`disc`). Shared by the per-connection child and the
 * parent's warm-up, which runs it (through a spare's life) before the first fork.
 */
import type { ChildPlan } from '../contracts.js';
import * as posix from '../posix/index.js';
import type { Input, LineRecords } from './input.js';

/**
 * Bytes per read() of the client (the original read 1024). A client that sends
 * faster than its child is scheduled piles up lines in the socket: one large read
 * takes them all, and their records cost the parent one wake-up, not one per KiB.
 */
export const CLIENT_READ_BYTES = 16 * 1024;

/**
 * A client whose lines come back to back: its child's next read waits until this many
 * bytes have arrived, or BUSY_READ_WAIT_US have passed (see ReadPacing).
 */
export const BUSY_READ_LOW_WATER_BYTES = 4096;
export const BUSY_READ_WAIT_US = 500;

/**
 * How long a child's read() waits. At first, and whenever the client has gone quiet, it
 * returns at the first byte: a line a person types goes on at once. When one read finds
 * several lines waiting (the client sends faster than its child is woken: a paste, a
 * bot), reads switch to waiting until BUSY_READ_LOW_WATER_BYTES have arrived or
 * BUSY_READ_WAIT_US have passed (SO_RCVLOWAT, SO_RCVTIMEO), so the child and the parent
 * wake once per batch of lines, not once per line. A wait that ends with nothing
 * (EAGAIN) switches back.
 */
export class ReadPacing {
  private busy = false;

  constructor(private readonly fd: number) {}

  /** A read passed `lines` records on. */
  read(lines: number): void {
    if (this.busy || lines < 2) return;
    posix.setsockopt(this.fd, 'SO_RCVLOWAT', BUSY_READ_LOW_WATER_BYTES);
    posix.setsockopt(this.fd, 'SO_RCVTIMEO', BUSY_READ_WAIT_US);
    this.busy = true;
  }

  /** A read timed out with nothing: back to returning at the first byte. */
  quiet(): void {
    posix.setsockopt(this.fd, 'SO_RCVLOWAT', 1);
    posix.setsockopt(this.fd, 'SO_RCVTIMEO', 0);
    this.busy = false;
  }
}

/** Reads the client into `chunk` until it goes, passing every line on; then says goodbye. */
export function serveClient(plan: ChildPlan, records: LineRecords, input: Input, chunk: Buffer): void {
  const pacing = new ReadPacing(plan.clientFd);
  try {
    for (;;) {
      const n = posix.read(plan.clientFd, chunk);
      if (n === null) {
        pacing.quiet(); // a busy wait that ended with nothing
        continue;
      }
      if (n === 0) break; // end of stream: the client closed, or the parent shut us down
      input.feed(chunk, n);
      pacing.read(records.flush());
    }
    input.end();
  } catch {
    // ECONNRESET and the like: the client is gone, as with end of stream.
  }
  records.sendDisc();
}

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
 * A read that finds a single line this soon (µs) after the one before it: the client
 * sends lines back to back, faster than a person types, so reads switch to waiting for
 * more (see ReadPacing).
 */
export const BACK_TO_BACK_US = 1000;

/**
 * How long a child's read() waits. At first, and whenever the client has gone quiet, it
 * returns at the first byte: a line a person types goes on at once. When the client sends
 * faster than that (a paste, a bot), reads switch to waiting until
 * BUSY_READ_LOW_WATER_BYTES have arrived or BUSY_READ_WAIT_US have passed (SO_RCVLOWAT,
 * SO_RCVTIMEO), so the child and the parent wake once per batch of lines, not once per
 * line. Faster than that means: one read found several lines waiting (the child was woken
 * later than they came), or found one line BACK_TO_BACK_US or less after the read before
 * it (the child keeps up, but is woken for every line). A wait that ends with nothing
 * (EAGAIN) switches back.
 *
 * The time between reads comes from monotonicMicros(), which allocates nothing: the read
 * loop of a forked child must not (docs/architecture.md).
 */
export class ReadPacing {
  private busy = false;
  /** When the last read returned (monotonicMicros()), or -1 before the first. */
  private lastReadAt = -1;

  constructor(private readonly fd: number) {}

  /** Whether reads wait for a batch now. */
  get batching(): boolean {
    return this.busy;
  }

  /** A read passed `lines` records on. */
  read(lines: number): void {
    const now = posix.monotonicMicros();
    const backToBack = this.lastReadAt >= 0 && posix.microsBetween(this.lastReadAt, now) <= BACK_TO_BACK_US;
    this.lastReadAt = now;
    if (this.busy || lines === 0 || (lines === 1 && !backToBack)) return;
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

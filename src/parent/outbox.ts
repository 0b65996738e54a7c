/**
 * One client's queue of bytes the parent still has to send. The parent never
 * blocks on a client: it sends with MSG_DONTWAIT, keeps what did not fit, and
 * tries again on a later loop turn. Everything due to a client goes out in one
 * sendmsg() call per flush, one iovec per queued buffer (up to IOV_MAX).
 *
 * What a queue costs the parent is more than its payload: each queued Buffer is an
 * object too. `cost` counts both, so a flood of tiny pieces (telnet answers, say)
 * meets the send-queue limit as soon as its memory does. Once a queue is long (its
 * reader is behind), small pieces are copied together into a buffer of the outbox's
 * own, so they take one entry, not many; a short queue shares the Buffers it is given
 * (a room's line is one Buffer for all its members).
 */
import * as posix from '../posix/index.js';

/** sent: all of it; partial: some, the rest waits; blocked: none (the client is not reading); gone: the peer vanished. */
export type FlushResult = 'sent' | 'partial' | 'blocked' | 'gone';

/** What the parent's heap spends on one queued Buffer besides its bytes (a view object and its slot). */
export const CHUNK_OVERHEAD_BYTES = 96;
/** Pieces up to this size are copied together instead of queued one by one. */
const SMALL_PIECE_BYTES = 256;
/** Queued buffers past which small pieces are copied together. */
const COALESCE_AFTER_CHUNKS = 16;
/** The size of the buffer small pieces are copied into. */
const COALESCE_BUFFER_BYTES = 4096;
/** The most buffers one sendmsg() takes (Linux's IOV_MAX). */
const MAX_IOVECS = 1024;
/**
 * The most bytes offered to one sendmsg(): more than a client's socket buffer takes
 * at once anyway, and under what a socketpair (a message socket) takes whole.
 */
const MAX_SEND_BYTES = 128 * 1024;

export class Outbox {
  /** Queued buffers; those before `head` have been sent. */
  private chunks: Buffer[] = [];
  private head = 0;
  /** The buffer small pieces go into, and how much of it is used; its used part ends the queue. */
  private tail: Buffer | null = null;
  private tailUsed = 0;
  /** Bytes queued and not yet sent. */
  bytes = 0;
  /** Since when (ms since the epoch) the socket has taken nothing while output waits; 0: it is taking. */
  stalledSince = 0;

  constructor(private readonly fd: number) {}

  /** What the queue costs in memory: its bytes plus an overhead per queued buffer. */
  get cost(): number {
    return this.bytes + (this.chunks.length - this.head) * CHUNK_OVERHEAD_BYTES;
  }

  /** Queues `data`, which is never modified (the same Buffer may be queued for many clients). */
  enqueue(data: Buffer): void {
    if (data.length === 0) return;
    this.bytes += data.length;
    const long = this.chunks.length - this.head >= COALESCE_AFTER_CHUNKS;
    if (long && data.length <= SMALL_PIECE_BYTES && this.appendSmall(data)) return;
    this.chunks.push(data);
    this.tail = null; // what comes next goes after `data`
  }

  /**
   * Sends as much as the socket takes now. 'gone' when the peer has vanished (EPIPE,
   * ECONNRESET): the queue is dropped and the caller ends the connection.
   */
  flush(): FlushResult {
    if (this.bytes === 0) return 'sent';
    const pending = this.head === 0 && this.chunks.length <= MAX_IOVECS && this.bytes <= MAX_SEND_BYTES ? this.chunks : this.nextBatch();
    let sent: number | null;
    try {
      sent = posix.sendv(this.fd, pending, { dontWait: true });
    } catch {
      this.clear();
      return 'gone';
    }
    if (sent === null || sent === 0) {
      if (this.stalledSince === 0) this.stalledSince = Date.now();
      return 'blocked';
    }
    this.stalledSince = 0;
    this.bytes -= sent;
    this.dropSent(sent);
    return this.bytes === 0 ? 'sent' : 'partial';
  }

  /** The queued buffers one sendmsg() takes: up to MAX_IOVECS of them and MAX_SEND_BYTES. */
  private nextBatch(): Buffer[] {
    const batch: Buffer[] = [];
    let bytes = 0;
    for (let i = this.head; i < this.chunks.length && batch.length < MAX_IOVECS && bytes < MAX_SEND_BYTES; i++) {
      const chunk = this.chunks[i];
      if (chunk === undefined) break;
      batch.push(chunk);
      bytes += chunk.length;
    }
    return batch;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.tail = null;
    this.tailUsed = 0;
    this.bytes = 0;
    this.stalledSince = 0;
  }

  /** Copies a small piece to the end of the last chunk if that is our own buffer with room. */
  private appendSmall(data: Buffer): boolean {
    const last = this.chunks.length - 1;
    if (this.tail === null || this.tailUsed + data.length > this.tail.length || last < this.head) {
      this.tail = Buffer.allocUnsafe(COALESCE_BUFFER_BYTES);
      this.tailUsed = 0;
      data.copy(this.tail, 0);
      this.tailUsed = data.length;
      this.chunks.push(this.tail.subarray(0, this.tailUsed));
      return true;
    }
    const current = this.chunks[last];
    if (current === undefined) return false;
    data.copy(this.tail, this.tailUsed);
    this.tailUsed += data.length;
    // The last chunk is a view of the tail; what went out of it already was cut off its front.
    this.chunks[last] = this.tail.subarray(this.tailUsed - data.length - current.length, this.tailUsed);
    return true;
  }

  /** Forgets the `sent` bytes at the front: whole buffers, then the front of a partly sent one. */
  private dropSent(sent: number): void {
    let left = sent;
    for (let chunk = this.chunks[this.head]; chunk !== undefined; chunk = this.chunks[this.head]) {
      if (left < chunk.length) {
        if (left > 0) this.chunks[this.head] = chunk.subarray(left);
        break;
      }
      left -= chunk.length;
      this.head++;
    }
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
      this.tail = null; // its used part is sent; a new piece starts a new one
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head); // compact now and then, not on every flush
      this.head = 0;
    }
  }
}

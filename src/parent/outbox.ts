/**
 * One client's queue of bytes the parent still has to send. The parent never
 * blocks on a client: it sends with MSG_DONTWAIT, keeps what did not fit, and
 * tries again on a later loop turn. Everything due to a client goes out in one
 * sendmsg() call per flush.
 */
import * as posix from '../posix/index.js';

/** sent: all of it; partial: some, the rest waits; blocked: none (the client is not reading); gone: the peer vanished. */
export type FlushResult = 'sent' | 'partial' | 'blocked' | 'gone';

export class Outbox {
  private chunks: Buffer[] = [];
  /** Bytes queued and not yet sent. */
  bytes = 0;
  /** Since when (ms since the epoch) the socket has taken nothing while output waits; 0: it is taking. */
  stalledSince = 0;

  constructor(private readonly fd: number) {}

  enqueue(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.bytes += data.length;
  }

  /**
   * Sends as much as the socket takes now, in one sendmsg() with one iovec per queued
   * buffer (no copying them together). 'gone' when the peer has vanished (EPIPE,
   * ECONNRESET): the queue is dropped and the caller ends the connection.
   */
  flush(): FlushResult {
    if (this.bytes === 0) return 'sent';
    let sent: number | null;
    try {
      sent = posix.sendv(this.fd, this.chunks, { dontWait: true });
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
    // Drop what went out: whole buffers, then the front of a partly sent one.
    let done = 0;
    for (const chunk of this.chunks) {
      if (sent < chunk.length) break;
      sent -= chunk.length;
      done++;
    }
    this.chunks = this.chunks.slice(done);
    const partly = this.chunks[0];
    if (sent > 0 && partly !== undefined) this.chunks[0] = partly.subarray(sent);
    return this.bytes === 0 ? 'sent' : 'partial';
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
    this.stalledSince = 0;
  }
}

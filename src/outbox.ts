/**
 * One client's queue of bytes the parent still has to send. The parent never
 * blocks on a client: it sends with MSG_DONTWAIT, keeps what did not fit, and
 * tries again on a later loop turn. Everything due to a client in one wake-up
 * goes out in one send() call.
 */
import * as posix from './posix.js';

/** sent: all of it; partial: some, the rest waits; blocked: none (the client is not reading); gone: the peer vanished. */
export type FlushResult = 'sent' | 'partial' | 'blocked' | 'gone';

export class Outbox {
  private chunks: Buffer[] = [];
  /** Bytes queued and not yet sent. */
  bytes = 0;

  constructor(private readonly fd: number) {}

  get isEmpty(): boolean {
    return this.bytes === 0;
  }

  enqueue(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.bytes += data.length;
  }

  /**
   * Sends as much as the socket takes now. 'gone' when the peer has vanished
   * (EPIPE, ECONNRESET): the queue is dropped and the caller ends the connection.
   */
  flush(): FlushResult {
    if (this.bytes === 0) return 'sent';
    const data = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
    let sent: number | null;
    try {
      sent = posix.send(this.fd, data, { dontWait: true });
    } catch {
      this.clear();
      return 'gone';
    }
    const rest = sent === null ? data : data.subarray(sent);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bytes = rest.length;
    if (this.bytes === 0) return 'sent';
    return sent === null || sent === 0 ? 'blocked' : 'partial';
  }

  clear(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

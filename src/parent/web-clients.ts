/**
 * The web port's connections before they join the chat. Each has its child, which
 * answers its HTTP requests (the page's files) itself; the parent keeps its socket
 * (children must close it, limits count it) and waits. When the child says the
 * WebSocket is open (an `open` record), the connection joins the chat; when the child
 * ends first (a `disc` record, or it is reaped), the connection was a page fetch: our
 * copy of the socket is closed, and nobody hears of it.
 */
import type { DisconnectReason } from '../contracts.js';
import * as posix from '../posix/index.js';
import { RecordType, type PipeRecord } from '../protocol/record.js';
import { CloseCode } from '../protocol/websocket.js';
import type { Accepted } from './socket-server.js';

export class WebClients {
  /** Web connections whose child has not opened a WebSocket yet, by child pid. */
  private readonly pending = new Map<number, Accepted>();

  /**
   * @param open the child of `pid` has opened its client's WebSocket: it joins the chat
   * @param done a connection that never joined the chat has ended (count it out)
   */
  constructor(
    private readonly open: (pid: number, client: Accepted) => void,
    private readonly done: (client: Accepted) => void,
  ) {}

  /** A web connection now has its child, `pid`. */
  add(pid: number, client: Accepted): void {
    this.pending.set(pid, client);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Handles a record from a pending connection's child; false when `record.pid` is none of ours. */
  onRecord(record: PipeRecord): boolean {
    const client = this.pending.get(record.pid);
    if (client === undefined) return false;
    if (record.type === RecordType.open) {
      this.pending.delete(record.pid);
      this.open(record.pid, client);
    } else if (record.type === RecordType.disc) {
      this.end(record.pid);
    }
    return true; // anything else before the WebSocket opens is nothing to act on
  }

  /** The child `pid` has ended (reaped): if its connection never joined, it is done. */
  end(pid: number): void {
    const client = this.pending.get(pid);
    if (client === undefined) return;
    this.pending.delete(pid);
    posix.close(client.fd);
    this.done(client);
  }

  /** Our copies of the pending sockets, which other children must close. */
  fds(): number[] {
    return [...this.pending.values()].map((client) => client.fd);
  }

  /** At shutdown: every pending connection is done. */
  endAll(): void {
    for (const pid of [...this.pending.keys()]) this.end(pid);
  }
}

/** The close code a web client is sent when its connection ends for `reason`. */
export function closeCodeFor(reason: DisconnectReason): number {
  switch (reason.kind) {
    case 'shutdown':
      return CloseCode.goingAway;
    case 'kicked':
    case 'timeout':
      return CloseCode.policyViolation;
    default:
      return CloseCode.normal;
  }
}

/** The close code a web child's `disc` record asks for, or null (its client just went). */
export function closeCodeIn(discData: Buffer): number | null {
  return discData.length >= 2 ? discData.readUInt16BE(0) : null;
}

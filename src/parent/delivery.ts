/**
 * Delivery: everything the parent sends to clients. Each client has an Outbox (its
 * queue, sent with one sendmsg() per turn); rooms are Fanouts that queue a line
 * once for all their members. The chat writes in through send(), broadcast() and
 * its rooms; the loop calls flush() once per pipe read and per turn.
 *
 * Ordering, all of it here and in Fanout: a client is handed its share of a room's
 * queued lines before anything sent to it directly, and before it leaves the room (a
 * newcomer does not get earlier lines; a leaver still does). A room whose queue holds
 * only notices (joined, left, renamed) is flushed once they have waited
 * noticeWaitMs(its size), or with the next line: in a large room a storm of joins then
 * costs a send per member every so often, not one per join. Order is kept within each
 * group; a client is in one group with lines at a time (its room; --classic has no
 * rooms, only everyone).
 *
 * Flow control: when the readers as a whole cannot keep up (one that is still taking
 * has a full send queue), `paused` turns on and the loop stops reading the pipe until
 * every such queue is below half the limit. The children then block on write(pipe),
 * stop reading their clients, and TCP slows the senders down: fast senders slow the
 * room, they do not cut its readers. A reader is cut only when it takes nothing for
 * STALLED_READER_MS with a full queue, or is still behind after the room has waited
 * FAR_BEHIND_MS for it. The parent's memory so stays near
 * clients x (send-queue limit + one pipe read's output); docs/architecture.md.
 *
 * A web client's output is framed here: each piece queued for it becomes one WebSocket
 * frame (a header before the same Buffer), and the bytes its child framed itself (a
 * pong) go as they are. Telnet clients' output is queued as it is.
 *
 * Data flows one way: nothing here calls the chat or the loop. What this module ends
 * (a client whose peer vanished, one too slow to keep) it hands back: flush() returns
 * the lost ones, takeKicks() the ones to disconnect.
 */
import { performance } from 'node:perf_hooks';
import type { Connection, Delivery, DisconnectReason, Framing, Tracer } from '../contracts.js';
import * as posix from '../posix/index.js';
import type { AcceptedSocket } from '../posix/index.js';
import { closeFrame, frameHeader, Opcode } from '../protocol/websocket.js';
import { Fanout, PendingGroups, type FanoutSink } from './fanout.js';
import { Outbox } from './outbox.js';

/** A client over the sendq limit that has taken nothing for this long is not reading: cut it off. */
export const STALLED_READER_MS = 1000;
/** A client still reading, but slower than its share, is cut off at this many times the sendq limit. */
export const SENDQ_HARD_FACTOR = 4;
/** A reader still behind after the room has waited this long for it (reading paused) is cut. */
export const FAR_BEHIND_MS = 2000;

/** Output a client's socket would not take is tried again this often. */
export const RETRY_OUTPUT_MS = 10;

/** The parent's own record of a connection: the chat's view, plus its queue. */
interface Client extends Connection {
  readonly outbox: Outbox;
  /** A web client: what it is sent goes in WebSocket frames. */
  readonly webSocket: boolean;
}

const NONE_LOST: readonly Connection[] = [];

/** A reader still taking its output: it took some lately, if not on the last try. */
function isTaking(client: Client, now: number): boolean {
  return client.outbox.stalledSince === 0 || now - client.outbox.stalledSince < STALLED_READER_MS;
}

export class Deliveries implements Delivery, FanoutSink {
  /** Live connections by child pid (the original's `connections`). */
  readonly connections = new Map<number, Client>();
  /** Clients with output queued since their last flush. */
  private readonly unflushed = new Set<Client>();
  /** Rooms with lines queued that members have not all been handed yet. */
  private readonly pendingGroups = new PendingGroups();
  /** Every live connection: what broadcast() sends to. */
  private readonly everyone: Fanout;
  /** Connections to end once the current turn's records are handled. */
  private readonly kicks = new Map<Connection, DisconnectReason>();
  /** Since when (ms since the epoch) reading the pipe has been paused for the readers; 0: it is not. */
  private pausedSince = 0;

  /**
   * @param sendqLimitBytes output queued for one client before it counts as too slow
   * @param check the last check on text before it goes out (safeOutput; none in --classic, whose bytes pass as sent)
   * @param webOpcode the frames web clients get: text, or binary where lines may not be UTF-8 (--classic)
   */
  constructor(
    private readonly sendqLimitBytes: number,
    private readonly tracer: Tracer,
    private readonly check: (text: Buffer) => Buffer = (text) => text,
    private readonly webOpcode: number = Opcode.text,
  ) {
    this.everyone = new Fanout(this, check);
  }

  /** A new client, served by child `pid`: from now on it gets broadcasts and can join rooms. */
  admit(pid: number, socket: AcceptedSocket, framing: Framing = 'telnet'): Connection {
    const client: Client = {
      pid,
      fd: socket.fd,
      address: socket.address,
      port: socket.port,
      lastActive: Date.now(),
      outbox: new Outbox(socket.fd),
      webSocket: framing === 'websocket',
    };
    this.connections.set(pid, client);
    this.everyone.add(client);
    return client;
  }

  /**
   * Forgets a connection and closes our copy of its socket; false when it had gone
   * already. shutdown() first, so the child blocked in read() sees end of stream and
   * exits even though it holds the socket too.
   */
  remove(connection: Connection): boolean {
    const client = this.connections.get(connection.pid);
    if (client === undefined) return false;
    this.connections.delete(client.pid);
    this.everyone.remove(client);
    this.unflushed.delete(client);
    this.kicks.delete(client);
    client.outbox.clear();
    try {
      posix.shutdown(client.fd, 'SHUT_RDWR');
    } catch {
      // ENOTCONN: the peer is already gone.
    }
    posix.close(client.fd);
    return true;
  }

  /** The connection the chat knows, for a child's pid. */
  get(pid: number): Connection | undefined {
    return this.connections.get(pid);
  }

  /** How long (ms) the loop may wait before something queued is due: 0 now, Infinity when nothing is queued. */
  dueInMs(): number {
    return Math.min(this.unflushed.size > 0 ? RETRY_OUTPUT_MS : Infinity, this.pendingGroups.dueInMs(performance.now()));
  }

  /** The readers are behind: the loop must not read the pipe (see the top of this file). */
  get paused(): boolean {
    return this.pausedSince !== 0;
  }

  /**
   * Whether `connection` can take more now: its queue is under half the send-queue
   * limit, so what it is sent on request never brings it near being cut.
   */
  canTake(connection: Connection): boolean {
    const client = this.connections.get(connection.pid);
    return client !== undefined && client.outbox.cost <= this.sendqLimitBytes / 2;
  }

  // -------------------------------------------------------- for the chat

  send(connection: Connection, data: Buffer): void {
    this.pendingGroups.handTo(connection); // lines a room queued earlier go first
    this.enqueue(connection, this.check(data));
  }

  broadcast(data: Buffer, except?: Connection): void {
    this.everyone.send(data, except ?? null);
  }

  group(): Fanout {
    return new Fanout(this, this.check);
  }

  disconnect(connection: Connection, reason: DisconnectReason): void {
    const client = this.connections.get(connection.pid);
    if (client !== undefined) this.kicks.set(client, reason);
  }

  // ------------------------------------------------------ for the rooms

  /** FanoutSink: straight into a client's queue (in a frame of its own for a web client). */
  enqueue(connection: Connection, data: Buffer): void {
    const client = this.connections.get(connection.pid);
    if (client === undefined || data.length === 0) return;
    if (client.webSocket) client.outbox.enqueue(frameHeader(this.webOpcode, data.length));
    client.outbox.enqueue(data);
    this.unflushed.add(client);
  }

  /** Queues bytes the client's child made for it (telnet answers, a framed pong) as they are: protocol, not text, so unchecked. */
  sendAsIs(connection: Connection, data: Buffer): void {
    this.pendingGroups.handTo(connection);
    const client = this.connections.get(connection.pid);
    if (client === undefined) return;
    client.outbox.enqueue(data);
    this.unflushed.add(client);
  }

  sendTelnet(connection: Connection, command: Buffer): void {
    const client = this.connections.get(connection.pid);
    if (client === undefined) return;
    // The page reads a binary frame of telnet as a telnet client would (echo off around a password).
    this.sendAsIs(client, client.webSocket ? Buffer.concat([frameHeader(Opcode.binary, command.length), command]) : command);
  }

  /** A web client's last frame, after what is queued: a close with `code` (RFC 6455 section 7.4). False (nothing) for telnet. */
  sendClose(connection: Connection, code: number): boolean {
    const client = this.connections.get(connection.pid);
    if (client?.webSocket !== true) return false;
    this.sendAsIs(client, closeFrame(code));
    return true;
  }

  /** FanoutSink: a room has lines waiting. */
  pending(group: Fanout): void {
    this.pendingGroups.add(group, performance.now());
  }

  // ------------------------------------------------------- for the loop

  /** The connections asked to end since the last call, with why; the caller ends them. */
  takeKicks(): [Connection, DisconnectReason][] {
    if (this.kicks.size === 0) return [];
    const kicks = [...this.kicks];
    this.kicks.clear();
    return kicks;
  }

  /**
   * One send per client with output due. What a client's socket does not take waits
   * for a later turn. A client is too slow to keep when its backlog passes the limit
   * and it has taken nothing for STALLED_READER_MS (a reader that is merely busy for a
   * moment is spared), or passes SENDQ_HARD_FACTOR times the limit however it reads:
   * either way the parent's memory stays bounded. Returns the connections whose peer
   * has vanished: the caller ends them (and may queue more, then flush again).
   */
  flush(): readonly Connection[] {
    this.pendingGroups.flushDue(performance.now());
    const now = Date.now();
    let lost: Connection[] | null = null;
    let behind = 0; // the longest queue of a reader still taking
    for (const client of this.unflushed) {
      if (this.flushOne(client) === 'gone') (lost ??= []).push(client);
      else if (isTaking(client, now)) behind = Math.max(behind, client.outbox.cost);
    }
    this.pace(behind, now);
    return lost ?? NONE_LOST;
  }

  /** Pauses or resumes reading the pipe, given the longest queue of a reader still taking. */
  private pace(behind: number, now: number): void {
    const high = this.sendqLimitBytes;
    if (this.pausedSince === 0) {
      if (behind >= high) this.pausedSince = now;
      return;
    }
    if (behind <= high / 2) {
      this.pausedSince = 0;
      return;
    }
    if (now - this.pausedSince < FAR_BEHIND_MS) return;
    // The others have caught up meanwhile: whoever is still behind holds the room up.
    for (const client of this.unflushed) {
      if (client.outbox.cost <= high / 2) continue;
      client.outbox.clear();
      this.kicks.set(client, { kind: 'kicked', detail: `too slow: still behind the room after ${FAR_BEHIND_MS / 1000} s` });
    }
    this.pausedSince = 0;
  }

  /** Sends one client what is queued for it now (a welcome, a last word); false when its peer has vanished. */
  flushNow(connection: Connection): boolean {
    const client = this.connections.get(connection.pid);
    return client === undefined || this.flushOne(client) !== 'gone';
  }



  /** Sends one client what is queued for it; marks it for a kick if it has stopped reading. */
  private flushOne(client: Client): 'gone' | 'ok' {
    const queued = client.outbox.bytes;
    const result = client.outbox.flush();
    if (this.tracer.enabled) this.tracer.line('parent', posix.getpid(), `send(client of ${client.pid}, ${queued} bytes) -> ${result}`);
    if (result === 'partial' || result === 'blocked') {
      const backlog = client.outbox.cost;
      const limit = this.sendqLimitBytes;
      const stalled = result === 'blocked' && Date.now() - client.outbox.stalledSince >= STALLED_READER_MS;
      if ((stalled && backlog > limit) || backlog > limit * SENDQ_HARD_FACTOR) {
        client.outbox.clear(); // it cannot take what is queued; the notice goes alone
        this.kicks.set(client, { kind: 'kicked', detail: `too slow: more than ${limit} bytes waiting to be read` });
      }
      return 'ok';
    }
    this.unflushed.delete(client);
    return result === 'gone' ? 'gone' : 'ok';
  }
}

/**
 * Who may stay: the limits on connections (at once, and from one address), the
 * idle timeout, and how a connection is turned away (one line saying why, then
 * close, without forking). Also the descriptor limit each client costs the parent.
 */
import type { Connection } from '../contracts.js';
import type { Logger } from '../log.js';
import { messageOf } from '../log.js';
import * as posix from '../posix/index.js';
import type { AcceptedSocket } from '../posix/index.js';

/** The kernel's send buffer for each client socket (Linux doubles it for bookkeeping). */
export const CLIENT_SNDBUF_BYTES = 64 * 1024;
/** How often idle connections are looked for. */
const IDLE_CHECK_INTERVAL_MS = 1000;

export interface Limits {
  /** Clients at once, and from one address; 0: no limit. */
  maxClients: number;
  maxPerAddress: number;
  /** Seconds of silence before a client is disconnected; 0: never. */
  idleTimeoutSeconds: number;
}

export class Admission {
  /** Live connections per client address, for the per-address limit. */
  private readonly perAddress = new Map<string, number>();
  /** When idle() last looked (ms since the epoch). */
  private lastIdleCheck = 0;

  constructor(private readonly limits: Limits) {}

  /**
   * Why `client` must be turned away, or null to let it in. `live`: connections now;
   * `waiting`: clients accepted and still waiting for their child.
   */
  refusal(client: AcceptedSocket, live: number, waiting: readonly AcceptedSocket[]): string | null {
    const { maxClients, maxPerAddress } = this.limits;
    if (maxClients > 0 && live + waiting.length >= maxClients) {
      return `The server is full (${maxClients} people); try again later.`;
    }
    let fromHere = this.perAddress.get(client.address) ?? 0;
    for (const other of waiting) if (other.address === client.address) fromHere++;
    if (maxPerAddress > 0 && fromHere >= maxPerAddress) {
      return `Too many connections from ${client.address} (at most ${maxPerAddress}); try again later.`;
    }
    return null;
  }

  /** Counts a connection from `address` in. */
  joined(address: string): void {
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  /** Counts a connection from `address` out. */
  left(address: string): void {
    const fromHere = (this.perAddress.get(address) ?? 1) - 1;
    if (fromHere > 0) this.perAddress.set(address, fromHere);
    else this.perAddress.delete(address);
  }

  /** At most once a second: the connections silent for longer than the idle timeout. */
  idle(connections: Iterable<Connection>): Connection[] {
    const limitMs = this.limits.idleTimeoutSeconds * 1000;
    const now = Date.now();
    if (limitMs === 0 || now - this.lastIdleCheck < IDLE_CHECK_INTERVAL_MS) return [];
    this.lastIdleCheck = now;
    const idle: Connection[] = [];
    for (const connection of connections) if (now - connection.lastActive > limitMs) idle.push(connection);
    return idle;
  }
}

/** Sets up an accepted client's socket for chat. */
export function prepareClientSocket(fd: number): void {
  try {
    posix.setsockopt(fd, 'TCP_NODELAY', true); // chat lines are small: no Nagle delay
    // A fixed kernel send buffer instead of autotuning up to megabytes: what a slow
    // reader does not take backs up into its Outbox, where the sendq limit sees it.
    posix.setsockopt(fd, 'SO_SNDBUF', CLIENT_SNDBUF_BYTES);
  } catch {
    // The client already left; its child will see it and say so.
  }
}

/** Turns a connection away without forking: one line saying why, then close. */
export function refuse(client: AcceptedSocket, message: string, log: Logger): void {
  log.warn(`refused ${client.address}:${client.port}: ${message}`);
  try {
    posix.send(client.fd, Buffer.from(`${message}\r\n`), { dontWait: true });
  } catch {
    // It left already.
  }
  posix.close(client.fd);
}

/** Each client costs the parent a descriptor: allow as many as the hard limit does. */
export function raiseFileLimit(log: Logger): void {
  const { soft, hard } = posix.getrlimit('RLIMIT_NOFILE');
  if (soft === hard) return;
  try {
    posix.setrlimit('RLIMIT_NOFILE', hard, hard);
    log.debug(`RLIMIT_NOFILE raised from ${soft} to ${hard}`);
  } catch (error) {
    log.warn(`could not raise RLIMIT_NOFILE from ${soft}: ${messageOf(error)}`);
  }
}

/**
 * --proxy-protocol in the parent: which connections come from a trusted proxy, and
 * those connections while their child reads the PROXY header. Such a connection is
 * held out of the chat (counted against --max-clients, but against no address: the
 * proxy's address is everyone's) until its child's `origin` record names the real
 * client; then it joins, or is refused, by that address like any other. The proxy's own
 * connection to the telnet port (its health check: a v2 LOCAL header, or a header that
 * names the connection itself) never joins: it is answered with one line and closed.
 *
 * It is a function of the accepted connection (its peer's address), whichever
 * listening socket took it. The parent never reads a client: the child does.
 */
import type { Accepted } from './socket-server.js';
import { inRange, type AddressRange } from '../protocol/address.js';
import { RecordType, type PipeRecord } from '../protocol/record.js';

/**
 * A telnet connection whose header names the very connection it came on: the proxy speaking
 * for itself, as HAProxy's health checks do with `send-proxy` (version 1 has no LOCAL). No
 * client can share the proxy's own address and port. On the web port a check is an HTTP
 * request, served like any.
 */
function namesItself({ client, proxy }: ProxiedClient): boolean {
  return client !== proxy && client.framing !== 'websocket' && client.address === proxy.address && client.port === proxy.port;
}

/** What a trusted proxy's health check of the telnet port is answered (a line; `tcp-check expect string` can look for it). */
export const HEALTH_CHECK_ANSWER = 'posix-chat is up.';

/** A held connection, resolved: the client as its proxy names it, and the proxy's own connection. */
export interface ProxiedClient {
  client: Accepted;
  proxy: Accepted;
}

/** What a held connection's record means for it. */
export type HeldOutcome =
  /** The header named the client: admit or refuse it by that address. */
  | ({ kind: 'arrived' } & ProxiedClient)
  /** Its child refused the header: the proxy's connection gets `reason` and is closed. */
  | { kind: 'refused'; proxy: Accepted; reason: string }
  /** The proxy's health check of the telnet port (a v2 LOCAL header, or one naming the connection itself): answered with one line and closed. */
  | { kind: 'check'; proxy: Accepted }
  /** It left before its header came: closed without a word. */
  | { kind: 'left'; proxy: Accepted }
  /** Not held (any more), or a record that has no place before the header. */
  | { kind: 'none'; unexpected: boolean };

export class ProxiedArrivals {
  /** Connections from a trusted proxy whose child is reading the header, by the child's pid. */
  private readonly held = new Map<number, Accepted>();

  /** @param trusted --trusted-proxy's ranges; null when --proxy-protocol is off. */
  constructor(private readonly trusted: readonly AddressRange[] | null) {}

  /** Whether `client` is a trusted proxy: its first bytes must be a PROXY header. */
  isProxy(client: { address: string }): boolean {
    if (this.trusted === null) return false;
    for (const range of this.trusted) if (inRange(range, client.address)) return true;
    return false;
  }

  /** Holds a trusted proxy's connection, served by child `pid`, until its header is read. */
  hold(pid: number, connection: Accepted): void {
    this.held.set(pid, connection);
  }

  has(pid: number): boolean {
    return this.held.has(pid);
  }

  get size(): number {
    return this.held.size;
  }

  /** The held connections' sockets, which children must close. */
  fds(): number[] {
    return [...this.held.values()].map((connection) => connection.fd);
  }

  /** Stops holding child `pid`'s connection and returns it. */
  take(pid: number): Accepted | undefined {
    const connection = this.held.get(pid);
    this.held.delete(pid);
    return connection;
  }

  /** Stops holding every connection and returns them. */
  takeAll(): Accepted[] {
    const all = [...this.held.values()];
    this.held.clear();
    return all;
  }

  /**
   * Child `pid`'s `origin` record (`ADDRESS PORT`, or empty when the header names no client):
   * the connection, no longer held, with the client's address. Undefined when `pid` is not held.
   */
  resolve(pid: number, origin: Buffer): ProxiedClient | undefined {
    const proxy = this.take(pid);
    if (proxy === undefined) return undefined;
    const [address, port] = origin.toString('latin1').split(' ');
    if (address === undefined || address === '' || port === undefined) return { client: proxy, proxy };
    return { client: { ...proxy, address, port: Number(port), family: address.includes(':') ? 'IPv6' : 'IPv4' }, proxy };
  }

  /** A record from the child of held connection `record.pid`: what it means, the connection no longer held unless `none`. */
  onRecord(record: PipeRecord): HeldOutcome {
    switch (record.type) {
      case RecordType.origin: {
        const arrival = this.resolve(record.pid, record.data);
        if (arrival === undefined) return { kind: 'none', unexpected: false };
        return namesItself(arrival) ? { kind: 'check', proxy: arrival.proxy } : { kind: 'arrived', ...arrival };
      }
      case RecordType.refused:
      case RecordType.check:
      case RecordType.disc: {
        const proxy = this.take(record.pid);
        if (proxy === undefined) return { kind: 'none', unexpected: false };
        if (record.type === RecordType.refused) return { kind: 'refused', proxy, reason: record.data.toString('latin1') };
        return { kind: record.type === RecordType.check ? 'check' : 'left', proxy };
      }
      default:
        return { kind: 'none', unexpected: true };
    }
  }
}

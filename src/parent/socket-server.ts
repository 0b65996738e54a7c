/**
 * The listening skeleton (the original's SocketServer): socket, SO_REUSEADDR,
 * bind, listen, a non-blocking accept, and the loop that hands each connection
 * to `onConnect` and otherwise calls `onIdle`. Subclasses fill in those hooks.
 * With a web port, a second listening socket in the same loop: the two take turns.
 */
import type { Framing } from '../contracts.js';
import * as posix from '../posix/index.js';
import type { AcceptedSocket, SocketAddress } from '../posix/index.js';
import { formatHostPort } from '../protocol/address.js';

export { formatHostPort };

export interface ListenOptions {
  host: string;
  port: number;
  /** Connections the kernel queues before accept() (the original used 5), on each port. */
  backlog: number;
  /** The web page's address and port (0: a free one), or null for none. */
  web: { host: string; port: number } | null;
}

/** An accepted connection, and what it speaks (which port it came to). */
export interface Accepted extends AcceptedSocket {
  framing: Framing;
}

/** A listen failure with the address in its message: `cannot listen on 127.0.0.1:4444: address already in use`. */
export class ListenError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    override readonly cause: NodeJS.ErrnoException,
  ) {
    super(`cannot listen on ${formatHostPort(host, port)}: ${describeErrno(cause)}`);
  }
}

function describeErrno(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EADDRINUSE':
      return 'address already in use';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'address not available on this machine';
    default:
      return error.message;
  }
}

/** A non-blocking listening socket on `host`:`port`; ListenError names the address when it cannot be had. */
export function openListener(host: string, port: number, backlog: number): number {
  const family = host.includes(':') ? 'IPv6' : 'IPv4';
  const fd = posix.socket(family);
  try {
    posix.setsockopt(fd, 'SO_REUSEADDR', true);
    // Dual stack: `::` takes IPv4 clients too, whatever the sysctl net.ipv6.bindv6only says
    // (accept() gives them as 1.2.3.4, not ::ffff:1.2.3.4).
    if (family === 'IPv6') posix.setsockopt(fd, 'IPV6_V6ONLY', false);
    posix.bind(fd, host, port);
    posix.listen(fd, backlog);
    posix.setNonBlocking(fd, true);
  } catch (error) {
    posix.close(fd);
    const errno = error as NodeJS.ErrnoException;
    throw errno.syscall === undefined ? error : new ListenError(host, port, errno);
  }
  return fd;
}

/** Connections taken in a row before the loop serves everyone else once. */
export const MAX_ACCEPTS_PER_TURN = 64;

/** A descriptor to hold in reserve (a socket: the addon opens nothing else), or -1 if none is left. */
function openReserve(): number {
  try {
    return posix.socket('IPv4');
  } catch {
    return -1;
  }
}

export abstract class SocketServer {
  /** The listening socket, or -1 before listen(). */
  protected listenFd = -1;
  /** The web port's listening socket, or -1 (none, or before listen()). */
  protected webFd = -1;
  /** Where we really listen (the real port when asked for port 0). */
  address: SocketAddress | null = null;
  /** Where the web page really is, or null. */
  webAddress: SocketAddress | null = null;
  /** Which port accept() looks at first this time: they take turns, so neither starves the other. */
  private webFirst = false;
  private running = false;
  /** A descriptor held back for when accept() fails with EMFILE, or -1. Children must close it. */
  protected reserveFd = -1;

  constructor(protected readonly listenOptions: ListenOptions) {}

  /** Creates, binds and listens on each port; the sockets are non-blocking so accept() can return at once. */
  listen(): SocketAddress {
    const { host, port, backlog, web } = this.listenOptions;
    const fd = openListener(host, port, backlog);
    if (web !== null) {
      try {
        this.webFd = openListener(web.host, web.port, backlog);
      } catch (error) {
        posix.close(fd);
        throw error;
      }
      this.webAddress = posix.getsockname(this.webFd);
    }
    this.listenFd = fd;
    this.address = posix.getsockname(fd);
    return this.address;
  }

  /**
   * The original's loop: take a connection if one waits, else let the subclass wait.
   * `onReady` runs once everything is set up, just before the loop starts.
   */
  run(onReady: () => void = () => {}): void {
    if (this.listenFd < 0) this.listen();
    this.beforeServerLoop();
    this.reserveFd = openReserve();
    onReady();
    this.running = true;
    let accepted = 0;
    while (this.isRunning()) {
      // A storm of connections must not starve the clients already here: after
      // MAX_ACCEPTS_PER_TURN the loop goes round (without waiting) before it takes more.
      const client = accepted < MAX_ACCEPTS_PER_TURN ? this.acceptOne() : null;
      if (client === null) {
        this.onIdle(accepted >= MAX_ACCEPTS_PER_TURN);
        accepted = 0;
        continue;
      }
      accepted++;
      this.onConnect(client);
    }
    this.afterServerLoop();
    posix.close(this.listenFd);
    this.listenFd = -1;
    if (this.webFd >= 0) posix.close(this.webFd);
    this.webFd = -1;
    if (this.reserveFd >= 0) posix.close(this.reserveFd);
    this.reserveFd = -1;
  }

  /** False once stop() was called (by any step of the current turn). */
  private isRunning(): boolean {
    return this.running;
  }

  /** Ends the loop after the current turn. */
  stop(): void {
    this.running = false;
  }

  /** The next connection waiting on either port, or null. */
  private acceptOne(): Accepted | null {
    if (this.webFd < 0) return this.acceptOn(this.listenFd, 'telnet');
    this.webFirst = !this.webFirst;
    const first: Framing = this.webFirst ? 'websocket' : 'telnet';
    const second: Framing = this.webFirst ? 'telnet' : 'websocket';
    return this.acceptOn(this.portFd(first), first) ?? this.acceptOn(this.portFd(second), second);
  }

  private portFd(framing: Framing): number {
    return framing === 'websocket' ? this.webFd : this.listenFd;
  }

  private acceptOn(fd: number, framing: Framing): Accepted | null {
    try {
      const client = posix.accept(fd);
      return client === null ? null : { ...client, framing };
    } catch (error) {
      const errno = error as NodeJS.ErrnoException;
      // Out of descriptors: the connection would wait in the queue, unanswered, and wake
      // the loop again at once. Give up the reserve descriptor to take it and say why.
      if ((errno.code === 'EMFILE' || errno.code === 'ENFILE') && this.refuseWithReserve(fd, framing)) return null;
      // ENOBUFS and the like: the connection stays queued; serve the others meanwhile.
      this.onAcceptError(errno);
      return null;
    }
  }

  /**
   * Closes the reserve descriptor, accepts the waiting connection with it, tells it
   * the server is full, and opens the reserve again. False when there is no reserve.
   */
  private refuseWithReserve(fd: number, framing: Framing): boolean {
    if (this.reserveFd < 0) return false;
    posix.close(this.reserveFd);
    this.reserveFd = -1;
    try {
      const client = posix.accept(fd);
      if (client !== null) this.onRefusedForDescriptors({ ...client, framing });
    } catch (error) {
      this.onAcceptError(error as NodeJS.ErrnoException);
    } finally {
      this.reserveFd = openReserve();
    }
    return true;
  }

  protected abstract beforeServerLoop(): void;
  protected abstract onConnect(client: Accepted): void;
  /** One turn without a connection to take; `more`: connections are waiting, do not sleep. */
  protected abstract onIdle(more: boolean): void;
  protected abstract onAcceptError(error: NodeJS.ErrnoException): void;
  /** A connection taken with the reserve descriptor while out of them: say so and close it. */
  protected abstract onRefusedForDescriptors(client: Accepted): void;
  protected abstract afterServerLoop(): void;
}

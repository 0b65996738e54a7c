/**
 * Sockets: socket(2), bind, listen, accept, recv (to peek), send/sendmsg with an iovec, socketpair(2),
 * descriptor passing (SCM_RIGHTS) and shutdown. See native/socket.cc and native/unix.cc.
 */
import { checkBuffer, checkBufferList, checkFd, checkInt32, checkNonEmptyBuffer, checkWhole, constants, native, type AcceptedSocket, type ReceivedMessage, type SocketAddress, type SocketOption } from './binding.js';

/** `socket(2)`: a new close-on-exec TCP socket of the given family. */
export function socket(family: 'IPv4' | 'IPv6'): number {
  return native.socket(family);
}

/**
 * `setsockopt(2)`: SO_REUSEADDR, TCP_NODELAY, SO_SNDBUF, SO_RCVBUF, SO_RCVLOWAT and IPV6_V6ONLY
 * take an integer (or boolean); SO_RCVTIMEO takes microseconds, 0 for none: a blocking read that
 * times out with nothing returns null (EAGAIN). (Linux honours SO_RCVLOWAT on a blocking
 * TCP read; a Unix-domain stream read returns what is there.)
 */
export function setsockopt(fd: number, name: SocketOption, value: number | boolean): void {
  checkFd(fd);
  const number = typeof value === 'boolean' ? Number(value) : value;
  if (name === 'SO_RCVTIMEO') checkWhole(number, 'value', 0, 2 ** 31 - 1);
  else checkInt32(number, 'value');
  native.setsockopt(fd, name, number);
}

/**
 * `bind(2)` to a numeric IPv4/IPv6 address; port 0 lets the kernel choose. @throws `EADDRINUSE`, `EACCES`, ...;
 * TypeError for a host name, or a port that is not a whole number >= 0; RangeError for a port above 65535.
 */
export function bind(fd: number, address: string, port: number): void {
  checkFd(fd);
  checkWhole(port, 'port', 0, 65535);
  native.bind(fd, address, port);
}

/** `listen(2)` with the given backlog (connections the kernel queues before `accept()`). */
export function listen(fd: number, backlog: number): void {
  checkFd(fd);
  checkWhole(backlog, 'backlog', 0, 2 ** 31 - 1);
  native.listen(fd, backlog);
}

/** `getsockname(2)`: the socket's own address, e.g. the real port after binding port 0. */
export function getsockname(fd: number): SocketAddress {
  checkFd(fd);
  return native.getsockname(fd);
}

/**
 * `accept4(2)`: takes a waiting connection. Returns its descriptor (blocking, close-on-exec) and the
 * **peer's** address, or null when the listening socket is non-blocking and nobody is waiting.
 */
export function accept(fd: number): AcceptedSocket | null {
  checkFd(fd);
  return native.accept(fd);
}

/** Flags for `recv()`. */
export interface RecvOptions {
  /** `MSG_PEEK`: look at the bytes without taking them; the next read returns them again. */
  peek?: boolean;
}

/**
 * `recv(2)` into `buffer[offset, offset + length)`: the bytes received (0: end of stream), or
 * null when nothing came (a non-blocking socket, or SO_RCVTIMEO ran out with nothing). A
 * blocking call waits for SO_RCVLOWAT bytes, or until SO_RCVTIMEO runs out with fewer.
 * @throws `ECONNRESET` and the like when the peer has gone.
 */
export function recv(fd: number, buffer: Uint8Array, offset = 0, length = buffer.length - offset, options: RecvOptions = {}): number | null {
  checkFd(fd);
  checkBuffer(buffer);
  checkWhole(offset, 'offset', 0, buffer.length);
  checkWhole(length, 'length', 0, buffer.length - offset);
  const flags = options.peek === true ? constants.MSG_PEEK : 0;
  return native.recv(fd, buffer, offset, length, flags);
}

/** Flags for `send()`. */
export interface SendOptions {
  /** `MSG_DONTWAIT`: return null instead of blocking when the socket's buffer is full. */
  dontWait?: boolean;
}

/**
 * `send(2)` with `MSG_NOSIGNAL` (a vanished peer gives `EPIPE`, never SIGPIPE).
 * Returns the bytes sent (possibly fewer than asked), or null when `dontWait` finds the buffer full.
 * @throws `EPIPE`, `ECONNRESET` when the peer has gone.
 */
export function send(fd: number, buffer: Uint8Array, options: SendOptions = {}): number | null {
  checkFd(fd);
  checkBuffer(buffer);
  const flags = options.dontWait === true ? constants.MSG_DONTWAIT : 0;
  return native.send(fd, buffer, 0, buffer.length, flags);
}

/**
 * `sendmsg(2)` with one iovec per buffer (the first IOV_MAX of them): several buffers in one
 * call without copying them together. `MSG_NOSIGNAL` always. Returns the bytes sent (possibly
 * fewer than all), or null when `dontWait` finds the socket's buffer full.
 * @throws `EPIPE`, `ECONNRESET` when the peer has gone; TypeError, before anything is sent,
 *   when `buffers` is not an array or an element (`buffers[i]`) is not a Buffer or Uint8Array.
 */
export function sendv(fd: number, buffers: readonly Uint8Array[], options: SendOptions = {}): number | null {
  checkFd(fd);
  checkBufferList(buffers);
  const flags = options.dontWait === true ? constants.MSG_DONTWAIT : 0;
  return native.sendv(fd, buffers, flags);
}

/**
 * `socketpair(2)`: two connected, close-on-exec `AF_UNIX` `SOCK_SEQPACKET` sockets: each send
 * arrives as one whole message, in order. For a parent and a process it forked to talk over.
 * Given `into` (an Int32Array of at least two), the pair is written there and `into` returned:
 * nothing is allocated, for a loop that must not (the zygote's).
 */
export function socketpair(): [number, number];
export function socketpair(into: Int32Array): Int32Array;
export function socketpair(into?: Int32Array): [number, number] | Int32Array {
  return into === undefined ? native.socketpair() : native.socketpair(into);
}

/**
 * `sendmsg(2)` with `SCM_RIGHTS`: sends `buffer` (at least one byte) as one message that also
 * carries a copy of descriptor `passFd`; the receiver gets it as a new descriptor of its own.
 * Returns the bytes sent, or null when a non-blocking socket is full.
 * @throws `EPIPE` or `ECONNRESET` when the other end has closed, `EBADF`.
 */
export function sendFd(socket: number, passFd: number, buffer: Uint8Array): number | null {
  checkFd(socket, 'socket');
  checkFd(passFd, 'passFd');
  checkNonEmptyBuffer(buffer);
  return native.sendFd(socket, passFd, buffer);
}

/**
 * `recvmsg(2)`: one message into `buffer` (at least one byte), and the descriptor it carried
 * (opened close-on-exec), if any. `bytes` is 0 when the other end has closed; null when a
 * non-blocking socket has nothing. A message longer than `buffer` is cut, its rest lost: the
 * result then has `truncated: true`.
 *
 * @throws Error with code `ERR_POSIX_CTRUNC` (syscall 'recvmsg', `bytes` the data received)
 *   when the message carried more descriptors than the one it has room for (MSG_CTRUNC: the
 *   kernel dropped some, e.g. because this process is at its descriptor limit; or two that
 *   fitted): every descriptor that arrived is closed first, so none leaks. The message is
 *   consumed; treat it as a broken peer (or a lost descriptor under EMFILE).
 */
export function recvFd(socket: number, buffer: Uint8Array): ReceivedMessage | null {
  checkFd(socket, 'socket');
  checkNonEmptyBuffer(buffer);
  return native.recvFd(socket, buffer);
}

/** `shutdown(2)`: ends one or both directions of a connection for every process holding it. */
export function shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
  checkFd(fd);
  native.shutdown(fd, how);
}

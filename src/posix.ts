/**
 * The typed face of the native addon (native/*.cc): one function per POSIX
 * call, with the arguments checked here so the C++ stays a thin wrapper.
 *
 * Every failing call throws an Error shaped like Node's own system errors:
 * `code` ('ESRCH'), `errno` (negative, as in `fs` and `net`), `syscall` ('kill')
 * and a message such as `ESRCH: No such process, kill`.
 *
 * @module posix-chat/posix
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** A signal by name ('SIGUSR1') or number (10). */
export type Signal = NodeJS.Signals | number;

/** What `sigtimedwait()` tells about the signal it took. */
export interface SignalInfo {
  /** The signal number. */
  signo: number;
  /** The sender's pid (for `kill()`; for an `F_SETSIG` I/O signal this field holds the poll band). */
  pid: number;
  /** The sender's real user id. */
  uid: number;
  /** `si_code`: 0 (SI_USER) for `kill()`, -6 (SI_TKILL) for `tgkill()`, 1 (POLL_IN) for I/O readiness. */
  code: number;
  /** For an I/O signal set up with `F_SETSIG`: the descriptor that became ready; otherwise null. */
  fd: number | null;
}

/** What `waitpid()` tells about a child that ended. */
export interface WaitResult {
  pid: number;
  /** Exit status when the child called `exit`/`_exit`, else null. */
  code: number | null;
  /** The signal that terminated the child, else null. */
  signal: number | null;
}

/** The resource limits the addon reads and sets. */
export type Resource = 'RLIMIT_NOFILE' | 'RLIMIT_NPROC';

/** A soft and a hard limit; -1 means unlimited. */
export interface ResourceLimit {
  soft: number;
  hard: number;
}

/** A socket address. */
export interface SocketAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** A connection returned by `accept()`: its descriptor and the peer's address. */
export interface AcceptedSocket extends SocketAddress {
  fd: number;
}

/** One message from `recvFd()`: its length (0: the peer closed) and the descriptor it carried, if any. */
export interface ReceivedMessage {
  bytes: number;
  fd: number | null;
}

/** The raw binding, exactly as native/addon.cc exports it. */
interface NativeBinding {
  fork(): number;
  forkSibling(): number;
  setProcessName(name: string): void;
  execve(path: string, argv: readonly string[], envp: readonly string[]): never;
  kill(pid: number, signal: Signal): void;
  waitpid(pid: number, flags: number): WaitResult | null;
  _exit(code: number): never;
  getpid(): number;
  getppid(): number;
  setParentDeathSignal(signal: Signal): void;
  getrlimit(resource: Resource): ResourceLimit;
  setrlimit(resource: Resource, soft: number, hard: number): void;
  sigprocmask(how: 'block' | 'unblock' | 'setmask', signals: Signal[]): number[];
  sigaction(signal: Signal, action: 'default' | 'ignore' | 'forward'): void;
  sigtimedwait(signals: Signal[], timeoutSeconds: number): SignalInfo | null;
  pipe(): [number, number];
  read(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null;
  write(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null;
  close(fd: number): void;
  dup2(oldFd: number, newFd: number): number;
  fcntl(fd: number, cmd: FcntlCommand, arg?: number): number;
  socket(family: 'IPv4' | 'IPv6'): number;
  setsockopt(fd: number, name: SocketOption, value: number): void;
  bind(fd: number, address: string, port: number): void;
  listen(fd: number, backlog: number): void;
  getsockname(fd: number): SocketAddress;
  accept(fd: number): AcceptedSocket | null;
  send(fd: number, buffer: Uint8Array, offset: number, length: number, flags: number): number | null;
  sendv(fd: number, buffers: readonly Uint8Array[], flags: number): number | null;
  shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR'): void;
  socketpair(): [number, number];
  sendFd(fd: number, passFd: number, buffer: Uint8Array): number | null;
  recvFd(fd: number, buffer: Uint8Array): ReceivedMessage | null;
  constants: {
    WNOHANG: number;
    O_NONBLOCK: number;
    O_ASYNC: number;
    FD_CLOEXEC: number;
    MSG_DONTWAIT: number;
    PIPE_BUF: number;
  };
}

/** The `fcntl()` commands the addon accepts. */
export type FcntlCommand = 'F_GETFL' | 'F_SETFL' | 'F_GETFD' | 'F_SETFD' | 'F_SETOWN' | 'F_GETOWN' | 'F_SETSIG' | 'F_GETSIG';

/** The integer socket options the addon accepts. */
export type SocketOption = 'SO_REUSEADDR' | 'TCP_NODELAY' | 'SO_SNDBUF' | 'SO_RCVBUF' | 'SO_RCVLOWAT' | 'SO_RCVTIMEO';

/** Finds the compiled addon, or fails naming every place it looked. */
function loadBinding(): NativeBinding {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const candidates = ['Release', 'Debug'].map((kind) => path.join(here, '..', 'build', kind, 'posix.node'));
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return require(candidate) as NativeBinding;
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `posix-chat: the native addon is not built (run \`npm install\` or \`npm run install\`; Linux only). Looked in:\n  ${failures.join('\n  ')}`,
  );
}

const native = loadBinding();

/** Numbers from the C headers that callers combine into flags. */
export const constants = Object.freeze({ ...native.constants });

/** `PIPE_BUF`: the largest pipe write the kernel guarantees not to interleave with others (4096 on Linux). */
export const PIPE_BUF = native.constants.PIPE_BUF;

/** Signal number for a name or number; throws a TypeError for an unknown name. */
export function signalNumber(signal: Signal): number {
  if (typeof signal === 'number') return signal;
  const signo = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (signo === undefined) throw new TypeError(`unknown signal: ${String(signal)}`);
  return signo;
}

/** Signal name for a number ('SIGUSR1' for 10), or the number as text when it has none. */
export function signalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name;
  return String(signo);
}

function checkFd(fd: number, what = 'fd'): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`${what} must be a non-negative integer, got ${String(fd)}`);
}

function checkInteger(value: number, what: string): void {
  if (!Number.isInteger(value)) throw new TypeError(`${what} must be an integer, got ${String(value)}`);
}

// ---------------------------------------------------------------- processes

/** True when this process was started with `node --single-threaded` (FORK-IN-NODE.md fact 10). */
export function isSingleThreaded(): boolean {
  return process.execArgv.includes('--single-threaded');
}

/**
 * `fork(2)`: duplicates this process. Returns the child's pid in the parent and 0 in the child.
 *
 * In the same native call, first clears V8's `MADV_DONTFORK` from every mapping (else the child
 * has no heap and crashes at its first allocation), and in the child, before returning, puts every
 * signal the parent handles or has blocked back to its default action with an empty mask.
 *
 * The child has only the calling thread: it must run no event-loop work (timers, promises,
 * `net`, async `fs`, `console.log`), do its I/O with this module's synchronous calls, and leave
 * with `_exit()`. In the child, `process.pid` still holds the parent's pid: use `getpid()`.
 *
 * @throws Error with code `ERR_POSIX_NOT_SINGLE_THREADED` when node was not started with
 *   `--single-threaded` (a child would hang for ever in its first garbage collection).
 * @throws `EAGAIN` (process limit reached) or `ENOMEM`.
 */
export function fork(): number {
  requireSingleThreaded('fork');
  return native.fork();
}

/** Throws ERR_POSIX_NOT_SINGLE_THREADED, saying why, unless node runs with --single-threaded. */
function requireSingleThreaded(call: string): void {
  if (isSingleThreaded()) return;
  const error = new Error(
    `${call}() needs node to run with --single-threaded: without it a forked child hangs for ever in its first ` +
      `garbage collection, waiting on V8 worker threads that ${call}() did not copy. ` +
      'Start with `node --single-threaded ...` (npm start and the posix-chat bin do).',
  ) as NodeJS.ErrnoException;
  error.code = 'ERR_POSIX_NOT_SINGLE_THREADED';
  throw error;
}

/**
 * `clone(2)` with `CLONE_PARENT`: `fork()` (with the same preparation, see there), except that
 * the new process is a child of this process's *parent*: that parent gets its SIGCHLD, reaps it
 * with `waitpid()`, and is the parent its parent-death signal watches. A helper forked once can so
 * make children for its parent (a "zygote"). Returns the new pid, or 0 in the new process.
 * @throws `ERR_POSIX_NOT_SINGLE_THREADED` (as fork()), `EAGAIN`, `ENOMEM`.
 */
export function forkSibling(): number {
  requireSingleThreaded('forkSibling');
  return native.forkSibling();
}

/** `prctl(PR_SET_NAME)`: this process's name in `ps`, `top` and `/proc/PID/comm` (cut to 15 bytes). */
export function setProcessName(name: string): void {
  native.setProcessName(name);
}

/**
 * `execve(2)`: replaces this process's program with `path`, run with `argv` (argv[0] first) and
 * `env` (`NAME=value` strings). Returns only by throwing. Descriptors opened with close-on-exec
 * (every one this module opens) close; give the new program one by `dup2()`-ing it to a fixed
 * number first. Signal dispositions go back to default; the signal mask is kept.
 *
 * After `fork()`, this is how a child becomes another program without running an event loop.
 * @throws `ENOENT`, `EACCES`, `ENOEXEC`, `E2BIG`...
 */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  return native.execve(path, argv, env);
}

/**
 * `kill(2)`: sends `signal` (default SIGTERM) to `pid` (or to a process group when negative).
 * @throws `ESRCH` when no such process exists, `EPERM` when not allowed.
 */
export function kill(pid: number, signal: Signal = 'SIGTERM'): void {
  checkInteger(pid, 'pid');
  native.kill(pid, signalNumber(signal));
}

/** `waitpid` flag: return at once (with null) when no child has ended. */
export const WNOHANG = native.constants.WNOHANG;

/**
 * `waitpid(2)`: waits for a child (`pid`, or -1 for any) to end and reaps it.
 * Returns `{pid, code, signal}`, or null when `flags` holds `WNOHANG` and no child has ended yet.
 * @throws `ECHILD` when there is no such child (or no child at all).
 */
export function waitpid(pid: number, flags = 0): WaitResult | null {
  checkInteger(pid, 'pid');
  checkInteger(flags, 'flags');
  return native.waitpid(pid, flags);
}

/**
 * `_exit(2)`: ends this process at once, without running exit handlers or the event loop.
 * A forked child leaves this way: `process.exit()` would run the parent's exit handlers.
 */
export function _exit(code = 0): never {
  checkInteger(code, 'code');
  return native._exit(code);
}

/** `getpid(2)`: this process's pid, read afresh (unlike `process.pid`, which a forked child inherits). */
export function getpid(): number {
  return native.getpid();
}

/** `getppid(2)`: the parent's pid (1 or a subreaper's once the parent has died). */
export function getppid(): number {
  return native.getppid();
}

/**
 * `prctl(PR_SET_PDEATHSIG)`: asks the kernel to send `signal` to this process when its parent dies,
 * however it dies (SIGKILL included). Cleared by `fork()` in the new child; call it in the child.
 */
export function setParentDeathSignal(signal: Signal): void {
  native.setParentDeathSignal(signalNumber(signal));
}

/** `getrlimit(2)`: the soft and hard limits of `resource` (-1: unlimited). */
export function getrlimit(resource: Resource): ResourceLimit {
  return native.getrlimit(resource);
}

/**
 * `setrlimit(2)`: sets the soft and hard limits of `resource` (-1: unlimited).
 * @throws `EPERM` when raising the hard limit without privilege, `EINVAL` when soft > hard.
 */
export function setrlimit(resource: Resource, soft: number, hard: number): void {
  checkInteger(soft, 'soft');
  checkInteger(hard, 'hard');
  native.setrlimit(resource, soft, hard);
}

// ------------------------------------------------------------------ signals

/**
 * `pthread_sigmask(2)` for the calling thread: 'block' adds `signals` to the mask, 'unblock'
 * removes them, 'setmask' replaces the mask. Returns the previous mask as signal numbers.
 * A blocked signal stays pending until `sigtimedwait()` takes it.
 */
export function sigprocmask(how: 'block' | 'unblock' | 'setmask', signals: readonly Signal[]): number[] {
  return native.sigprocmask(how, signals.map(signalNumber));
}

/**
 * `sigaction(2)`: sets what `signal` does: 'default', 'ignore', or 'forward'.
 *
 * 'forward' installs a handler that re-sends the signal with `tgkill()` to the thread that called
 * this (Node's other threads do not block SIGTERM; one of them could otherwise take it and kill the
 * process). That thread must block the signal first and collect it with `sigtimedwait()`.
 * Forwarding SIGUSR1 also replaces Node's own handler, which would start the inspector.
 */
export function sigaction(signal: Signal, action: 'default' | 'ignore' | 'forward'): void {
  if (action !== 'default' && action !== 'ignore' && action !== 'forward') {
    throw new TypeError(`action must be 'default', 'ignore' or 'forward', got ${String(action)}`);
  }
  native.sigaction(signalNumber(signal), action);
}

/**
 * `sigtimedwait(2)`: waits up to `timeoutSeconds` for one of `signals` (which must be blocked in
 * this thread) and takes it. Returns what is known of it, or null on timeout. An interruption
 * (EINTR) is retried with the time left.
 */
export function sigtimedwait(signals: readonly Signal[], timeoutSeconds: number): SignalInfo | null {
  if (!(timeoutSeconds >= 0)) throw new TypeError(`timeoutSeconds must be >= 0, got ${String(timeoutSeconds)}`);
  return native.sigtimedwait(signals.map(signalNumber), timeoutSeconds);
}

// -------------------------------------------------------------- descriptors

/** `pipe2(2)`: a new anonymous pipe, `[readFd, writeFd]`, both close-on-exec. */
export function pipe(): [number, number] {
  return native.pipe();
}

/**
 * `read(2)` into `buffer` from `offset` (default 0), at most `length` bytes (default: to the end).
 * Returns the bytes read, 0 at end of file, or null when a non-blocking descriptor has nothing.
 * @throws `EBADF`, `ECONNRESET`, ...
 */
export function read(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  checkFd(fd);
  return native.read(fd, buffer, offset, length);
}

/**
 * `write(2)` from `buffer`. Returns the bytes written, or null when a non-blocking descriptor is full.
 * A write of at most `PIPE_BUF` bytes to a pipe is atomic.
 * @throws `EBADF`, `EPIPE` (no reader; SIGPIPE is ignored under Node), ...
 */
export function write(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  checkFd(fd);
  return native.write(fd, buffer, offset, length);
}

/** `close(2)`. @throws `EBADF` when `fd` is not open. */
export function close(fd: number): void {
  checkFd(fd);
  native.close(fd);
}

/**
 * `dup2(2)`: makes `newFd` a copy of `oldFd` (closing whatever `newFd` was), without close-on-exec.
 * Returns `newFd`. @throws `EBADF`.
 */
export function dup2(oldFd: number, newFd: number): number {
  checkFd(oldFd);
  checkFd(newFd);
  return native.dup2(oldFd, newFd);
}

/**
 * `fcntl(2)` with an integer argument: `F_GETFL`/`F_SETFL` (O_NONBLOCK, O_ASYNC), `F_GETFD`/`F_SETFD`,
 * `F_SETOWN`/`F_GETOWN` (who gets the I/O signal), `F_SETSIG`/`F_GETSIG` (which signal). Returns its result.
 */
export function fcntl(fd: number, cmd: FcntlCommand, arg = 0): number {
  checkFd(fd);
  checkInteger(arg, 'arg');
  return native.fcntl(fd, cmd, arg);
}

/**
 * Turns `FD_CLOEXEC` on or off with `fcntl(F_GETFD/F_SETFD)`. Node opens even its own
 * stdin, stdout and stderr close-on-exec: a program started by `execve()` that should
 * write to them needs this turned off first.
 */
export function setCloseOnExec(fd: number, on: boolean): void {
  const flags = fcntl(fd, 'F_GETFD');
  const wanted = on ? flags | native.constants.FD_CLOEXEC : flags & ~native.constants.FD_CLOEXEC;
  if (wanted !== flags) fcntl(fd, 'F_SETFD', wanted);
}

/** Turns `O_NONBLOCK` on or off with `fcntl(F_GETFL/F_SETFL)`. */
export function setNonBlocking(fd: number, on: boolean): void {
  const flags = fcntl(fd, 'F_GETFL');
  const next = on ? flags | constants.O_NONBLOCK : flags & ~constants.O_NONBLOCK;
  if (next !== flags) fcntl(fd, 'F_SETFL', next);
}

/**
 * Makes `fd` queue `signal` to this process whenever it becomes readable, e.g. a listening socket
 * when a connection arrives (`F_SETOWN`, `F_SETSIG`, `O_ASYNC`). The signal's info then carries
 * `code` POLL_IN and `fd`, so a `sigtimedwait()` for it returns as soon as a client connects.
 */
export function setSignalOnReadable(fd: number, signal: Signal): void {
  fcntl(fd, 'F_SETOWN', getpid());
  fcntl(fd, 'F_SETSIG', signalNumber(signal));
  fcntl(fd, 'F_SETFL', fcntl(fd, 'F_GETFL') | constants.O_ASYNC | constants.O_NONBLOCK);
}

// ------------------------------------------------------------------ sockets

/** `socket(2)`: a new close-on-exec TCP socket of the given family. */
export function socket(family: 'IPv4' | 'IPv6'): number {
  return native.socket(family);
}

/**
 * `setsockopt(2)`: SO_REUSEADDR, TCP_NODELAY, SO_SNDBUF, SO_RCVBUF and SO_RCVLOWAT take an
 * integer (or boolean); SO_RCVTIMEO takes microseconds, 0 for none: a blocking read that
 * times out with nothing returns null (EAGAIN). (Linux honours SO_RCVLOWAT on a blocking
 * TCP read; a Unix-domain stream read returns what is there.)
 */
export function setsockopt(fd: number, name: SocketOption, value: number | boolean): void {
  checkFd(fd);
  native.setsockopt(fd, name, typeof value === 'boolean' ? Number(value) : value);
}

/** `bind(2)` to a numeric IPv4/IPv6 address; port 0 lets the kernel choose. @throws `EADDRINUSE`, `EACCES`, ... */
export function bind(fd: number, address: string, port: number): void {
  checkFd(fd);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be 0-65535, got ${String(port)}`);
  native.bind(fd, address, port);
}

/** `listen(2)` with the given backlog (connections the kernel queues before `accept()`). */
export function listen(fd: number, backlog: number): void {
  checkFd(fd);
  checkInteger(backlog, 'backlog');
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
  const flags = options.dontWait === true ? constants.MSG_DONTWAIT : 0;
  return native.send(fd, buffer, 0, buffer.length, flags);
}

/**
 * `sendmsg(2)` with one iovec per buffer (the first IOV_MAX of them): several buffers in one
 * call without copying them together. `MSG_NOSIGNAL` always. Returns the bytes sent (possibly
 * fewer than all), or null when `dontWait` finds the socket's buffer full.
 * @throws `EPIPE`, `ECONNRESET` when the peer has gone.
 */
export function sendv(fd: number, buffers: readonly Uint8Array[], options: SendOptions = {}): number | null {
  checkFd(fd);
  const flags = options.dontWait === true ? constants.MSG_DONTWAIT : 0;
  return native.sendv(fd, buffers, flags);
}

/**
 * `socketpair(2)`: two connected, close-on-exec `AF_UNIX` `SOCK_SEQPACKET` sockets: each send
 * arrives as one whole message, in order. For a parent and a process it forked to talk over.
 */
export function socketpair(): [number, number] {
  return native.socketpair();
}

/**
 * `sendmsg(2)` with `SCM_RIGHTS`: sends `buffer` (at least one byte) as one message that also
 * carries a copy of descriptor `passFd`; the receiver gets it as a new descriptor of its own.
 * Returns the bytes sent, or null when a non-blocking socket is full.
 * @throws `EPIPE` or `ECONNRESET` when the other end has closed, `EBADF`.
 */
export function sendFd(socket: number, passFd: number, buffer: Uint8Array): number | null {
  checkFd(socket);
  checkFd(passFd);
  return native.sendFd(socket, passFd, buffer);
}

/**
 * `recvmsg(2)`: one message into `buffer`, and the descriptor it carried (opened close-on-exec),
 * if any. `bytes` is 0 when the other end has closed; null when a non-blocking socket has nothing.
 */
export function recvFd(socket: number, buffer: Uint8Array): ReceivedMessage | null {
  checkFd(socket);
  return native.recvFd(socket, buffer);
}

/** `shutdown(2)`: ends one or both directions of a connection for every process holding it. */
export function shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR' = 'SHUT_RDWR'): void {
  checkFd(fd);
  native.shutdown(fd, how);
}

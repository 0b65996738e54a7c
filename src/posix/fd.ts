/**
 * Descriptors and pipes: pipe2(2), read(2), write(2), close(2), dup2(2), fcntl(2),
 * and the F_SETSIG wake-up. See native/fd.cc.
 */
import { checkBufferRange, checkFd, checkInt32, constants, native, signalNumber, type FcntlCommand, type Signal } from './binding.js';

/** `pipe2(2)`: a new anonymous pipe, `[readFd, writeFd]`, both close-on-exec. */
export function pipe(): [number, number] {
  return native.pipe();
}

/**
 * `read(2)` into `buffer` from `offset` (default 0), at most `length` bytes (default: to the end).
 * Returns the bytes read, 0 at end of file, or null when a non-blocking descriptor has nothing.
 * @throws TypeError or RangeError for a bad argument (see binding.ts): `fd` a whole number from
 *   0 to 2**31 - 1, `offset` and `length` whole numbers within the buffer.
 * @throws `EBADF`, `ECONNRESET`, ...
 */
export function read(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  checkFd(fd);
  checkBufferRange(buffer, offset, length);
  return native.read(fd, buffer, offset, length);
}

/**
 * `write(2)` from `buffer`. Returns the bytes written, or null when a non-blocking descriptor is full.
 * A write of at most `PIPE_BUF` bytes to a pipe is atomic.
 * @throws TypeError or RangeError for a bad argument, as `read()`.
 * @throws `EBADF`, `EPIPE` (no reader; SIGPIPE is ignored under Node), ...
 */
export function write(fd: number, buffer: Uint8Array, offset?: number, length?: number): number | null {
  checkFd(fd);
  checkBufferRange(buffer, offset, length);
  return native.write(fd, buffer, offset, length);
}

/**
 * `close(2)`. @throws `EBADF` when `fd` is not open; TypeError or RangeError when `fd` is not a
 * whole number from 0 to 2**31 - 1 (so `close(2**32 + 1)` never closes fd 1).
 */
export function close(fd: number): void {
  checkFd(fd);
  native.close(fd);
}

/**
 * `dup2(2)`: makes `newFd` a copy of `oldFd` (closing whatever `newFd` was), without close-on-exec.
 * Returns `newFd`. @throws `EBADF`.
 */
export function dup2(oldFd: number, newFd: number): number {
  checkFd(oldFd, 'oldFd');
  checkFd(newFd, 'newFd');
  return native.dup2(oldFd, newFd);
}

/**
 * `fcntl(2)` with an integer argument: `F_GETFL`/`F_SETFL` (O_NONBLOCK, O_ASYNC), `F_GETFD`/`F_SETFD`,
 * `F_SETOWN`/`F_GETOWN` (who gets the I/O signal), `F_SETSIG`/`F_GETSIG` (which signal). Returns its result.
 */
export function fcntl(fd: number, cmd: FcntlCommand, arg = 0): number {
  checkFd(fd);
  checkInt32(arg, 'arg');
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
  fcntl(fd, 'F_SETOWN', native.getpid());
  fcntl(fd, 'F_SETSIG', signalNumber(signal));
  fcntl(fd, 'F_SETFL', fcntl(fd, 'F_GETFL') | constants.O_ASYNC | constants.O_NONBLOCK);
}

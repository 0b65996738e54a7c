/**
 * The one module that loads the native addon (build/Release/posix.node), and the
 * types of what it exports: every other module sees typed functions, never `any`.
 * Also the small argument checks and signal-name helpers the wrappers share.
 * See docs/api.md for each call.
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
  /** Bytes stored in the buffer (at most its length). */
  bytes: number;
  fd: number | null;
  /** Present (true) when the message was longer than the buffer: its rest is lost (MSG_TRUNC). */
  truncated?: true;
}

/** A user database entry (`struct passwd`), as `getpwnam()` returns it. */
export interface UserEntry {
  name: string;
  uid: number;
  gid: number;
  /** The home directory. */
  dir: string;
}

/** The raw binding, exactly as native/addon.cc exports it. */
interface NativeBinding {
  // Properties, not methods: process.ts exports them as they are (forkCall() there).
  fork: (child?: (...args: never[]) => never, ...args: unknown[]) => number;
  forkSibling: (child?: (...args: never[]) => never, ...args: unknown[]) => number;
  setProcessName(name: string): void;
  execve(path: string, argv: readonly string[], envp: readonly string[]): never;
  kill(pid: number, signal: Signal): void;
  waitpid(pid: number, flags: number): WaitResult | null;
  _exit(code: number): never;
  getpid(): number;
  getppid(): number;
  monotonicMicros(): number;
  setParentDeathSignal(signal: Signal): void;
  setDumpable(dumpable: boolean): void;
  setSchedulerSlice(ns: number): number;
  getpwnam(name: string): UserEntry | null;
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
  recv(fd: number, buffer: Uint8Array, offset: number, length: number, flags: number): number | null;
  send(fd: number, buffer: Uint8Array, offset: number, length: number, flags: number): number | null;
  sendv(fd: number, buffers: readonly Uint8Array[], flags: number): number | null;
  shutdown(fd: number, how: 'SHUT_RD' | 'SHUT_WR' | 'SHUT_RDWR'): void;
  socketpair(): [number, number];
  socketpair(into: Int32Array): Int32Array;
  sendFd(fd: number, passFd: number, buffer: Uint8Array): number | null;
  recvFd(fd: number, buffer: Uint8Array): ReceivedMessage | null;
  constants: {
    WNOHANG: number;
    O_NONBLOCK: number;
    O_ASYNC: number;
    FD_CLOEXEC: number;
    MSG_DONTWAIT: number;
    MSG_PEEK: number;
    PIPE_BUF: number;
  };
}

/** The `fcntl()` commands the addon accepts. */
export type FcntlCommand = 'F_GETFL' | 'F_SETFL' | 'F_GETFD' | 'F_SETFD' | 'F_SETOWN' | 'F_GETOWN' | 'F_SETSIG' | 'F_GETSIG';

/** The integer socket options the addon accepts. */
export type SocketOption = 'SO_REUSEADDR' | 'TCP_NODELAY' | 'SO_SNDBUF' | 'SO_RCVBUF' | 'SO_RCVLOWAT' | 'SO_RCVTIMEO' | 'IPV6_V6ONLY';

/** Finds the compiled addon, or fails naming every place it looked. */
function loadBinding(): NativeBinding {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(import.meta.url);
  const candidates = ['Release', 'Debug'].map((kind) => path.join(here, '..', '..', 'build', kind, 'posix.node'));
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return require(candidate) as NativeBinding;
    } catch (error) {
      failures.push(`${candidate}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`);
    }
  }
  throw new Error(
    `posix-chat: the native addon is not built (run \`npm install\` or \`npm run install\`; Linux only). Looked in:\n  ${failures.join('\n  ')}`,
  );
}

export const native = loadBinding();

/** Numbers from the C headers that callers combine into flags. */
export const constants = Object.freeze({ ...native.constants });

/** `PIPE_BUF`: the largest pipe write the kernel guarantees not to interleave with others (4096 on Linux). */
export const PIPE_BUF = native.constants.PIPE_BUF;

/** Signal number for a name or number; throws a TypeError for an unknown name, a TypeError or RangeError for a bad number. */
export function signalNumber(signal: Signal): number {
  if (typeof signal === 'number') {
    checkWhole(signal, 'signal', 0, MAX_SIGNAL);
    return signal;
  }
  const signo = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (signo === undefined) throw new TypeError(`unknown signal: ${signal}`);
  return signo;
}

/** Signal name for a number ('SIGUSR1' for 10), or the number as text when it has none. */
export function signalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name;
  return String(signo);
}

// ---------------------------------------------------------------- argument checks
//
// Every number is checked here before it reaches the addon, which checks it again
// (native/helpers.cc) with the same rules and messages, so the raw binding is safe too:
// a NaN length or an fd of 2**32 + 1 (an int32 cast makes it 1) never reaches a system call.
//
// A TypeError when the value is not of the kind asked for: not a number (code
// ERR_INVALID_ARG_TYPE), or NaN, infinite, a fraction where a whole number is asked, or
// negative where only non-negative values mean anything (ERR_INVALID_ARG_VALUE).
// A RangeError (ERR_OUT_OF_RANGE) when it is of that kind but beyond its bounds.

/** The highest descriptor number: the kernel's descriptors are C ints. */
export const MAX_FD = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** Linux's highest signal number (NSIG - 1). */
const MAX_SIGNAL = 64;
/** The longest timeout, in seconds (about 68 years). */
const MAX_SECONDS = 2 ** 31 - 1;

type ArgErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/** How a bad value is shown in a message; native/helpers.cc's Shown() says the same. */
function shown(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return String(value);
    case 'undefined':
      return 'undefined';
    case 'object':
      return value === null ? 'null' : 'an object';
    default:
      return `a ${typeof value}`; // a string, a boolean, a symbol, a bigint, a function
  }
}

function argError(code: ArgErrorCode, what: string, expected: string, value: unknown, detail?: string): TypeError | RangeError {
  const message = `Expected "${what}" to be ${expected}, got ${shown(value)}${detail === undefined ? '' : ` (${detail})`}`;
  const error = code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message);
  return Object.assign(error, { code });
}

/** The first half of the one number check: all a good value costs (no message is built). */
function wholeWithin(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * The second half: why `value` failed. A TypeError unless a finite number, whole when `whole`,
 * not negative when `min` is not; else a RangeError, with `detail` added.
 */
function numberError(value: unknown, what: string, min: number, whole: boolean, expected: string, detail?: string): TypeError | RangeError {
  if (typeof value !== 'number') return argError('ERR_INVALID_ARG_TYPE', what, expected, value);
  if (!Number.isFinite(value) || (whole && !Number.isInteger(value)) || (value < 0 && min >= 0)) {
    return argError('ERR_INVALID_ARG_VALUE', what, expected, value);
  }
  return argError('ERR_OUT_OF_RANGE', what, expected, value, detail);
}

/** A whole number in [min, max]; `expected` describes it (default: "a whole number from MIN to MAX"). */
export function checkWhole(value: unknown, what: string, min: number, max: number, expected?: string): void {
  if (!wholeWithin(value, min, max)) throw numberError(value, what, min, true, expected ?? `a whole number from ${min} to ${max}`);
}

/** A descriptor: a whole number from 0 to 2**31 - 1. */
export function checkFd(fd: unknown, what = 'fd'): void {
  checkWhole(fd, what, 0, MAX_FD);
}

/** A C int that may be negative (a pid, flags, an exit code). */
export function checkInt32(value: unknown, what: string): void {
  checkWhole(value, what, INT32_MIN, INT32_MAX);
}

/** Seconds, fractions allowed: finite, from 0 to 2**31 - 1. */
export function checkSeconds(value: unknown, what: string): void {
  if (typeof value === 'number' && value >= 0 && value <= MAX_SECONDS) return; // NaN and Infinity fail here
  throw numberError(value, what, 0, false, `a number of seconds from 0 to ${MAX_SECONDS}`);
}

/** A Buffer or other Uint8Array. */
export function checkBuffer(buffer: unknown, what = 'buffer'): void {
  if (!(buffer instanceof Uint8Array)) throw argError('ERR_INVALID_ARG_TYPE', what, 'a Buffer or Uint8Array', buffer);
}

/**
 * An array of Buffers or Uint8Arrays (`sendv()`). The addon reads every element again, checked,
 * before it takes any pointer (a getter could return something else the second time, or detach
 * a buffer): this pass is for the clear message.
 */
export function checkBufferList(buffers: unknown): void {
  if (!Array.isArray(buffers)) throw argError('ERR_INVALID_ARG_TYPE', 'buffers', 'an array of Buffers', buffers);
  for (let i = 0; i < buffers.length; i++) {
    const item: unknown = buffers[i];
    if (!(item instanceof Uint8Array)) throw argError('ERR_INVALID_ARG_TYPE', `buffers[${i}]`, 'a Buffer or Uint8Array', item);
  }
}

/** A buffer of at least one byte (a message of none could not be told from the end of the connection). */
export function checkNonEmptyBuffer(buffer: unknown): void {
  checkBuffer(buffer);
  if ((buffer as Uint8Array).length === 0) {
    throw Object.assign(new RangeError('Expected "buffer" to hold at least one byte, got an empty one'), { code: 'ERR_OUT_OF_RANGE' });
  }
}

const WITHIN_THE_BUFFER = 'a whole number within the buffer';

/** `buffer` and the byte range [offset, offset + length) within it; undefined: 0 and the rest. */
export function checkBufferRange(buffer: unknown, offset: unknown, length: unknown): void {
  checkBuffer(buffer);
  const size = (buffer as Uint8Array).length;
  if (offset !== undefined && !wholeWithin(offset, 0, size)) {
    throw numberError(offset, 'offset', 0, true, WITHIN_THE_BUFFER, `offset out of range: the buffer holds ${size} bytes`);
  }
  const start = (offset ?? 0) as number;
  if (length !== undefined && !wholeWithin(length, 0, size - start)) {
    throw numberError(length, 'length', 0, true, WITHIN_THE_BUFFER, `length out of range: at most ${size - start} bytes after offset ${start}`);
  }
}

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

/** Signal number for a name or number; throws a TypeError for an unknown name. */
export function signalNumber(signal: Signal): number {
  if (typeof signal === 'number') return signal;
  const signo = (osConstants.signals as Record<string, number | undefined>)[signal];
  if (signo === undefined) throw new TypeError(`unknown signal: ${signal}`);
  return signo;
}

/** Signal name for a number ('SIGUSR1' for 10), or the number as text when it has none. */
export function signalName(signo: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signo) return name;
  return String(signo);
}

export function checkFd(fd: number, what = 'fd'): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`${what} must be a non-negative integer, got ${String(fd)}`);
}

export function checkInteger(value: number, what: string): void {
  if (!Number.isInteger(value)) throw new TypeError(`${what} must be an integer, got ${String(value)}`);
}

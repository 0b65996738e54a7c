/**
 * Processes: fork(2) and clone(CLONE_PARENT), execve(2), kill(2), waitpid(2), _exit(2),
 * getpid/getppid, prctl(PR_SET_NAME, PR_SET_PDEATHSIG), the resource limits and a clock
 * that allocates nothing.
 * See native/process.cc.
 */
import { checkInt32, checkWhole, native, signalNumber, type Resource, type ResourceLimit, type Signal, type UserEntry, type WaitResult } from './binding.js';

/** True when this process was started with `node --single-threaded` (FORK-IN-NODE.md fact 10). */
export function isSingleThreaded(): boolean {
  return process.execArgv.includes('--single-threaded');
}

/**
 * `fork(2)`: duplicates this process. Returns the child's pid in the parent. In the child, with
 * `child` given, runs `child(...args)` and never returns; without, returns 0.
 *
 * Give `child` wherever the fork is hot: a child that returns from fork() resumes the caller's
 * frames, which V8 may have optimised for the parent's side of the fork only; then every child
 * throws that code away (a deoptimisation) and writes megabytes of the heap it shares with its
 * parent (docs/fork-in-node.md, fact 14). Pass the function itself with its arguments, not a
 * new closure around it: a function the parent has never called is compiled in every child, and
 * a closure adds one more. `child` must leave by `_exit()`: if it returns or throws, the child
 * says so on stderr and exits with status 70.
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
export const fork: ForkCall = forkCall(native.fork, 'fork');

type ForkCall = <A extends unknown[]>(child?: (...args: A) => never, ...args: A) => number;

/**
 * A fork call as the addon exports it, with no JavaScript in between: a wrapper would make an
 * array for `...args` at every call, and the zygote's loop must allocate nothing (docs/bench.md,
 * "A second way a child grows"). Whether node runs single-threaded is known at start; without
 * it, a function that throws ERR_POSIX_NOT_SINGLE_THREADED and forks nothing.
 */
function forkCall(call: NativeForkCall, name: string): ForkCall {
  if (isSingleThreaded()) return call as ForkCall;
  return () => {
    throw notSingleThreaded(name);
  };
}

type NativeForkCall = (child?: (...args: never[]) => never, ...args: unknown[]) => number;

function notSingleThreaded(call: string): NodeJS.ErrnoException {
  const error = new Error(
    `${call}() needs node to run with --single-threaded: without it a forked child hangs for ever in its first ` +
      `garbage collection, waiting on V8 worker threads that ${call}() did not copy. ` +
      'Start with `node --single-threaded ...` (npm start and the posix-chat bin do).',
  ) as NodeJS.ErrnoException;
  error.code = 'ERR_POSIX_NOT_SINGLE_THREADED';
  return error;
}

/**
 * `clone(2)` with `CLONE_PARENT`: `fork()` (with the same preparation, see there), except that
 * the new process is a child of this process's *parent*: that parent gets its SIGCHLD, reaps it
 * with `waitpid()`, and is the parent its parent-death signal watches. A helper forked once can so
 * make children for its parent (a "zygote"). Returns the new pid; in the new process, runs
 * `child(...args)` if given (as fork() does), else returns 0. The zygote forks every spare so.
 * @throws `ERR_POSIX_NOT_SINGLE_THREADED` (as fork()), `EAGAIN`, `ENOMEM`.
 */
export const forkSibling: ForkCall = forkCall(native.forkSibling, 'forkSibling');

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
 * @throws `ESRCH` when no such process exists, `EPERM` when not allowed; TypeError or RangeError
 *   when `pid` is not a whole number within int32, or `signal` not a signal.
 */
export function kill(pid: number, signal: Signal = 'SIGTERM'): void {
  checkInt32(pid, 'pid');
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
  checkInt32(pid, 'pid');
  checkInt32(flags, 'flags');
  return native.waitpid(pid, flags);
}

/**
 * `_exit(2)`: ends this process at once, without running exit handlers or the event loop.
 * A forked child leaves this way: `process.exit()` would run the parent's exit handlers.
 */
export function _exit(code = 0): never {
  checkInt32(code, 'code');
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

/** monotonicMicros() wraps at this: its readings are in [0, MONOTONIC_MICROS_WRAP). */
export const MONOTONIC_MICROS_WRAP = 2 ** 30;

/**
 * `clock_gettime(CLOCK_MONOTONIC)` in microseconds, modulo MONOTONIC_MICROS_WRAP (about
 * 18 minutes). A number that small is one V8 keeps unboxed, so the call allocates nothing
 * on the heap, unlike `performance.now()`: a forked child's read loop can use it. Only for
 * intervals shorter than the wrap: see microsBetween().
 */
export function monotonicMicros(): number {
  return native.monotonicMicros();
}

/** The microseconds from reading `earlier` to reading `later` of monotonicMicros(), across a wrap. */
export function microsBetween(earlier: number, later: number): number {
  return (later - earlier + MONOTONIC_MICROS_WRAP) % MONOTONIC_MICROS_WRAP;
}

/**
 * `prctl(PR_SET_PDEATHSIG)`: asks the kernel to send `signal` to this process when its parent dies,
 * however it dies (SIGKILL included). Cleared by `fork()` in the new child; call it in the child.
 */
export function setParentDeathSignal(signal: Signal): void {
  native.setParentDeathSignal(signalNumber(signal));
}

/**
 * `prctl(PR_SET_DUMPABLE)`: whether this process may dump core and whether its `/proc/PID`
 * files belong to its own user. Changing uid or gid from root clears it; set it again after
 * dropping privileges, or the process cannot write its children's `/proc/PID/oom_score_adj`.
 */
export function setDumpable(dumpable: boolean): void {
  native.setDumpable(dumpable);
}

/**
 * `sched_setattr(2)` on the calling thread: the fair scheduler's slice for it, in
 * nanoseconds (the kernel clamps it to 0.1-100 ms; 0 gives the default back). A shorter
 * slice means an earlier deadline under EEVDF, so the thread runs sooner when it wakes
 * on a busy CPU, and for less long at a time. Taken by Linux 6.12 and later; older
 * kernels ignore it. Needs no privilege. Only a thread under SCHED_OTHER or SCHED_BATCH is
 * changed, keeping its policy and nice value; one under a real-time or idle policy is left
 * alone.
 * @returns the slice the kernel reports now (`sched_getattr`), 0 where it keeps none
 */
export function setSchedulerSlice(ns: number): number {
  return native.setSchedulerSlice(ns);
}

/**
 * `getpwnam_r(3)`: `name`'s entry in the user database (`/etc/passwd`, or LDAP and the like
 * through NSS), or null when there is no such user.
 * @throws `EIO`, `EMFILE`... when the database cannot be read.
 */
export function getpwnam(name: string): UserEntry | null {
  if (name === '' || name.includes('\0')) throw new TypeError('name must be a non-empty string without NUL');
  return native.getpwnam(name);
}

/** `getrlimit(2)`: the soft and hard limits of `resource` (-1: unlimited). */
export function getrlimit(resource: Resource): ResourceLimit {
  return native.getrlimit(resource);
}

/**
 * `setrlimit(2)`: sets the soft and hard limits of `resource` (-1: unlimited).
 * @throws `EPERM` when raising the hard limit without privilege, `EINVAL` when soft > hard;
 *   TypeError or RangeError when a limit is neither -1 nor a whole number from 0 to 2**53 - 1.
 */
export function setrlimit(resource: Resource, soft: number, hard: number): void {
  checkLimit(soft, 'soft');
  checkLimit(hard, 'hard');
  native.setrlimit(resource, soft, hard);
}

function checkLimit(value: number, what: string): void {
  checkWhole(value, what, -1, Number.MAX_SAFE_INTEGER, `-1 (unlimited) or a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`);
}

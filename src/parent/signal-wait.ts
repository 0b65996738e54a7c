/**
 * The signal handler of the original, done the way a threaded runtime allows: the
 * parent does not handle signals asynchronously, it waits for them. The signals
 * are blocked in the main thread (and forwarded to it from Node's other threads,
 * which do not all block them), so each stays pending until sigtimedwait() takes
 * it: SIGUSR1 (a child's records, a new connection, a spare from the zygote),
 * SIGCHLD (a child ended) and the stop requests. See docs/fork-in-node.md.
 */
import { performance } from 'node:perf_hooks';
import * as posix from '../posix/index.js';
import type { SignalInfo } from '../posix/index.js';

/** The original's wait: wake at least once a second even if nothing happens. */
export const SIGNAL_WAIT_SECONDS = 1;

/** Signals that stop the server. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
/**
 * Everything the loop waits for: SIGUSR1 (a child's record, or a new connection),
 * SIGCHLD (a child ended: see ReapSchedule) and the stop requests.
 * bin/posix-chat.cjs blocks the same list.
 */
export const WAIT_SIGNALS: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGCHLD', ...STOP_SIGNALS];
const STOP_SIGNAL_NUMBERS = new Set(STOP_SIGNALS.map(posix.signalNumber));

/**
 * Blocks the signals in this (the main) thread so they wait for sigtimedwait(), and
 * forwards them here from Node's other threads. Forwarding SIGUSR1 also replaces
 * Node's own handler, which would open the inspector.
 */
export function installSignalWait(): void {
  posix.sigprocmask('block', WAIT_SIGNALS);
  for (const signal of WAIT_SIGNALS) posix.sigaction(signal, 'forward');
}

/** Waits up to `timeoutSeconds` for one of WAIT_SIGNALS; null on timeout. */
export function waitForSignal(timeoutSeconds: number): SignalInfo | null {
  return posix.sigtimedwait(WAIT_SIGNALS, timeoutSeconds);
}

/**
 * The loop's wait, not waiting: for the start-up rehearsal, whose turns run the wait's
 * code too. A signal it takes (a stop request during start-up) is raised again for the
 * real loop.
 */
export function rehearseWait(): void {
  const woke = waitForSignal(0);
  if (woke !== null) posix.kill(posix.getpid(), woke.signo);
}

const CHILD_SIGNAL: readonly NodeJS.Signals[] = ['SIGCHLD'];
const SIGCHLD = posix.signalNumber('SIGCHLD');

/** At most this long between two reapings: should a SIGCHLD ever be missed, a zombie waits this long, not forever. */
export const REAP_ANYWAY_MS = 1000;

/**
 * When the loop reaps: when a child has ended since the last look (the wake-up was
 * SIGCHLD, or one is pending behind another signal, taken now without waiting), and
 * at least every REAP_ANYWAY_MS. Not on every turn, because waitpid(-1, WNOHANG) walks
 * the list of every child the server has, one per client (docs/bench.md has what that
 * costs). A SIGCHLD taken here, before the reaping, cannot hide a child that ends
 * during it: that one raises SIGCHLD again.
 */
export class ReapSchedule {
  /** When due() last said yes (performance.now()). */
  private last = 0;

  /** Whether to reap now, after waking with `woke`. */
  due(woke: SignalInfo | null): boolean {
    const ended = woke?.signo === SIGCHLD || posix.sigtimedwait(CHILD_SIGNAL, 0) !== null;
    const now = performance.now();
    if (!ended && now - this.last < REAP_ANYWAY_MS) return false;
    this.last = now;
    return true;
  }
}

/** Takes any SIGUSR1 already pending, without waiting. */
export function discardPendingWakeUps(): void {
  while (posix.sigtimedwait(['SIGUSR1'], 0) !== null);
}

export function isStopSignal(woke: SignalInfo | null): woke is SignalInfo {
  return woke !== null && STOP_SIGNAL_NUMBERS.has(woke.signo);
}

/** --trace's words for a wake-up. */
export function describeWake(woke: SignalInfo | null, timeout: number, listenFd: number): string {
  if (woke === null) return `sigtimedwait() -> timeout after ${timeout} s`;
  const name = posix.signalName(woke.signo);
  if (woke.fd !== null) {
    const what = woke.fd === listenFd ? 'a connection is waiting' : "the zygote's answer: a spare child";
    return `sigtimedwait() -> ${name} (POLL_IN on fd ${woke.fd}: ${what})`;
  }
  return `sigtimedwait() -> ${name} ${describeSender(woke)}`;
}

/** Who sent a signal: a process, or the kernel (pid 0), as for Ctrl-C on a terminal. */
export function describeSender(woke: SignalInfo): string {
  return woke.pid === 0 ? 'from the kernel (Ctrl-C on a terminal, or the like)' : `from pid ${woke.pid}`;
}

/**
 * Waits up to `timeoutSeconds` for a wake-up only (SIGUSR1, SIGCHLD), leaving a stop
 * request pending for the loop: used while the server starts.
 */
export function waitForWakeUp(timeoutSeconds: number): SignalInfo | null {
  return posix.sigtimedwait(['SIGUSR1', 'SIGCHLD'], timeoutSeconds);
}

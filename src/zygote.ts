/**
 * The zygote: a copy of the parent, forked once at start, whose only job is to fork
 * the per-connection children. It forks with clone(CLONE_PARENT), so each child is
 * the *parent's* child (the parent reaps it and gets its SIGCHLD, as in the
 * original). And it forks each one ahead of need: a spare child sets itself up and
 * waits on a socketpair of its own, whose other end the zygote passes to the parent
 * with the spare's pid; when a client connects, the parent hands the spare the
 * accepted socket over it (SCM_RIGHTS) and asks the zygote for the next spare. A
 * newcomer so rarely waits for a fork, and the parent never does: a client that comes
 * before the next spare waits in a queue while the loop goes on.
 *
 * Why: after a fork, every page the two processes share is copy-on-write, so each
 * time the parent forked a child, its next writes to its own heap (every garbage
 * collection, every new object) copied pages and flushed TLBs on every CPU. The
 * zygote's heap never changes, so forking from it costs the parent nothing, the
 * fork is quicker, and children share the same pages instead of stale copies.
 */
import type { ChildPlan } from './client.js';
import { runSpare } from './client.js';
import * as posix from './posix.js';

/** A child's plan, given its client socket and the descriptors it must close. */
export type PlanFor = (clientFd: number, closeFds: number[]) => ChildPlan;

/** The process name of the zygote, in ps and /proc/PID/comm. */
export const ZYGOTE_NAME = 'posix-zygote';

/**
 * How long a spare may take to arrive once asked for (a fork takes a few ms). Longer, and
 * the zygote is stopped or stuck: the parent gives up on it and forks children itself
 * rather than leave newcomers waiting.
 */
export const SPARE_WAIT_MS = 200;

/** A spare the zygote has forked: its pid and the parent's end of its hand-off socket. */
interface Spare {
  pid: number;
  handoffFd: number;
}

/**
 * The parent's handle on its zygote. Nothing here blocks: the parent's loop serves
 * everyone, so a slow or stopped zygote must not hold it up. The control socket raises
 * SIGUSR1 when a spare arrives, like the listening socket when a client does.
 */
export class Zygote {
  /**
   * Parent <-> zygote: the parent asks for a spare (one byte); the zygote answers
   * with its pid (int32) carrying the parent's end of the spare's hand-off socket.
   */
  private controlFd = -1;
  pid = 0;
  /** When the spare on its way was asked for (ms since the epoch); 0: none is on its way. */
  private askedAt = 0;
  /** When a spare was used and the next not asked for yet (ms since the epoch); 0: none owed. */
  private owedSince = 0;
  private readonly byte = Buffer.from([1]);
  private readonly reply = Buffer.alloc(4);

  /**
   * Forks the zygote, which forks a first spare at once. `inheritedFds` are the
   * parent's descriptors the zygote must not keep (the listening socket, the pipe's
   * read end, clients' sockets).
   */
  start(parentPid: number, inheritedFds: readonly number[], planFor: PlanFor): number {
    const [control, itsControl] = posix.socketpair();
    const pid = posix.fork();
    if (pid === 0) {
      for (const fd of [...inheritedFds, control]) posix.close(fd);
      runZygote(parentPid, itsControl, planFor);
    }
    posix.close(itsControl);
    posix.setSignalOnReadable(control, 'SIGUSR1'); // a spare's arrival wakes the parent's wait
    this.controlFd = control;
    this.pid = pid;
    this.askedAt = Date.now();
    this.owedSince = 0;
    return pid;
  }

  /** Descriptors the parent holds for the zygote, which children forked here must close. */
  fds(): number[] {
    return this.controlFd >= 0 ? [this.controlFd] : [];
  }

  get running(): boolean {
    return this.controlFd >= 0;
  }

  /**
   * Hands `clientFd` to the spare and returns its pid. Null when no spare is here yet:
   * one is asked for if none is on its way, and its arrival raises SIGUSR1; call again then.
   * `isGone(pid)`: whether a pid has already exited (a killed spare).
   * @throws the fork's error (`EAGAIN`...) when the zygote could not fork this one;
   *   `ZygoteGoneError` when it has died, or a spare is more than SPARE_WAIT_MS late.
   */
  handOff(clientFd: number, isGone: (pid: number) => boolean): number | null {
    try {
      for (;;) {
        const spare = this.collect();
        if (spare === null) {
          if (this.askedAt === 0) this.ask(); // someone is waiting: no time to lose
          else if (Date.now() - this.askedAt > SPARE_WAIT_MS) throw new ZygoteGoneError(`no spare child after ${SPARE_WAIT_MS} ms (stopped or stuck?)`);
          return null;
        }
        this.owedSince = Date.now();
        try {
          if (isGone(spare.pid)) continue;
          posix.sendFd(spare.handoffFd, clientFd, this.byte);
          return spare.pid;
        } finally {
          posix.close(spare.handoffFd);
        }
      }
    } catch (error) {
      if (error instanceof ZygoteGoneError || (error as NodeJS.ErrnoException).syscall === 'clone') throw error;
      throw new ZygoteGoneError((error as Error).message);
    }
  }

  /** How long until the spare on its way is late (ms); Infinity when none is on its way. */
  msUntilLate(): number {
    return this.askedAt === 0 ? Infinity : Math.max(0, this.askedAt + SPARE_WAIT_MS - Date.now());
  }

  /** The zygote's answer, if it has come. */
  private collect(): Spare | null {
    if (this.askedAt === 0) return null;
    const message = posix.recvFd(this.controlFd, this.reply);
    if (message === null) return null; // not yet
    if (message.bytes !== 4) throw new ZygoteGoneError();
    this.askedAt = 0;
    const pid = this.reply.readInt32LE(0);
    if (message.fd === null) {
      this.owedSince = Date.now(); // the next client asks again
      throw forkError(pid); // it could not fork: this client is refused
    }
    return { pid, handoffFd: message.fd };
  }

  private ask(): void {
    posix.write(this.controlFd, this.byte);
    this.owedSince = 0;
    this.askedAt = Date.now();
  }

  /**
   * Asks for the next spare once `delayMs` have passed since the last was used: the
   * fork then does not compete for the CPU with the newcomer's child, whose first
   * line is on its way. Returns how long until it is due (0: nothing owed).
   */
  askWhenDue(delayMs: number): number {
    if (this.owedSince === 0 || this.controlFd < 0) return 0;
    const left = this.owedSince + delayMs - Date.now();
    if (left > 0) return left;
    try {
      this.ask();
    } catch {
      // Gone: the reaper sees it exit, and the next connection starts a new zygote.
    }
    return 0;
  }

  /**
   * Forgets a zygote that has exited (the parent reaped it) or been given up on. A
   * spare's hand-off end still in the control socket closes with it, and that spare
   * sees end of file and exits.
   */
  exited(): void {
    if (this.controlFd >= 0) posix.close(this.controlFd);
    this.controlFd = -1;
    this.pid = 0;
    this.askedAt = 0;
    this.owedSince = 0;
  }
}

function forkError(negativeErrno: number): NodeJS.ErrnoException {
  const code = negativeErrno === -11 ? 'EAGAIN' : negativeErrno === -12 ? 'ENOMEM' : `E${-negativeErrno}`;
  const error = new Error(`${code}: the zygote could not fork, clone`) as NodeJS.ErrnoException;
  error.code = code;
  error.errno = negativeErrno;
  error.syscall = 'clone';
  return error;
}

export class ZygoteGoneError extends Error {
  constructor(detail = 'it closed its socket') {
    super(`the zygote is gone: ${detail}`);
  }
}

/**
 * The zygote's whole life: fork a spare with a socketpair of its own, send the
 * parent the spare's pid and the other end, wait until the parent has used it,
 * again; never returns.
 */
function runZygote(parentPid: number, controlFd: number, planFor: PlanFor): never {
  posix.setParentDeathSignal('SIGKILL');
  if (posix.getppid() !== parentPid) posix._exit(1);
  posix.sigaction('SIGINT', 'ignore'); // Ctrl-C: the parent stops us in order
  posix.setProcessName(ZYGOTE_NAME);
  const reply = Buffer.alloc(4);
  const request = Buffer.alloc(16);
  for (;;) {
    const [parentEnd, spareEnd] = posix.socketpair();
    let pid: number;
    try {
      pid = posix.forkSibling();
    } catch (error) {
      pid = (error as NodeJS.ErrnoException).errno ?? -1;
    }
    if (pid === 0) runSpare(planFor(-1, [controlFd, parentEnd]), spareEnd);
    posix.close(spareEnd);
    reply.writeInt32LE(pid, 0);
    try {
      if (pid > 0) posix.sendFd(controlFd, parentEnd, reply);
      else posix.write(controlFd, reply);
      posix.close(parentEnd);
      if (posix.read(controlFd, request) === 0) return posix._exit(0); // the parent has gone
    } catch {
      return posix._exit(1);
    }
  }
}

/**
 * The zygote: a copy of the parent, forked once at start, whose only job is to fork
 * the per-connection children. It forks with clone(CLONE_PARENT), so each child is
 * the *parent's* child (the parent reaps it and gets its SIGCHLD, as in the
 * original). And it forks each one ahead of need: a spare child sets itself up and
 * waits on a socketpair of its own, whose other end the zygote passes to the parent
 * with the spare's pid; when a client connects, the parent hands the spare the
 * accepted socket over it (SCM_RIGHTS) and asks the zygote for the next spare. A
 * newcomer so never waits for a fork.
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
 * How long the parent waits for a spare it asked for (a fork takes a few ms). Longer,
 * and the zygote is stopped or stuck: the parent gives up on it rather than leave every
 * client waiting, and forks this child itself.
 */
export const SPARE_WAIT_MS = 200;

/** The parent's handle on its zygote. */
export class Zygote {
  /**
   * Parent <-> zygote: the parent asks for a spare (one byte); the zygote answers
   * with its pid (int32) carrying the parent's end of the spare's hand-off socket.
   */
  private controlFd = -1;
  pid = 0;
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
    posix.setsockopt(control, 'SO_RCVTIMEO', SPARE_WAIT_MS * 1000); // readSpare() never blocks for ever
    this.controlFd = control;
    this.pid = pid;
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
   * Hands `clientFd` to the waiting spare and returns its pid; the next spare is asked
   * for by askWhenDue(), or at once by the next spawn(). Blocks only when the spare is
   * not forked yet (connections closer together than one fork). `isGone(pid)`: whether a pid has already exited (a killed spare).
   * @throws the fork's error (`EAGAIN`...), or `ZygoteGoneError` when it has died.
   */
  spawn(clientFd: number, isGone: (pid: number) => boolean): number {
    try {
      for (;;) {
        if (this.owedSince !== 0) this.ask(); // connections back to back: no time to lose
        const spare = this.readSpare();
        this.owedSince = Date.now();
        if (spare.handoffFd === null) throw forkError(spare.pid); // it could not fork: this client is refused
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

  private readSpare(): { pid: number; handoffFd: number | null } {
    const message = posix.recvFd(this.controlFd, this.reply);
    if (message === null) throw new ZygoteGoneError(`no spare child after ${SPARE_WAIT_MS} ms (stopped or stuck?)`);
    if (message.bytes !== 4) throw new ZygoteGoneError();
    return { pid: this.reply.readInt32LE(0), handoffFd: message.fd };
  }

  private ask(): void {
    posix.write(this.controlFd, this.byte);
    this.owedSince = 0;
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
   * Forgets a zygote that has exited (the parent reaped it). Its waiting spare's
   * hand-off end was still in the control socket: closing that closes it, and the
   * spare sees end of file and exits.
   */
  exited(): void {
    if (this.controlFd >= 0) posix.close(this.controlFd);
    this.controlFd = -1;
    this.pid = 0;
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

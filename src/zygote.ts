/**
 * The zygote: a copy of the parent, forked once at start, whose only job is to fork
 * the per-connection children. The parent hands it each accepted socket over a
 * socketpair (SCM_RIGHTS); it forks with clone(CLONE_PARENT), so the new child is
 * the *parent's* child (the parent reaps it and gets its SIGCHLD, as in the
 * original), and answers with the child's pid.
 *
 * Why: after a fork, every page the two processes share is copy-on-write, so each
 * time the parent forked a child, its next writes to its own heap (every garbage
 * collection, every new object) copied pages and flushed TLBs on every CPU. The
 * zygote's heap never changes, so forking from it costs the parent nothing, the
 * fork is quicker, and children share the same pages instead of stale copies.
 */
import type { ChildPlan } from './client.js';
import { runChild } from './client.js';
import * as posix from './posix.js';

/** A child's plan, given its client socket and the descriptors it must close. */
export type PlanFor = (clientFd: number, closeFds: number[]) => ChildPlan;

/** The process name of the zygote, in ps and /proc/PID/comm. */
export const ZYGOTE_NAME = 'posix-zygote';

/** The parent's handle on its zygote. */
export class Zygote {
  private socketFd = -1;
  pid = 0;
  private readonly request = Buffer.from([1]);
  private readonly reply = Buffer.alloc(4);

  /**
   * Forks the zygote. `inheritedFds` are the parent's descriptors the zygote must not
   * keep (the listening socket, the pipe's read end, clients' sockets).
   */
  start(parentPid: number, inheritedFds: readonly number[], planFor: PlanFor): number {
    const [mine, its] = posix.socketpair();
    const pid = posix.fork();
    if (pid === 0) {
      for (const fd of [...inheritedFds, mine]) posix.close(fd);
      runZygote(parentPid, its, planFor);
    }
    posix.close(its);
    this.socketFd = mine;
    this.pid = pid;
    return pid;
  }

  /** Descriptors the parent holds for the zygote, which children must close. */
  fds(): number[] {
    return this.socketFd >= 0 ? [this.socketFd] : [];
  }

  get running(): boolean {
    return this.socketFd >= 0;
  }

  /**
   * Has the zygote fork a child for `clientFd`; returns the child's pid. Blocks for
   * the answer: one fork in a small process, far less than the parent forking itself.
   * @throws the fork's error (`EAGAIN`...), or `ZygoteGoneError` when it has died.
   */
  spawn(clientFd: number): number {
    try {
      posix.sendFd(this.socketFd, clientFd, this.request);
      const n = posix.read(this.socketFd, this.reply);
      if (n !== 4) throw new ZygoteGoneError();
    } catch (error) {
      if (error instanceof ZygoteGoneError) throw error;
      throw new ZygoteGoneError((error as Error).message);
    }
    const pid = this.reply.readInt32LE(0);
    if (pid > 0) return pid;
    const error = new Error(`${pid === -11 ? 'EAGAIN' : `errno ${-pid}`}: the zygote could not fork, clone`) as NodeJS.ErrnoException;
    error.code = pid === -11 ? 'EAGAIN' : 'EFORK';
    error.errno = pid;
    error.syscall = 'clone';
    throw error;
  }

  /** Forgets a zygote that has exited (the parent reaped it). */
  exited(): void {
    if (this.socketFd >= 0) posix.close(this.socketFd);
    this.socketFd = -1;
    this.pid = 0;
  }
}

export class ZygoteGoneError extends Error {
  constructor(detail = 'it closed its socket') {
    super(`the zygote is gone: ${detail}`);
  }
}

/** The zygote's whole life: wait for a socket, fork a child for it, answer its pid; never returns. */
function runZygote(parentPid: number, socketFd: number, planFor: PlanFor): never {
  posix.setParentDeathSignal('SIGKILL');
  if (posix.getppid() !== parentPid) posix._exit(1);
  posix.sigaction('SIGINT', 'ignore'); // Ctrl-C: the parent stops us in order
  posix.setProcessName(ZYGOTE_NAME);
  const request = Buffer.alloc(16);
  const reply = Buffer.alloc(4);
  for (;;) {
    let message: posix.ReceivedMessage | null;
    try {
      message = posix.recvFd(socketFd, request);
    } catch {
      return posix._exit(1);
    }
    if (message === null || message.bytes === 0) return posix._exit(0); // the parent has gone
    if (message.fd === null) continue;
    let pid: number;
    try {
      pid = posix.forkSibling();
    } catch (error) {
      pid = (error as NodeJS.ErrnoException).errno ?? -1;
    }
    if (pid === 0) runChild(planFor(message.fd, [socketFd]));
    posix.close(message.fd);
    reply.writeInt32LE(pid, 0);
    posix.write(socketFd, reply);
  }
}

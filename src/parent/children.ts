/**
 * Child supervision: the parent's side of onConnect's fork(). Gives each accepted
 * client a child (a spare from the zygote, or one forked here), keeps every child
 * until it is reaped, reaps with waitpid(-1, WNOHANG), and stops them all at shutdown.
 *
 * Clients that connect before the zygote's next spare wait in `waiting` while the
 * loop goes on serving everyone; the spare's arrival raises SIGUSR1.
 */
import { writeFileSync } from 'node:fs';
import { runChild } from '../child/socket-client-broadcast.js';
import type { ChildPlan, ExitStatus, Tracer } from '../contracts.js';
import type { Logger } from '../log.js';
import { messageOf } from '../log.js';
import * as posix from '../posix/index.js';
import { formatHostPort } from '../protocol/address.js';
import { refuse } from './admission.js';
import type { Accepted } from './socket-server.js';
import { WaitingClients } from './waiting.js';
import { Zygote, ZygoteGoneError } from './zygote.js';

/** The OOM killer's bias for children (-1000 never .. 1000 always); the parent keeps its own. */
export const CHILD_OOM_SCORE_ADJ = 500;
/** How long children get to exit after SIGTERM at shutdown before SIGKILL. */
export const CHILD_EXIT_GRACE_MS = 1000;
/** How long after a spare child takes a client the zygote is asked for the next one. */
export const NEXT_SPARE_DELAY_MS = 10;
/** Pids reaped before we knew them (a spare killed while waiting) remembered, so none is handed a client. */
const MAX_REMEMBERED_UNKNOWN = 64;

export interface ChildrenOptions {
  /** Fork children from a zygote (forked once at start) instead of from the parent itself. */
  zygote: boolean;
  parentPid: number;
  log: Logger;
  tracer: Tracer;
  /** What every child is told about its input. */
  child: Pick<ChildPlan, 'maxLineBytes' | 'inputMode' | 'rateLimit' | 'web'>;
  /** The write end of the parent's pipe. */
  pipeWriteFd: () => number;
  /** Descriptors of the parent's that no child may keep (listening socket, pipe's read end, clients' sockets). */
  parentFds: () => number[];
  /** Whether a client is a trusted proxy, whose child must read a PROXY header first. */
  isProxy: (client: Accepted) => boolean;
  /** The address group a waiting client counts against for the per-address limit (null: none). */
  groupOf: (client: Accepted) => string | null;
}

export class Children {
  /** Clients accepted and not yet given a child: they came before the zygote's next spare. */
  readonly waiting: WaitingClients;
  /** Every child not yet reaped, including those whose connection has ended. */
  private readonly pids = new Set<number>();
  private readonly zygote = new Zygote();
  private readonly reapedElsewhere = new Set<number>();
  /** Set at shutdown: children exiting now are expected. */
  private stopping = false;

  constructor(private readonly options: ChildrenOptions) {
    this.waiting = new WaitingClients(options.groupOf);
  }

  /** Starts the zygote (with --zygote, the default). Call after the child path is warmed up. */
  start(): void {
    if (!this.options.zygote) return;
    const planFor = (clientFd: number, closeFds: number[]): ChildPlan => this.planFor(clientFd, this.options.pipeWriteFd(), closeFds);
    const pid = this.zygote.start(this.options.parentPid, this.options.parentFds(), planFor);
    this.pids.add(pid);
    killFirst(pid); // its spares inherit it
    this.options.log.debug(`zygote started (pid ${pid})`);
    this.trace(`fork() -> zygote ${pid}: it forks every child from now on`);
  }

  /** Registers a process started elsewhere (the Redis link), so it is reaped here. */
  track(pid: number): void {
    this.pids.add(pid);
  }

  has(pid: number): boolean {
    return this.pids.has(pid);
  }

  /** Descriptors held for children: the zygote's, and the waiting clients' sockets. */
  fds(): number[] {
    const fds = this.zygote.fds();
    for (const client of this.waiting) fds.push(client.fd);
    return fds;
  }

  /**
   * Gives each waiting client a child, oldest first, until one must wait for its spare;
   * `admit` takes each one before the next is forked (so that child closes its socket).
   * A client whose fork failed is refused here, and so is one that `refusal` now turns
   * away (the machine ran short of memory while it waited).
   */
  startWaiting(admit: (pid: number, client: Accepted) => void, refusal: () => string | null = () => null): void {
    for (let client = this.waiting.first(); client !== undefined; client = this.waiting.first()) {
      const why = refusal();
      if (why !== null) {
        this.waiting.shift();
        refuse(client, why, this.options.log);
        continue;
      }
      let pid: number | null;
      try {
        pid = this.forkChild(client);
      } catch (error) {
        this.waiting.shift();
        this.options.log.error(`fork failed for ${formatHostPort(client.address, client.port)}: ${messageOf(error)}`);
        refuse(client, 'The server is busy; try again later.', this.options.log);
        continue;
      }
      if (pid === null) {
        this.trace(`no spare child yet for fd ${client.fd}: it waits (the zygote's answer raises SIGUSR1)`);
        break;
      }
      this.waiting.shift();
      admit(pid, client);
    }
  }

  /**
   * How long the loop may sleep (seconds, at most `timeout`) and still ask the zygote
   * for its next spare in time, and give up on a late one.
   */
  wakeWithin(timeout: number): number {
    const spareDueMs = this.zygote.askWhenDue(NEXT_SPARE_DELAY_MS);
    if (spareDueMs > 0) timeout = Math.min(timeout, spareDueMs / 1000);
    if (this.waiting.length > 0) timeout = Math.min(timeout, this.zygote.msUntilLate() / 1000);
    return timeout;
  }

  /**
   * waitpid(-1, WNOHANG) until nothing is left to reap: no zombies, including children
   * we have not been told of yet (a spare the zygote forked). Returns how each ended,
   * the zygote's exit aside.
   */
  reap(): ExitStatus[] {
    const reaped: ExitStatus[] = [];
    for (;;) {
      let status: ExitStatus | null;
      try {
        status = posix.waitpid(-1, posix.WNOHANG);
      } catch (error) {
        // ECHILD: no child at all. If we still count some, trust the kernel.
        if (this.pids.size > 0) {
          this.options.log.error(`waitpid: ${messageOf(error)}; forgetting ${this.pids.size} child(ren)`);
          for (const pid of this.pids) reaped.push({ pid, code: null, signal: null });
          this.pids.clear();
        }
        break;
      }
      if (status === null) break;
      if (!this.pids.delete(status.pid) && status.pid !== this.zygote.pid) this.rememberUnknown(status.pid);
      if (status.pid === this.zygote.pid) {
        if (!this.stopping) this.options.log.warn(`zygote ${status.pid} exited (${status.signal !== null ? posix.signalName(status.signal) : `code ${status.code}`}); a new one starts with the next connection`);
        this.zygote.exited();
        continue;
      }
      reaped.push(status);
      this.options.log.debug(`reaped child ${status.pid} (${describeExit(status)})`);
      this.trace(`waitpid(-1, WNOHANG) -> child ${status.pid} ended (${describeExit(status)})`);
    }
    return reaped;
  }

  /** At shutdown: refuse the waiting clients, SIGTERM every child, wait for them, SIGKILL any that linger. */
  stopAll(): void {
    this.stopping = true;
    for (const client of this.waiting.takeAll()) refuse(client, 'The server is shutting down. Goodbye!', this.options.log);
    for (const pid of this.pids) signalQuietly(pid, 'SIGTERM');
    const deadline = Date.now() + CHILD_EXIT_GRACE_MS;
    while (this.pids.size > 0 && Date.now() < deadline) {
      if (this.reap().length === 0) sleepMs(5);
    }
    for (const pid of this.pids) {
      this.options.log.warn(`child ${pid} ignored SIGTERM; killing it`);
      signalQuietly(pid, 'SIGKILL');
      posix.waitpid(pid, 0);
    }
    this.pids.clear();
  }

  /**
   * A child for a new client: from the zygote (null: its spare has not come yet), or
   * (without one, or when it fails) by fork() here.
   */
  private forkChild(client: Accepted): number | null {
    const clientFd = client.fd;
    const proxy = this.options.isProxy(client);
    if (this.options.zygote && !this.zygote.running) this.start(); // it died: a new one
    if (this.zygote.running) {
      try {
        const pid = this.zygote.handOff(clientFd, this.waiting.length, (spare) => this.reapedElsewhere.has(spare), client.framing, proxy);
        if (pid === null) return null;
        this.pids.add(pid);
        this.trace(`sendmsg(spare child ${pid}, fd ${clientFd}): forked ahead by the zygote, it takes this client`);
        return pid;
      } catch (error) {
        if (!(error instanceof ZygoteGoneError)) throw error;
        this.options.log.warn(`${error.message}; forking this child here`);
        signalQuietly(this.zygote.pid, 'SIGKILL'); // if it is only stuck; the next connection starts a new one
        this.zygote.exited();
      }
    }
    // The plan only now: what the child must close is what the parent holds at this moment
    // (but its own client, which may still be in the waiting list).
    const plan = this.planFor(clientFd, this.options.pipeWriteFd(), this.options.parentFds().filter((fd) => fd !== clientFd));
    plan.framing = client.framing;
    plan.expectProxyHeader = proxy;
    const pid = posix.fork(runChild, plan);
    this.pids.add(pid);
    killFirst(pid);
    this.trace(`fork() -> child ${pid}`);
    return pid;
  }

  /**
   * What a child gets, decided before fork(). One factory for real children and the
   * warm-up, so both plans have the same shape (hidden class) in V8.
   */
  planFor(clientFd: number, pipeWriteFd: number, closeFds: number[]): ChildPlan {
    const { parentPid, tracer, child } = this.options;
    return {
      clientFd,
      pipeWriteFd,
      closeFds,
      parentPid,
      maxLineBytes: child.maxLineBytes,
      inputMode: child.inputMode,
      rateLimit: child.rateLimit,
      expectProxyHeader: false,
      trace: tracer.enabled,
      framing: 'telnet',
      web: child.web,
    };
  }

  private rememberUnknown(pid: number): void {
    this.reapedElsewhere.add(pid);
    if (this.reapedElsewhere.size <= MAX_REMEMBERED_UNKNOWN) return;
    for (const oldest of this.reapedElsewhere) {
      this.reapedElsewhere.delete(oldest);
      return;
    }
  }

  private trace(text: string): void {
    if (this.options.tracer.enabled) this.options.tracer.line('parent', this.options.parentPid, text);
  }
}

/** `signal SIGKILL` or `code 0`. */
export function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `signal ${posix.signalName(status.signal)}` : `code ${status.code}`;
}

/**
 * Makes `pid` the kernel's choice over the parent when memory runs out: the OOM killer
 * takes the process with the highest score, which would otherwise be the parent (the
 * largest), and with it every client. A child's score is inherited by what it forks.
 */
function killFirst(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(CHILD_OOM_SCORE_ADJ));
  } catch {
    // Not Linux, or /proc is not ours: the kernel's default choice stands.
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    posix.kill(pid, signal);
  } catch {
    // ESRCH: it has exited already and waits to be reaped.
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** A synchronous sleep: the loop never yields to the event loop, so no setTimeout here. */
function sleepMs(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

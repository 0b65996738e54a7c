/**
 * The parent's handle on the zygote (src/zygote/zygote-process.ts): a copy of the
 * parent, forked once at start, whose only job is to fork the per-connection children. It forks with clone(CLONE_PARENT), so each child is
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
import { readFileSync } from 'node:fs';
import { HANDOFF_BYTE, HANDOFF_PROXY_BIT } from '../child/spare.js';
import * as posix from '../posix/index.js';
import type { Framing } from '../contracts.js';
import { MAX_SPARES_ASKED, runZygote, type PlanFor } from '../zygote/zygote-process.js';
import { messageOf } from '../log.js';

/**
 * How long the zygote may go without answering while spares are owed (a fork takes a
 * few ms). Longer, and if it is stopped (or gone) the parent gives up on it and forks
 * children itself rather than leave newcomers waiting; if it still runs, the machine
 * is busy, and the parent waits for as long as the zygote gets the CPU now and then.
 */
export const SPARE_WAIT_MS = 200;
/**
 * A zygote that owes spares and has had no CPU time for this long is stuck (blocked for
 * good): the parent gives up on it too. One that has had some is only starved by a busy
 * machine. Giving up on it would not help: the parent would fork that client's child
 * itself and start a new zygote, two forks of a parent that may hold thousands of
 * connections. Every 5 s in a storm, that ran the machine out of memory (docs/bench.md,
 * "The peers at 10,000").
 */
export const SPARE_STUCK_MS = 5000;
/** However busy the machine, a zygote that has sent no spare for this long is given up on (one that spins). */
export const SPARE_GIVE_UP_MS = 60_000;
/** How often a late zygote's state is looked at, between the two. */
const LATE_CHECK_MS = 50;

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
   * Parent <-> zygote: the parent asks for spares (one byte each); the zygote answers
   * each with its pid (int32) carrying the parent's end of the spare's hand-off socket.
   */
  private controlFd = -1;
  pid = 0;
  /** Spares asked for and not answered yet. */
  private asked = 0;
  /** Spares received and not handed a client yet (more came than clients waited). */
  private readonly ready: Spare[] = [];
  /** Since when (ms since the epoch) the zygote owes spares and has not answered; 0: it owes none. */
  private owingSince = 0;
  /** When a spare was used and the next not asked for yet (ms since the epoch); 0: none owed. */
  private owedSince = 0;
  /** While it is late: its CPU time (clock ticks) when last looked at, and since when (ms since the epoch) it is that. */
  private cpuTicks = -1;
  private cpuTicksSince = 0;
  /** What goes with a client's socket to its spare: how the client speaks, and whether a PROXY header comes first. */
  private readonly handoffByte = [Buffer.from([0]), Buffer.from([0])].map((_, proxy) => ({
    telnet: Buffer.from([HANDOFF_BYTE.telnet | (proxy === 1 ? HANDOFF_PROXY_BIT : 0)]),
    websocket: Buffer.from([HANDOFF_BYTE.websocket | (proxy === 1 ? HANDOFF_PROXY_BIT : 0)]),
  }));
  private readonly asks = Buffer.alloc(MAX_SPARES_ASKED, 1);
  private readonly reply = Buffer.alloc(4);

  /**
   * Forks the zygote, which forks a first spare at once. `inheritedFds` are the
   * parent's descriptors the zygote must not keep (the listening socket, the pipe's
   * read end, clients' sockets).
   */
  start(parentPid: number, inheritedFds: readonly number[], planFor: PlanFor): number {
    const [control, itsControl] = posix.socketpair();
    let pid: number;
    try {
      pid = posix.fork(runZygote, parentPid, [...inheritedFds, control], itsControl, planFor);
    } catch (error) {
      // EAGAIN at the process limit: the next connection tries again, and each try would
      // otherwise leave both ends open: two descriptors a connection, until EMFILE.
      posix.close(control);
      posix.close(itsControl);
      throw error;
    }
    posix.close(itsControl);
    try {
      posix.setSignalOnReadable(control, 'SIGUSR1'); // a spare's arrival wakes the parent's wait
    } catch (error) {
      posix.close(control); // the zygote reads end of file and exits; the reaper takes it
      throw error;
    }
    this.adopt(control, pid);
    return pid;
  }

  /**
   * Takes over a zygote already running as `pid` at the other end of `controlFd`, which
   * owes its first spare (what start() does after the fork; a test plays the zygote).
   */
  adopt(controlFd: number, pid: number): void {
    this.controlFd = controlFd;
    this.pid = pid;
    this.asked = 1;
    this.owingSince = Date.now();
    this.owedSince = 0;
  }

  /** Descriptors the parent holds for the zygote, which children forked here must close. */
  fds(): number[] {
    return this.controlFd >= 0 ? [this.controlFd, ...this.ready.map((spare) => spare.handoffFd)] : [];
  }

  get running(): boolean {
    return this.controlFd >= 0;
  }

  /**
   * Hands `clientFd`, which speaks `framing`, to a spare and returns its pid. Null when no spare is here yet:
   * spares are asked for, one per waiting client (`waiting`, this one included), and
   * their arrival raises SIGUSR1; call again then. `isGone(pid)`: whether a pid has
   * already exited (a killed spare). `proxy`: the client is a trusted proxy (ChildPlan.expectProxyHeader).
   * @throws the fork's error (`EAGAIN`...) when the zygote could not fork one;
   *   `ZygoteGoneError` when it has died, or owed spares for more than SPARE_WAIT_MS.
   */
  handOff(clientFd: number, waiting: number, isGone: (pid: number) => boolean, framing: Framing = 'telnet', proxy = false): number | null {
    try {
      this.collect();
      for (let spare = this.ready.shift(); spare !== undefined; spare = this.ready.shift()) {
        this.owedSince = Date.now();
        try {
          if (!isGone(spare.pid) && this.give(spare, clientFd, this.handoffByte[proxy ? 1 : 0]?.[framing] ?? Buffer.from([HANDOFF_BYTE.telnet]))) return spare.pid;
        } finally {
          posix.close(spare.handoffFd);
        }
      }
      const late = this.owingSince === 0 ? 0 : Date.now() - this.owingSince;
      if (late > SPARE_WAIT_MS) this.checkLate(late);
      this.ask(Math.min(waiting, MAX_SPARES_ASKED) - this.asked); // no time to lose
      return null;
    } catch (error) {
      if (error instanceof ZygoteGoneError || (error as NodeJS.ErrnoException).syscall === 'clone') throw error;
      throw new ZygoteGoneError(messageOf(error));
    }
  }

  /**
   * Sends the client's socket to a spare; false when the spare cannot take it (it died
   * and is not reaped yet: EPIPE), which says nothing about the zygote.
   */
  private give(spare: Spare, clientFd: number, note: Buffer): boolean {
    try {
      posix.sendFd(spare.handoffFd, clientFd, note);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A zygote `late` ms with its spares: throws ZygoteGoneError if it is stopped or gone,
   * has had no CPU time for SPARE_STUCK_MS, or is SPARE_GIVE_UP_MS late; otherwise it is
   * only slow, and the parent waits.
   */
  private checkLate(late: number): void {
    const now = Date.now();
    const cpu = cpuTicksIfRunning(this.pid);
    if (cpu === null) throw new ZygoteGoneError(`no spare child after ${SPARE_WAIT_MS} ms (stopped or stuck?)`);
    if (cpu !== this.cpuTicks || this.cpuTicksSince < this.owingSince) {
      // It ran since the last look (or this is the first look since it began to owe).
      this.cpuTicks = cpu;
      this.cpuTicksSince = now;
    }
    if (now - this.cpuTicksSince > SPARE_STUCK_MS) throw new ZygoteGoneError(`no spare child after ${late} ms, and no CPU time for ${SPARE_STUCK_MS} ms (stuck?)`);
    if (late > SPARE_GIVE_UP_MS) throw new ZygoteGoneError(`no spare child after ${SPARE_GIVE_UP_MS} ms (spinning?)`);
  }

  /** How long until the zygote is late with the spares it owes (ms); Infinity when it owes none. */
  msUntilLate(): number {
    if (this.owingSince === 0) return Infinity;
    const late = Date.now() - this.owingSince;
    // Past SPARE_WAIT_MS a zygote that still runs is only slow (a busy machine): look again now and then.
    if (late >= SPARE_WAIT_MS && late < SPARE_GIVE_UP_MS && cpuTicksIfRunning(this.pid) !== null) return LATE_CHECK_MS;
    return Math.max(0, this.owingSince + SPARE_WAIT_MS - Date.now());
  }

  /** Takes in every answer the zygote has sent. */
  private collect(): void {
    while (this.asked > 0) {
      let message: ReturnType<typeof posix.recvFd>;
      try {
        message = posix.recvFd(this.controlFd, this.reply);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ERR_POSIX_CTRUNC') throw error;
        // Out of descriptors, the spare's socket could not be taken in (the addon closed
        // what came): that spare is lost, not the zygote. This client is refused.
        this.asked--;
        this.owingSince = this.asked > 0 ? Date.now() : 0;
        this.owedSince = Date.now();
        throw forkError(-24); // EMFILE
      }
      if (message === null) return; // no more yet
      if (message.bytes !== 4) throw new ZygoteGoneError();
      this.asked--;
      this.owingSince = this.asked > 0 ? Date.now() : 0;
      const pid = this.reply.readInt32LE(0);
      if (message.fd === null) {
        this.owedSince = Date.now(); // the next client asks again
        throw forkError(pid); // it could not fork: this client is refused
      }
      this.ready.push({ pid, handoffFd: message.fd });
    }
  }

  private ask(count: number): void {
    if (count <= 0) return;
    posix.write(this.controlFd, this.asks, 0, count);
    if (this.asked === 0) this.owingSince = Date.now();
    this.asked += count;
    this.owedSince = 0;
  }

  /**
   * Asks for the next spare once `delayMs` have passed since the last was used: the
   * fork then does not compete for the CPU with the newcomer's child, whose first
   * line is on its way. Returns how long until it is due (0: nothing owed).
   */
  askWhenDue(delayMs: number): number {
    if (this.owedSince === 0 || this.controlFd < 0) return 0;
    if (this.asked > 0 || this.ready.length > 0) {
      this.owedSince = 0; // one is here or on its way already
      return 0;
    }
    const left = this.owedSince + delayMs - Date.now();
    if (left > 0) return left;
    try {
      this.ask(1);
    } catch {
      // Gone: the reaper sees it exit, and the next connection starts a new zygote.
    }
    return 0;
  }

  /**
   * Forgets a zygote that has exited (the parent reaped it) or been given up on.
   * Closing our end of a spare's hand-off socket (received, or still in the control
   * socket) tells that spare to exit.
   */
  exited(): void {
    for (const spare of this.ready.splice(0)) posix.close(spare.handoffFd);
    if (this.controlFd >= 0) posix.close(this.controlFd);
    this.controlFd = -1;
    this.pid = 0;
    this.asked = 0;
    this.owingSince = 0;
    this.owedSince = 0;
  }
}

function forkError(negativeErrno: number): NodeJS.ErrnoException {
  const code = negativeErrno === -11 ? 'EAGAIN' : negativeErrno === -12 ? 'ENOMEM' : negativeErrno === -24 ? 'EMFILE' : `E${-negativeErrno}`;
  const error = new Error(`${code}: the zygote could not fork, clone`) as NodeJS.ErrnoException;
  error.code = code;
  error.errno = negativeErrno;
  error.syscall = 'clone';
  return error;
}

/**
 * The CPU time (user + system, clock ticks) of process `pid`, or null when it does not
 * exist or is stopped (SIGSTOP, a debugger) or a zombie: from /proc/PID/stat, whose
 * fields after the command name's closing parenthesis start with the state letter.
 */
function cpuTicksIfRunning(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'T' || state === 't' || state === 'Z' || state === 'X') return null;
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

export class ZygoteGoneError extends Error {
  constructor(detail = 'it closed its socket') {
    super(`the zygote is gone: ${detail}`);
  }
}

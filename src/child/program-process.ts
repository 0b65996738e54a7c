/**
 * One helper program's process over its life and its restarts (the Redis link, the
 * password hasher): started with startProgram(), ready when it says so, down when it
 * exits or cannot be started, started again after a delay that doubles up to a most
 * (back to the first once it stayed up STABLE_MS). What is lost or kept across a
 * restart is the owner's business (cluster.ts, hasher.ts); this holds the process.
 */
import type { ExitStatus } from '../contracts.js';
import * as posix from '../posix/index.js';
import { startProgram, type ProgramStart } from './start-program.js';

/** A program that stayed up this long resets the restart backoff. */
export const STABLE_MS = 30_000;

export interface ProgramSettings extends Omit<ProgramStart, 'pipeWriteFd' | 'env'> {
  /** Its environment's settings, read again at each start. */
  env: () => Record<string, string>;
  /** The first delay before a restart, and the most it doubles up to. */
  restartFirstMs: number;
  restartMaxMs: number;
}

export class ProgramProcess {
  /** 'starting' until its first ready record; 'down' before start() and while it waits to restart. */
  state: 'starting' | 'ready' | 'down' = 'down';
  /** Whether any of its processes was ready once: only then is one that dies restarted. */
  everReady = false;
  /** The current process, or 0 when down. */
  pid = 0;
  /** The parent's end of its fd 0 (non-blocking), or -1 when down. */
  inputFd = -1;
  /** Every process started and not yet forgotten: its last records may still be in the pipe after its exit. */
  private readonly pids = new Set<number>();
  private pipeWriteFd = -1;
  private track: (pid: number) => void = () => {};
  private restartAt = 0;
  private restartDelay: number;
  private readySince = 0;
  private stopped = false;

  constructor(private readonly settings: ProgramSettings) {
    this.restartDelay = settings.restartFirstMs;
  }

  get starting(): boolean {
    return this.state === 'starting';
  }

  owns(pid: number): boolean {
    return this.pids.has(pid);
  }

  /** A process whose records can no longer come (the pipe was read to its end after its exit). */
  forget(pid: number): void {
    this.pids.delete(pid);
  }

  fds(): number[] {
    return this.inputFd >= 0 ? [this.inputFd] : [];
  }

  /** The first start; `track` registers each process, so the loop reaps it. Throws as start() does. */
  begin(pipeWriteFd: number, track: (pid: number) => void): void {
    this.pipeWriteFd = pipeWriteFd;
    this.track = track;
    this.start();
  }

  /** Starts a process; throws (EMFILE, EAGAIN, ...) when it cannot, and is then still down. */
  start(): void {
    const { pid, inputFd } = startProgram({ ...this.settings, env: this.settings.env(), pipeWriteFd: this.pipeWriteFd });
    this.pid = pid;
    this.inputFd = inputFd;
    this.pids.add(pid);
    this.track(pid);
    this.state = 'starting';
  }

  /** It said it is ready. False (and nothing changes) when `pid` is not the current process. */
  ready(pid: number): boolean {
    if (pid !== this.pid || pid === 0) return false;
    this.state = 'ready';
    this.everReady = true;
    this.readySince = Date.now();
    return true;
  }

  /** How the current process ended, in words (`code 1`, `signal SIGKILL`); null when `status` is another's. */
  exited(status: ExitStatus): string | null {
    if (status.pid !== this.pid || this.pid === 0) return null;
    return status.signal !== null ? `signal ${posix.signalName(status.signal)}` : `code ${status.code}`;
  }

  /**
   * Down: its input closed, and once it had been ready, a restart scheduled. Returns the
   * delay until that restart in ms, or null when none is (it never was ready: the server
   * does not start; or stop() was called).
   */
  down(): number | null {
    if (this.inputFd >= 0) posix.close(this.inputFd);
    this.inputFd = -1;
    this.pid = 0;
    this.state = 'down';
    if (!this.everReady || this.stopped) return null;
    if (Date.now() - this.readySince > STABLE_MS) this.restartDelay = this.settings.restartFirstMs;
    const delay = this.restartDelay;
    this.restartAt = Date.now() + delay;
    this.restartDelay = Math.min(delay * 2, this.settings.restartMaxMs);
    return delay;
  }

  /** Whether a process should be started now: down after being ready, its delay over, not stopped. */
  restartDue(now: number): boolean {
    return this.state === 'down' && this.everReady && !this.stopped && now >= this.restartAt;
  }

  /** No more restarts (at shutdown, the server SIGTERMs every child, this one too). */
  stop(): void {
    this.stopped = true;
  }
}

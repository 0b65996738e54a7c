/**
 * The parent's side of the password hasher: starts the hasher program (fork() +
 * execve(), as the Redis link), writes it each request, and hands each answer to
 * whoever asked, on a later loop turn. The loop never waits for it. Requests are
 * bounded (a full queue is refused, never dropped); a hasher that dies, or answers
 * nothing for STUCK_MS while requests wait, is restarted, and the requests it had
 * taken are failed with a reason. A password is only ever in a request's record,
 * written to the hasher's pipe and then let go; nothing here logs or traces one.
 */
import { fileURLToPath } from 'node:url';
import { startProgram } from '../child/start-program.js';
import type { ExitStatus, PasswordAnswer, PasswordHasher, Sidecar } from '../contracts.js';
import { messageOf, type Logger, type LogLevel } from '../log.js';
import * as posix from '../posix/index.js';
import { RecordType, type PipeRecord } from '../protocol/record.js';
import { decodeFromHasher, encodeHasherRecord, HASHER_NAME, type FromHasher, type ToHasher } from './protocol.js';

/** The hasher program: dist/hasher/hasher-process.js, beside this file. */
const HASHER_SCRIPT = fileURLToPath(new URL('./hasher-process.js', import.meta.url));
/** Requests asked and not yet answered, at most; past this the server is busy. */
export const MAX_WAITING_REQUESTS = 32;
/** Waiting requests and no answer for this long: the hasher is stuck (stopped, looping), so it is killed and restarted. */
const STUCK_MS = 10_000;
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 5_000;
/** A hasher that stayed up this long resets the restart backoff. */
const STABLE_MS = 30_000;

/** Why a request got no answer: the words the person waiting sees. */
const LOST = 'the password checker stopped';
const FAILED = 'the password check failed';

/** What a waiting request gets: the hasher's answer, or why there is none. */
type Reply = (reply: FromHasher | string) => void;

interface Request {
  /** Its record until written to the hasher's pipe; then null, so the password goes with it. */
  record: Buffer | null;
  reply: Reply;
}

export class Hasher implements Sidecar, PasswordHasher {
  readonly name = 'the password hasher';
  failure: string | null = null;
  private state: 'starting' | 'ready' | 'down' = 'down';
  private everReady = false;
  private stopped = false;
  private pid = 0;
  /** Every hasher process not yet given up on: its last answers may still be in the pipe after its exit. */
  private readonly pids = new Set<number>();
  private inputFd = -1;
  private pipeWriteFd = -1;
  private track: (pid: number) => void = () => {};
  /** Why the last hasher died, until its unanswered requests are failed (after the pipe is read). */
  private died: { pid: number; why: string } | null = null;
  private restartAt = 0;
  private restartDelay = RESTART_FIRST_MS;
  private readySince = 0;
  private nextId = 1;
  /** Waiting requests, oldest first. */
  private readonly requests = new Map<number, Request>();
  /** When the hasher last answered, or was given work while it had none. */
  private progressAt = 0;

  constructor(private readonly log: Logger, private readonly logLevel: LogLevel) {}

  get starting(): boolean {
    return this.state === 'starting';
  }

  owns(pid: number): boolean {
    return this.pids.has(pid);
  }

  fds(): number[] {
    return this.inputFd >= 0 ? [this.inputFd] : [];
  }

  // ------------------------------------------------------- for the chat

  hash(password: string, answer: (result: PasswordAnswer<string>) => void): boolean {
    return this.ask((id) => ({ id, op: 'hash', password }), (reply) => {
      answer(typeof reply === 'string' ? { ok: false, why: reply } : reply.t === 'hashed' ? { ok: true, value: reply.hash } : { ok: false, why: FAILED });
    });
  }

  verify(password: string, stored: string, answer: (result: PasswordAnswer<boolean>) => void): boolean {
    return this.ask((id) => ({ id, op: 'verify', password, stored }), (reply) => {
      answer(typeof reply === 'string' ? { ok: false, why: reply } : reply.t === 'verified' ? { ok: true, value: reply.ok } : { ok: false, why: FAILED });
    });
  }

  private ask(request: (id: number) => ToHasher, reply: Reply): boolean {
    if (this.requests.size >= MAX_WAITING_REQUESTS || this.stopped) return false;
    const id = this.nextId++;
    this.requests.set(id, { record: encodeHasherRecord(posix.getpid(), request(id)), reply });
    this.flush();
    return true;
  }

  // ------------------------------------------------------- the process

  start(pipeWriteFd: number, track: (pid: number) => void): void {
    this.pipeWriteFd = pipeWriteFd;
    this.track = track;
    this.spawn();
  }

  private spawn(): void {
    try {
      const { pid, inputFd } = startProgram({ name: HASHER_NAME, script: HASHER_SCRIPT, what: this.name, pipeWriteFd: this.pipeWriteFd, env: { POSIX_CHAT_LOG_LEVEL: this.logLevel } });
      this.pid = pid;
      this.inputFd = inputFd;
    } catch (error) {
      return this.down(0, `could not start: ${messageOf(error)}`);
    }
    this.pids.add(this.pid);
    this.track(this.pid);
    this.state = 'starting';
    this.log.debug(`password hasher started (pid ${this.pid})`);
    this.flush(); // what waited while it was down
  }

  onExit(status: ExitStatus): void {
    if (status.pid !== this.pid) return;
    const how = status.signal !== null ? `signal ${posix.signalName(status.signal)}` : `code ${status.code}`;
    this.down(status.pid, `exited with ${how}`);
  }

  private down(pid: number, why: string): void {
    if (this.inputFd >= 0) posix.close(this.inputFd);
    this.inputFd = -1;
    this.pid = 0;
    this.state = 'down';
    if (!this.everReady) {
      this.failure = `${this.name} ${why} before it was ready`;
      return;
    }
    this.died = { pid, why };
    if (Date.now() - this.readySince > STABLE_MS) this.restartDelay = RESTART_FIRST_MS;
    this.restartAt = Date.now() + this.restartDelay;
    this.log.warn(`password hasher ${why}; restarting it in ${this.restartDelay} ms`);
    this.restartDelay = Math.min(this.restartDelay * 2, RESTART_MAX_MS);
  }

  /**
   * Every loop turn: once the pipe has been read to its end (so every answer a dead
   * hasher wrote has been seen), fail what it took and did not answer; restart it when
   * its time comes, kill a stuck one, and write what waits.
   */
  tick(pipeDrained: boolean): void {
    const now = Date.now();
    if (this.died !== null && pipeDrained) this.failTaken();
    if (this.state === 'down' && this.everReady && !this.stopped && now >= this.restartAt) this.spawn();
    if (this.pid !== 0 && this.taken() > 0 && now - this.progressAt > STUCK_MS) {
      this.log.warn(`password hasher (pid ${this.pid}) answered nothing for ${STUCK_MS / 1000} s; killing it`);
      posix.kill(this.pid, 'SIGKILL'); // its exit is reaped as any other: restarted, its requests failed
      this.progressAt = now;
    }
    this.flush();
  }

  /**
   * The requests a dead hasher had read, or may have: failed, each told why. When none
   * could be started (pid 0), every waiting request: none would be answered soon.
   */
  private failTaken(): void {
    const died = this.died;
    this.died = null;
    if (died === null) return;
    this.pids.delete(died.pid);
    const failed = [...this.requests].filter(([, request]) => request.record === null || died.pid === 0);
    for (const [id] of failed) this.requests.delete(id);
    if (failed.length > 0) this.log.warn(`password hasher: ${failed.length} request(s) failed (${died.why})`);
    for (const [, request] of failed) this.reply(request, LOST);
  }

  /** Requests written to the hasher and not answered. */
  private taken(): number {
    let count = 0;
    for (const request of this.requests.values()) if (request.record === null) count++;
    return count;
  }

  /** Writes the waiting requests while the hasher's pipe takes them (each record whole: atomic). */
  private flush(): void {
    if (this.inputFd < 0) return;
    for (const request of this.requests.values()) {
      if (request.record === null) continue;
      if (this.taken() === 0) this.progressAt = Date.now(); // it has work again: the stuck clock starts now
      let written: number | null;
      try {
        written = posix.write(this.inputFd, request.record);
      } catch {
        return; // EPIPE: it is gone; its exit will be reaped, and it restarts
      }
      if (written === null) return; // its pipe is full: the next turn
      request.record = null;
    }
  }

  /** At shutdown the server SIGTERMs every child, the hasher too. */
  stop(): void {
    this.stopped = true;
  }

  // ----------------------------------------------------- from the hasher

  onRecord(record: PipeRecord): void {
    const message = record.type === RecordType.hasher ? decodeFromHasher(record.data) : null;
    if (message === null) return this.log.error(`unreadable record (type ${record.type}) from the password hasher (pid ${record.pid})`);
    if (message.t === 'ready') {
      if (record.pid !== this.pid) return;
      this.state = 'ready';
      this.everReady = true;
      this.readySince = Date.now();
      return;
    }
    const request = this.requests.get(message.id);
    if (request === undefined) return; // failed already, when its hasher died
    this.requests.delete(message.id);
    this.progressAt = Date.now();
    this.reply(request, message);
  }

  private reply(request: Request, reply: FromHasher | string): void {
    try {
      request.reply(reply);
    } catch (error) {
      this.log.error(`password hasher: handling an answer failed: ${messageOf(error)}`);
    }
  }
}

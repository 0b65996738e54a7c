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
import { ProgramProcess } from '../child/program-process.js';
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
  private stopped = false;
  /** The hasher's process; a dead one stays known (owns()) until its unanswered requests are failed. */
  private readonly program: ProgramProcess;
  /** Why the last hasher died, until its unanswered requests are failed (after the pipe is read). */
  private died: { pid: number; why: string } | null = null;
  private nextId = 1;
  /** Waiting requests, oldest first. */
  private readonly requests = new Map<number, Request>();
  /** When the hasher last answered, or was given work while it had none. */
  private progressAt = 0;

  constructor(private readonly log: Logger, logLevel: LogLevel) {
    this.program = new ProgramProcess({
      name: HASHER_NAME,
      script: HASHER_SCRIPT,
      what: this.name,
      env: () => ({ POSIX_CHAT_LOG_LEVEL: logLevel }),
      restartFirstMs: RESTART_FIRST_MS,
      restartMaxMs: RESTART_MAX_MS,
    });
  }

  get starting(): boolean {
    return this.program.starting;
  }

  owns(pid: number): boolean {
    return this.program.owns(pid);
  }

  fds(): number[] {
    return this.program.fds();
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
    this.spawn(() => this.program.begin(pipeWriteFd, track));
  }

  private spawn(start: () => void = () => this.program.start()): void {
    try {
      start();
    } catch (error) {
      return this.down(0, `could not start: ${messageOf(error)}`);
    }
    this.log.debug(`password hasher started (pid ${this.program.pid})`);
    this.flush(); // what waited while it was down
  }

  onExit(status: ExitStatus): void {
    const how = this.program.exited(status);
    if (how !== null) this.down(status.pid, `exited with ${how}`);
  }

  private down(pid: number, why: string): void {
    const delay = this.program.down();
    if (!this.program.everReady) {
      this.failure = `${this.name} ${why} before it was ready`;
      return;
    }
    this.died = { pid, why };
    if (delay !== null) this.log.warn(`password hasher ${why}; restarting it in ${delay} ms`);
  }

  /**
   * Every loop turn: once the pipe has been read to its end (so every answer a dead
   * hasher wrote has been seen), fail what it took and did not answer; restart it when
   * its time comes, kill a stuck one, and write what waits.
   */
  tick(pipeDrained: boolean): void {
    const now = Date.now();
    if (this.died !== null && pipeDrained) this.failTaken();
    if (this.program.restartDue(now)) this.spawn();
    const pid = this.program.pid;
    if (pid !== 0 && this.taken() > 0 && now - this.progressAt > STUCK_MS) {
      this.log.warn(`password hasher (pid ${pid}) answered nothing for ${STUCK_MS / 1000} s; killing it`);
      posix.kill(pid, 'SIGKILL'); // its exit is reaped as any other: restarted, its requests failed
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
    this.program.forget(died.pid);
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
    const inputFd = this.program.inputFd;
    if (inputFd < 0) return;
    for (const request of this.requests.values()) {
      if (request.record === null) continue;
      if (this.taken() === 0) this.progressAt = Date.now(); // it has work again: the stuck clock starts now
      let written: number | null;
      try {
        written = posix.write(inputFd, request.record);
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
    this.program.stop();
  }

  // ----------------------------------------------------- from the hasher

  onRecord(record: PipeRecord): void {
    const message = record.type === RecordType.hasher ? decodeFromHasher(record.data) : null;
    if (message === null) return this.log.error(`unreadable record (type ${record.type}) from the password hasher (pid ${record.pid})`);
    if (message.t === 'ready') {
      this.program.ready(record.pid);
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

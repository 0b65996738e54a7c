/**
 * The parent's side of the Redis link: starts the link program (fork + execve),
 * restarts it when it dies, writes it what to publish, and hands the chat what
 * other servers said. Nothing is lost across a link restart: events stay queued
 * here until the link acks them, and the new link resumes reading the stream
 * after the last id this side saw. Duplicates (an event published twice around a
 * failure) are dropped by their origin's sequence number.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ProgramProcess } from '../child/program-process.js';
import type { ClusterListener, ClusterPort, ExitStatus, SharedDataSide, SharedLink, Sidecar } from '../contracts.js';
import {
  chunks,
  decodeFromLink,
  encodeLinkRecord,
  fitEvent,
  PRESENCE_CHUNK,
  type ChatEvent,
  type Presence,
  type SharedWrite,
  type ToLink,
} from './protocol.js';
import type { Logger, LogLevel } from '../log.js';
import { messageOf } from '../log.js';
import * as posix from '../posix/index.js';
import type { PipeRecord } from '../protocol/record.js';

/** The link program: dist/redis-link.js, beside this file. */
const LINK_SCRIPT = fileURLToPath(new URL('./redis-link.js', import.meta.url));
/** The link's name in ps until execve() gives it node's. */
const LINK_NAME = 'posix-link';
/** Events kept for a link that is down; past this the oldest are dropped (and logged). */
export const MAX_UNACKED_EVENTS = 50_000;
const RESTART_FIRST_MS = 250;
const RESTART_MAX_MS = 10_000;
/**
 * Seconds a server stays present in Redis after its last refresh (every third of it):
 * a server killed outright drops out of the others' /who *, and frees its nicks, within this and a third.
 */
export const PRESENCE_TTL_SECONDS = 6;
/**
 * How far below the highest sequence number seen from a server a duplicate can be: a
 * server's events come again only around a failure, a batch or two of its link's
 * (PUBLISH_BATCH in link-publish.ts) at most. A number further below is not a duplicate
 * but a fresh start: either that server's numbers, or a forged entry in Redis that had
 * claimed a huge one, which so silences a server for this many events at most.
 */
export const DUPLICATE_WINDOW = 1000;
/** The most servers whose sequence numbers are kept; past it the one heard of first is forgotten. */
export const MAX_TRACKED_SERVERS = 1000;

export interface ClusterSettings {
  /** redis:// or rediss://, maybe with a user and password (never logged). */
  url: string;
  /** A PEM file of certificate authorities for rediss://; '' for Node's own. */
  caFile: string;
  /** This server's name in /who *; '' until the CLI knows its address (HOST:PORT by default). */
  serverName: string;
  /** Seconds a server stays present after it stops refreshing (so: how fast a dead one drops out). */
  presenceTtl: number;
  logLevel: LogLevel;
  log: Logger;
}

/** Ask the link for the next block of guest numbers when fewer than this many are left. */
const GUEST_REFILL_AT = 50;

export class Cluster implements Sidecar, ClusterPort, SharedLink {
  readonly name = 'the Redis link';
  /** Unique to this server process: another server start, even with the same name, is another instance. */
  readonly instance = randomBytes(6).toString('hex');
  private listener: ClusterListener | null = null;
  private shared: SharedDataSide | null = null;
  localUsers: () => Presence[] = () => [];

  /** Why the first link failed, when it did: the server does not start. */
  failure: string | null = null;
  /** The link program's process. */
  private readonly program: ProgramProcess;

  private seq = 0;
  /** Published events the link has not acked yet, oldest first. */
  private unacked: { seq: number; record: Buffer }[] = [];
  /** Records for the current link process not yet written (its pipe was full). */
  private writeQueue: Buffer[] = [];
  /** Claims sent and not answered, by lower-cased nick: sent again to a new link. */
  private readonly claims = new Map<string, string>();
  /**
   * Highest sequence number seen from each other server (and apart, from its private
   * messages to us, which come through our inbox in an order of their own).
   */
  private readonly seen = new Map<string, number>();
  private lastStreamId = '';
  private guests = { next: 1, last: 0, asked: false };

  constructor(readonly settings: ClusterSettings) {
    this.program = new ProgramProcess({
      name: LINK_NAME,
      script: LINK_SCRIPT,
      what: this.name,
      // Read at each start: a new link resumes the stream where this side stopped reading it.
      env: () => ({
        POSIX_CHAT_REDIS: settings.url,
        POSIX_CHAT_REDIS_CA: settings.caFile,
        POSIX_CHAT_LINK_INSTANCE: this.instance,
        POSIX_CHAT_LINK_SERVER: settings.serverName,
        POSIX_CHAT_LINK_FROM: this.lastStreamId,
        POSIX_CHAT_LINK_TTL: String(settings.presenceTtl),
        POSIX_CHAT_LOG_LEVEL: settings.logLevel,
      }),
      restartFirstMs: RESTART_FIRST_MS,
      restartMaxMs: RESTART_MAX_MS,
    });
  }

  attach(listener: ClusterListener): void {
    this.listener = listener;
  }

  attachShared(side: SharedDataSide): void {
    this.shared = side;
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

  // ------------------------------------------------------- the process

  start(pipeWriteFd: number, track: (pid: number) => void): void {
    this.spawn(() => this.program.begin(pipeWriteFd, track));
  }

  /** Starts the link program (src/child/start-program.ts: fork() + execve(), the pipes on fds 0 and 3). */
  private spawn(start: () => void = () => this.program.start()): void {
    try {
      start();
    } catch (error) {
      // EMFILE/ENFILE (a flood of clients holds every descriptor), EAGAIN: the link is
      // down and tried again later; the local chat goes on. At the server's start, it does not start.
      const why = `could not start: ${messageOf(error)}`;
      if (!this.program.everReady) this.failure = `${this.name} ${why}`;
      this.linkDown(why);
      return;
    }
    this.settings.log.debug(`redis link started (pid ${this.program.pid})`);
    // First who is here, then everything not yet acked, in order, then open claims.
    const users = this.localUsers();
    const pieces = chunks(users, PRESENCE_CHUNK);
    this.writeQueue = pieces.map((piece, i) => this.encode({ t: 'users', users: piece, last: i === pieces.length - 1 }));
    for (const { record } of this.unacked) this.writeQueue.push(record);
    for (const nick of this.claims.values()) this.writeQueue.push(this.encode({ t: 'claim', nick }));
    for (const write of this.shared?.unwritten() ?? []) this.writeQueue.push(this.encode(write));
    this.flush();
  }

  onExit(status: ExitStatus): void {
    const how = this.program.exited(status);
    if (how === null) return;
    if (!this.program.everReady) {
      // It printed why (Redis unreachable) itself when it exited with 1.
      this.failure = status.code === 1 ? '' : `the Redis link exited with ${how} before it was ready`;
    }
    this.linkDown(`exited with ${how}`);
  }

  private linkDown(why: string): void {
    const delay = this.program.down();
    this.writeQueue = [];
    if (delay !== null) this.settings.log.warn(`redis link ${why}; restarting it in ${delay} ms (local chat goes on; ${this.unacked.length} event(s) wait)`);
  }

  /** Every loop turn: restart a dead link when its time comes, and write what waits. */
  tick(): void {
    if (this.program.restartDue(Date.now())) this.spawn();
    this.flush();
  }

  /** Writes queued records while the link's pipe takes them (each record whole: <= PIPE_BUF is atomic). */
  private flush(): void {
    const inputFd = this.program.inputFd;
    for (let next = this.writeQueue[0]; next !== undefined && inputFd >= 0; next = this.writeQueue[0]) {
      let written: number | null;
      try {
        written = posix.write(inputFd, next);
      } catch {
        return; // EPIPE: the link is gone; its exit will be reaped and it restarts
      }
      if (written === null) return;
      this.writeQueue.shift();
    }
  }

  private encode(message: ToLink): Buffer {
    return encodeLinkRecord(posix.getpid(), message);
  }

  private send(message: ToLink): void {
    if (this.program.state === 'down') return; // the next link gets what matters (unacked, claims) at its start
    this.writeQueue.push(this.encode(message));
    this.flush();
  }

  /** At shutdown the server SIGTERMs every child, the link too: it says goodbye to Redis itself. */
  stop(): void {
    this.program.stop(); // no restart
  }

  // ----------------------------------------------------- from the link

  onRecord(record: PipeRecord): void {
    const message = decodeFromLink(record.data);
    if (message === null) {
      this.settings.log.error(`unreadable message from the redis link (pid ${record.pid})`);
      return;
    }
    const listener = this.listener;
    switch (message.t) {
      case 'ready':
        if (!this.program.ready(record.pid)) return; // a link replaced since
        if (this.lastStreamId === '') this.lastStreamId = message.from;
        if (this.guests.next > this.guests.last) this.guests = { next: message.guests[0], last: message.guests[1], asked: false };
        return;
      case 'ev':
        if (!message.old) {
          if (message.inbox !== true) this.lastStreamId = message.id;
          if (this.isDuplicate(message.inbox === true ? `${message.o}:inbox` : message.o, message.s)) return;
        }
        listener?.onRemoteEvent(message.o, message.srv, message.ev, message.old === true);
        return;
      case 'ack':
        while ((this.unacked[0]?.seq ?? Infinity) <= message.seq) this.unacked.shift();
        return;
      case 'present':
        listener?.onPresence(message.reset, message.o, message.srv, message.users);
        return;
      case 'gone':
        this.seen.delete(message.o);
        this.seen.delete(`${message.o}:inbox`);
        listener?.onServerGone(message.o);
        return;
      case 'lost':
        listener?.onNickLost(message.nick);
        return;
      case 'claimed':
        this.claims.delete(message.nick.toLowerCase());
        listener?.onClaimed(message.nick, message.ok);
        return;
      case 'guests':
        this.guests = { next: message.guests[0], last: message.guests[1], asked: false };
        return;
      case 'written':
      case 'snapshot':
      case 'changed':
        this.shared?.fromLink(message);
        return;
    }
  }

  /**
   * Whether event `s` from `from` was delivered already (published twice around a
   * failure); notes it otherwise. 0: not numbered, never a duplicate.
   */
  private isDuplicate(from: string, s: number): boolean {
    if (s === 0) return false;
    const last = this.seen.get(from);
    if (last !== undefined && s <= last && last - s < DUPLICATE_WINDOW) return true;
    if (last === undefined && this.seen.size >= MAX_TRACKED_SERVERS) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(from, s);
    return false;
  }

  // ------------------------------------------------------ for the chat

  /** Sends `ev` to the other servers; `to`: a private message, for that server (its instance) only. */
  publish(ev: ChatEvent, to?: string): void {
    const seq = ++this.seq;
    const record = this.encode({ t: 'pub', seq, ev: fitEvent(ev), ...(to !== undefined ? { to } : {}) });
    this.unacked.push({ seq, record });
    if (this.unacked.length > MAX_UNACKED_EVENTS) {
      this.unacked.shift();
      if (seq % 1000 === 0) this.settings.log.warn(`redis link down too long: dropping the oldest unpublished events`);
    }
    if (this.program.state !== 'down') {
      this.writeQueue.push(record);
      this.flush();
    }
  }

  sendShared(write: SharedWrite): void {
    this.send(write);
  }

  claim(nick: string): void {
    this.claims.set(nick.toLowerCase(), nick);
    this.send({ t: 'claim', nick });
  }

  release(nick: string): void {
    this.send({ t: 'release', nick });
  }

  get serverName(): string {
    return this.settings.serverName;
  }

  nextGuest(): number {
    const { next, last } = this.guests;
    if (last - next < GUEST_REFILL_AT && !this.guests.asked) {
      this.guests.asked = true;
      this.send({ t: 'guests' });
    }
    this.guests.next++;
    return next;
  }
}

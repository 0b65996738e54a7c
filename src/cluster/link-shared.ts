/**
 * The Redis link's share of the cluster's data (accounts, bans, mutes, ignores,
 * topics, audit): writes the parent's changes to Redis in order, each with a notice on
 * the change stream, and acks them; sends the parent a snapshot of it all at start and
 * after each reconnect (holding its writes meanwhile, and sending again after it what
 * changed while it was read); reads the change stream and sends the parent each field
 * another server (or the admin command) changed, read again from Redis and checked.
 * Runs in the link process (src/cluster/redis-link.ts).
 */
import type { Redis } from 'ioredis';
import type { SharedItem } from '../store/store.js';
import { ThrottledLog, messageOf, type Logger } from '../log.js';
import { RETRY_MS, sleep } from './link-publish.js';
import type { FromLink, SharedWrite } from './protocol.js';
import { CHANGES_KEY, type LinkSettings } from './redis-schema.js';
import { readNotice, SHARED_KINDS, type SharedKind } from './shared-input.js';
import { fieldOf, pruneExpired, readAllShared, readField, writeShared, type Expired } from './shared-redis.js';

/** JSON bytes of items per record to the parent: well below a record, with room for the wrapper. */
const PIECE_BYTES = 3000;
const READ_BLOCK_MS = 2000;
const READ_COUNT = 500;
const TROUBLE_LOG_MS = 10_000;
/** How often a stopping link looks whether its last changes are written. */
const DRAIN_POLL_MS = 20;
/**
 * Refused entries get a log line each (an operator must see which), up to this many a
 * minute: a Redis full of forgeries cannot flood the log. The rest are counted.
 */
const REFUSAL_LINES_PER_MINUTE = 20;
const MINUTE_MS = 60_000;

/** What the shared data's work needs of the link. */
export interface SharedContext {
  readonly settings: LinkSettings;
  readonly commands: Redis;
  readonly log: Logger;
  send(message: FromLink): boolean;
  refused(what: string, error: unknown): void;
}

export class LinkShared {
  /** XREAD BLOCK holds its connection: one of its own. */
  private readonly reader: Redis;
  private readonly queue: SharedWrite[] = [];
  private writing = false;
  private started = false;
  /**
   * While a snapshot is read: the fields written or named by a notice meanwhile (by
   * `kind field`), which the snapshot may have read before they changed: read again after it.
   */
  private touched: Map<string, [SharedKind, string]> | null = null;
  /** A reconnect while a snapshot was read: another follows it. */
  private snapshotAgain = false;
  /** Where the change stream is read from; '' until the first snapshot says. */
  private lastId = '';
  private readonly readLog: ThrottledLog;
  private refusals = { total: 0, windowStart: 0, lines: 0 };

  constructor(private readonly link: SharedContext) {
    this.reader = link.commands.duplicate();
    this.reader.on('error', () => {}); // the commands connection reports the same outage
    this.readLog = new ThrottledLog(link.log, TROUBLE_LOG_MS);
  }

  /** Counts and logs an entry read from Redis and refused. */
  private drop(what: string, why: string): void {
    const r = this.refusals;
    r.total++;
    const now = Date.now();
    if (now - r.windowStart > MINUTE_MS) this.refusals = { ...r, windowStart: now, lines: 0 };
    if (this.refusals.lines++ < REFUSAL_LINES_PER_MINUTE) this.link.log.warn(`refused ${what} from Redis: ${why} (${r.total} shared entries refused since this link started)`);
  }

  /** Connected: the first snapshot, then writes may go. */
  async start(): Promise<void> {
    await this.reader.connect();
    await this.snapshot().catch((error: unknown) => this.link.refused('reading the shared data', error));
    this.started = true;
    void this.run();
  }

  disconnect(): void {
    this.reader.disconnect();
  }

  /** Resolves once every change queued so far is written (or refused), or after `ms`. */
  async drained(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.queue.length > 0 && this.started && Date.now() < deadline) await sleep(DRAIN_POLL_MS);
  }

  /** A change from the parent, written after those before it. */
  write(message: SharedWrite): void {
    this.queue.push(message);
    if (this.started) void this.run();
  }

  /**
   * Writes queued changes one at a time, in order, and acks each. A write Redis refuses
   * is logged and acked (it would never go, and would hold up the rest); an account
   * whose name Redis has already (registered on two servers at once) is Redis's: its
   * version goes back to the parent, as does an account one field of which was set
   * (its other fields may have changed elsewhere) or which Redis no longer has.
   */
  private async run(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      // No new write while a snapshot is read: snapshot() starts them again after.
      for (let next = this.queue[0]; next !== undefined && this.touched === null; next = this.queue[0]) {
        let taken: SharedItem | string | null = null;
        try {
          const done = await writeShared(this.link.commands, next.item, this.link.settings.instance);
          // An account made elsewhere first, or deleted meanwhile; or one field of it set: the parent takes Redis's whole row.
          if (next.item.c === 'account' && (!done || next.item.set !== undefined)) taken = await readField(this.link.commands, 'account', next.item.name.toLowerCase());
        } catch (error) {
          this.link.refused(`writing a ${next.item.c} change`, error);
        }
        this.queue.shift();
        if (next.item.c !== 'audit') this.touch(next.item.c, fieldOf(next.item));
        this.link.send({ t: 'written', seq: next.seq });
        // After the ack: the parent keeps its own value of a row it is still writing.
        if (taken !== null) this.sendChanged([taken]);
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * Everything Redis holds, checked, to the parent, which replaces its copy with it;
   * nothing when a kind could not be read whole.
   */
  async snapshot(): Promise<void> {
    if (this.touched !== null) {
      this.snapshotAgain = true;
      return;
    }
    const touched = new Map<string, [SharedKind, string]>();
    this.touched = touched;
    try {
      await this.readSnapshot();
    } finally {
      this.touched = null;
      if (this.started) void this.run();
      if (this.snapshotAgain) {
        this.snapshotAgain = false;
        this.snapshot().catch((error: unknown) => this.link.refused('reading the shared data again', error));
      }
    }
    // Changed while it was read: the snapshot may hold an older value, and replaced the parent's.
    const again: (SharedItem | string)[] = [];
    for (const [kind, field] of touched.values()) again.push(await readField(this.link.commands, kind, field));
    this.sendChanged(again);
  }

  private touch(kind: SharedKind, field: string): void {
    this.touched?.set(`${kind} ${field}`, [kind, field]);
  }

  private async readSnapshot(): Promise<void> {
    // Where the change stream ends, read first: a change made while we read comes again after.
    const newest = await this.link.commands.xrevrange(CHANGES_KEY, '+', '-', 'COUNT', 1);
    const items: SharedItem[] = [];
    const expired: Expired[] = [];
    const whole = await readAllShared(
      this.link.commands,
      Date.now(),
      (item) => items.push(item),
      (what, why) => this.drop(what, why),
      (what, error) => this.link.refused(what, error),
      SHARED_KINDS,
      expired,
    );
    if (!whole) {
      if (this.lastId === '') this.lastId = newest[0]?.[0] ?? '0-0';
      // The parent replaces its copy with a snapshot: a part of one would delete the rest.
      this.link.log.warn('the shared data in Redis could not all be read (see above): this server keeps its own copy of it, and takes the changes that come');
      return;
    }
    this.sendPieces(items, (piece, first, last) => ({ t: 'snapshot', items: piece, first, last }));
    // The snapshot has every change before `newest`: the change stream is read on from there.
    this.lastId = newest[0]?.[0] ?? '0-0';
    this.link.log.debug(`shared data: ${items.length} entries read from Redis`);
    if (expired.length > 0) await this.prune(expired);
  }

  /** Bans and mutes whose time is up leave Redis, so its hashes do not grow for ever; a failure only waits for the next snapshot. */
  private async prune(expired: readonly Expired[]): Promise<void> {
    try {
      const deleted = await pruneExpired(this.link.commands, expired);
      if (deleted > 0) this.link.log.info(`shared data: removed ${deleted} expired ban(s) and mute(s) from Redis`);
    } catch (error) {
      this.link.log.warn(`removing expired bans and mutes from Redis: ${messageOf(error)}; tried again at the next snapshot`);
    }
  }

  private sendPieces(items: readonly SharedItem[], message: (piece: SharedItem[], first: boolean, last: boolean) => FromLink): void {
    let piece: SharedItem[] = [];
    let bytes = 0;
    let first = true;
    const send = (last: boolean): void => {
      if (!this.link.send(message(piece, first, last))) this.drop('shared data', 'too big for a record');
      first = false;
      piece = [];
      bytes = 0;
    };
    for (const item of items) {
      const size = Buffer.byteLength(JSON.stringify(item));
      if (bytes + size > PIECE_BYTES && piece.length > 0) send(false);
      piece.push(item);
      bytes += size;
    }
    send(true); // the last piece: never empty, but for a snapshot of nothing
  }

  private sendChanged(items: readonly (SharedItem | string)[]): void {
    const checked = items.filter((item): item is SharedItem => typeof item !== 'string');
    if (checked.length > 0) this.sendPieces(checked, (piece) => ({ t: 'changed', items: piece }));
  }

  /** Reads the change stream until the link stops, passing each change on. */
  async readForever(stopping: () => boolean): Promise<void> {
    while (!stopping()) {
      try {
        const reply = await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', CHANGES_KEY, this.lastId === '' ? '$' : this.lastId);
        const items: (SharedItem | string)[] = [];
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.lastId = id;
            const item = await this.readChange(id, fields);
            if (item !== null) items.push(item);
          }
        }
        this.sendChanged(items);
      } catch (error) {
        if (stopping()) return;
        this.readLog.warn(`reading the shared data's changes: ${messageOf(error)}; retrying`);
        await sleep(RETRY_MS);
      }
    }
  }

  /** The item a notice names, as Redis has it now; null for our own change or one refused (counted). */
  private async readChange(id: string, fields: string[]): Promise<SharedItem | null> {
    const notice = readNotice(fields);
    if (typeof notice === 'string') {
      this.drop(`change notice ${id}`, notice);
      return null;
    }
    if (notice.o === this.link.settings.instance) return null;
    this.touch(notice.c, notice.k);
    try {
      const item = await readField(this.link.commands, notice.c, notice.k);
      if (typeof item !== 'string') return item;
      this.drop(`${notice.c} ${JSON.stringify(notice.k.slice(0, 40))}`, item);
    } catch (error) {
      this.link.refused(`reading a changed ${notice.c}`, error);
    }
    return null;
  }
}

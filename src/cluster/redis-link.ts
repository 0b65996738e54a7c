/**
 * The Redis link: a separate program (started by the parent with fork() + execve(),
 * so it is a fresh Node process with its own event loop) that joins this server to
 * the others sharing one Redis. It talks to the parent the way a child does:
 * records on the parent's pipe (fd 3) followed by SIGUSR1; the parent writes to it
 * through its stdin (fd 0).
 *
 * Delivery goes through one Redis stream: XADD this server's events, XREAD everyone
 * else's from the last id seen, so a link that lost its connection (or was restarted)
 * resumes where it stopped. Presence is a key per server with an expiry, refreshed
 * while the server lives, and a hash of its users; nicks are claimed atomically.
 */
import { Redis, type ChainableCommander } from 'ioredis';
import {
  chunks,
  decodeToLink,
  parseChatEvent,
  PRESENCE_CHUNK,
  type ChatEvent,
  type Presence,
  type ToLink,
} from './protocol.js';
import { Logger, messageOf } from '../log.js';
import { LinkPipe } from '../pipe/link-pipe.js';
import { RecordDecoder, RecordType } from '../protocol/record.js';
import { CLAIM_SCRIPT, KEY_PREFIX, nickKey, readSettings, RELEASE_SCRIPT, serverKey, STREAM_KEY, STREAM_MAX_LENGTH, usersKey, type LinkSettings } from './redis-schema.js';

const GUEST_BLOCK = 1000;
const READ_BLOCK_MS = 2000;
const READ_COUNT = 500;
const PUBLISH_BATCH = 200;
const RETRY_MS = 500;

class RedisLink {
  private readonly log: Logger;
  private readonly parent = new LinkPipe(3, process.ppid);
  private readonly commands: Redis;
  private readonly reader: Redis;
  /** This server's users, as the parent told us: what presence and 'here' say. */
  private readonly users = new Map<string, string>();
  private usersComplete = false;
  private readonly whenUsersComplete: Promise<void>;
  private usersArrived = (): void => {};
  private readonly outbox: Extract<ToLink, { t: 'pub' }>[] = [];
  private publishing = false;
  /** Other servers we have heard of, checked for liveness at every heartbeat. */
  private readonly others = new Map<string, string>();
  private lastId = '';
  lastError: Error | null = null;
  private connectedOnce = false;
  private stopping = false;

  constructor(private readonly settings: LinkSettings) {
    this.log = new Logger(settings.logLevel, (line) => process.stderr.write(line.replace(/^(\S+ \S+ +)/, '$1redis link: ')));
    this.commands = new Redis(settings.url, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: null, // a command waits out an outage instead of failing
      retryStrategy: (attempt) => this.retryDelay(attempt),
    });
    this.reader = this.commands.duplicate(); // XREAD BLOCK holds its connection
    this.whenUsersComplete = new Promise((resolve) => (this.usersArrived = resolve));
    // Kept for the one-line reason when the first connection fails; the reconnect log says the rest.
    for (const client of [this.commands, this.reader]) client.on('error', (error: Error) => (this.lastError = error));
  }

  /** Backoff 100 ms, 200 ms ... 5 s; no retry before the first connection (the server says why and exits). */
  private retryDelay(attempt: number): number | null {
    if (!this.connectedOnce || this.stopping) return null;
    const delay = Math.min(100 * 2 ** Math.min(attempt - 1, 6), 5000);
    if (attempt === 1 || delay === 5000) this.log.warn(`connection to Redis lost; reconnecting (attempt ${attempt}, next in ${delay} ms)`);
    return delay;
  }

  /** Set by stop(), which SIGTERM or the parent's going away may run at any await. */
  private isStopping(): boolean {
    return this.stopping;
  }

  async start(): Promise<void> {
    process.stdin.on('data', (chunk: Buffer) => this.fromParent(chunk));
    process.stdin.on('end', () => void this.stop('the server closed our pipe'));
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    await Promise.all([this.commands.connect(), this.reader.connect()]);
    this.connectedOnce = true;
    this.commands.on('ready', () => {
      this.log.info('reconnected to Redis; registering again and catching up from the stream');
      void this.announce().catch((error: unknown) => this.log.warn(`re-registering: ${messageOf(error)}`));
    });
    await this.whenUsersComplete;
    await this.announce();
    await this.sendSnapshot();
    this.lastId = this.settings.from !== '' ? this.settings.from : await this.sendHistory();
    this.parent.send({ t: 'ready', from: this.lastId, guests: await this.takeGuestBlock() });
    this.log.info(`connected to ${this.settings.url} as ${this.settings.server}; reading the stream after ${this.lastId}`);
    setInterval(() => void this.heartbeat(), (this.settings.presenceTtl * 1000) / 3).unref();
    this.background('publishing', this.publish());
    await this.readForever();
  }

  // ------------------------------------------------------------- parent

  private readonly decoder = new RecordDecoder(({ discardedBytes }) => this.log.error(`skipped ${discardedBytes} bad bytes from the server`));

  private fromParent(chunk: Buffer): void {
    this.decoder.push(chunk, (record) => {
      if (record.type !== RecordType.link) return;
      const message = decodeToLink(record.data);
      if (message === null) return this.log.error('unreadable message from the server');
      this.handle(message);
    });
  }

  private handle(message: ToLink): void {
    switch (message.t) {
      case 'users':
        for (const [nick, room] of message.users) this.users.set(nick, room);
        if (message.last && !this.usersComplete) {
          this.usersComplete = true;
          this.usersArrived();
        }
        return;
      case 'pub':
        this.track(message.ev);
        this.outbox.push(message);
        if (this.connectedOnce) this.background('publishing', this.publish());
        return;
      case 'claim':
        this.background(`claiming ${message.nick}`, this.claim(message.nick));
        return;
      case 'release':
        this.background(`releasing ${message.nick}`, this.commands.eval(RELEASE_SCRIPT, 1, nickKey(message.nick), this.settings.instance));
        return;
      case 'guests':
        this.background(
          'taking guest numbers',
          this.takeGuestBlock().then((guests) => this.parent.send({ t: 'guests', guests })),
        );
        return;
    }
  }

  /** The next GUEST_BLOCK guest numbers, no other server's: [first, last]. */
  private async takeGuestBlock(): Promise<[number, number]> {
    const last = await this.commands.incrby(`${KEY_PREFIX}guests`, GUEST_BLOCK);
    return [last - GUEST_BLOCK + 1, last];
  }

  /** Appends one of this server's events to the stream (`seq` 0: not numbered, never a duplicate). */
  private addEvent(pipeline: ChainableCommander, seq: number, ev: ChatEvent): void {
    const { instance, server } = this.settings;
    pipeline.xadd(STREAM_KEY, 'MAXLEN', '~', STREAM_MAX_LENGTH, '*', 'o', instance, 'srv', server, 's', seq, 'e', JSON.stringify(ev));
  }

  /**
   * Runs `work` without waiting for it. A failure (only possible when Redis answers
   * with an error: commands wait out outages) is logged, and the link exits so the
   * parent starts a fresh one, which is given every unanswered request again.
   */
  private background(what: string, work: Promise<unknown>): void {
    work.catch((error: unknown) => {
      this.log.error(`${what}: ${messageOf(error)}; restarting`);
      process.exit(EXIT_FAILED);
    });
  }

  /** Keeps `users` in step with this server's own events. */
  private track(ev: ChatEvent): void {
    if (ev.k === 'join') this.users.set(ev.nick, ev.room);
    else if (ev.k === 'move') this.users.set(ev.nick, ev.to);
    else if (ev.k === 'rename') {
      this.users.delete(ev.old);
      this.users.set(ev.nick, ev.room);
    } else if (ev.k === 'leave') this.users.delete(ev.nick);
  }

  private async claim(nick: string): Promise<void> {
    const owner = (await this.commands.eval(CLAIM_SCRIPT, 1, nickKey(nick), this.settings.instance, serverKey(''))) as string;
    this.parent.send({ t: 'claimed', nick, ok: owner === '' });
  }

  // ---------------------------------------------------------- publishing

  /**
   * XADDs queued events in order, a batch at a time (pipelined), with the presence
   * changes they imply, then acks the batch. A failed batch is sent again whole: the
   * receivers drop what they already have by its seq.
   */
  private async publish(): Promise<void> {
    if (this.publishing) return;
    this.publishing = true;
    try {
      while (this.outbox.length > 0) {
        const batch = this.outbox.slice(0, PUBLISH_BATCH);
        const pipeline = this.commands.pipeline();
        for (const { seq, ev } of batch) {
          this.addEvent(pipeline, seq, ev);
          this.presenceCommands(pipeline, ev);
        }
        const results = await pipeline.exec();
        const failed = results?.find(([error]) => error !== null);
        if (results === null || failed !== undefined) {
          this.log.warn(`publishing failed (${failed?.[0]?.message ?? 'no reply'}); retrying`);
          await sleep(RETRY_MS);
          continue;
        }
        this.outbox.splice(0, batch.length);
        const last = batch.at(-1);
        if (last !== undefined) this.parent.send({ t: 'ack', seq: last.seq });
      }
    } finally {
      this.publishing = false;
    }
  }

  private presenceCommands(pipeline: ChainableCommander, ev: ChatEvent): void {
    const users = usersKey(this.settings.instance);
    const me = this.settings.instance;
    if (ev.k === 'join') pipeline.hset(users, ev.nick, ev.room);
    else if (ev.k === 'move') pipeline.hset(users, ev.nick, ev.to);
    else if (ev.k === 'rename') {
      pipeline.hdel(users, ev.old).hset(users, ev.nick, ev.room);
      if (nickKey(ev.old) !== nickKey(ev.nick)) pipeline.eval(RELEASE_SCRIPT, 1, nickKey(ev.old), me);
    } else if (ev.k === 'leave') {
      pipeline.hdel(users, ev.nick);
      pipeline.eval(RELEASE_SCRIPT, 1, nickKey(ev.nick), me);
    }
  }

  // ------------------------------------------------------------ presence

  /**
   * (Re-)registers this server: its presence key, its users, their nicks, and a
   * `here` event so servers that dropped us while we were away see us again.
   */
  private async announce(): Promise<void> {
    const { instance, server, presenceTtl } = this.settings;
    const users = [...this.users.entries()];
    const pipeline = this.commands.multi();
    pipeline.set(serverKey(instance), server, 'EX', presenceTtl);
    pipeline.del(usersKey(instance));
    if (users.length > 0) pipeline.hset(usersKey(instance), Object.fromEntries(users));
    pipeline.expire(usersKey(instance), presenceTtl);
    for (const [nick] of users) pipeline.eval(CLAIM_SCRIPT, 1, nickKey(nick), instance, serverKey(''));
    for (const piece of chunks(users, PRESENCE_CHUNK)) this.addEvent(pipeline, 0, { k: 'here', users: piece });
    await pipeline.exec();
  }

  /** Every third of the TTL: stay present; notice servers that stopped doing so. */
  private async heartbeat(): Promise<void> {
    if (this.commands.status !== 'ready') return;
    try {
      const { instance, server, presenceTtl } = this.settings;
      await this.commands.multi().set(serverKey(instance), server, 'EX', presenceTtl).expire(usersKey(instance), presenceTtl).exec();
      for (const other of [...this.others.keys()]) {
        if ((await this.commands.exists(serverKey(other))) === 1) continue;
        this.log.info(`server ${this.others.get(other) ?? other} stopped refreshing its presence: its users are gone`);
        this.others.delete(other);
        this.parent.send({ t: 'gone', o: other });
      }
    } catch (error) {
      this.log.debug(`heartbeat: ${messageOf(error)}`);
    }
  }

  /** Who is on every other live server, for the parent's /who * and /msg. */
  private async sendSnapshot(): Promise<void> {
    let reset = true;
    let cursor = '0';
    do {
      const [next, keys] = await this.commands.scan(cursor, 'MATCH', serverKey('*'), 'COUNT', 100);
      cursor = next;
      for (const key of keys) {
        const o = key.slice(serverKey('').length);
        if (o === this.settings.instance) continue;
        const [srv, users] = await Promise.all([this.commands.get(key), this.commands.hgetall(usersKey(o))]);
        if (srv === null) continue;
        this.others.set(o, srv);
        for (const piece of chunks(Object.entries(users) as Presence[], PRESENCE_CHUNK)) {
          this.parent.send({ t: 'present', reset, o, srv, users: piece });
          reset = false;
        }
      }
    } while (cursor !== '0');
    if (reset) this.parent.send({ t: 'present', reset, o: '', srv: '', users: [] });
  }

  // ------------------------------------------------------------- reading

  /** On the server's first start: the stream's recent lines, for room history. Returns the newest id. */
  private async sendHistory(): Promise<string> {
    const entries = await this.commands.xrevrange(STREAM_KEY, '+', '-', 'COUNT', this.settings.historyEntries);
    for (const [id, fields] of entries.reverse()) this.forward(id, fields, true);
    return entries.length > 0 ? (entries[entries.length - 1] as [string, string[]])[0] : '0-0';
  }

  private async readForever(): Promise<void> {
    while (!this.stopping) {
      try {
        const reply = await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', STREAM_KEY, this.lastId);
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            this.lastId = id;
            this.forward(id, fields, false);
          }
        }
      } catch (error) {
        if (this.isStopping()) return;
        this.log.warn(`reading the stream: ${messageOf(error)}`);
        await sleep(RETRY_MS);
      }
    }
  }

  /** Passes one stream entry from another server to the parent. */
  private forward(id: string, fields: string[], old: boolean): void {
    const entry = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) entry.set(fields[i] ?? '', fields[i + 1] ?? '');
    const o = entry.get('o') ?? '';
    if (o === this.settings.instance) return; // our own event, back from the stream
    const srv = entry.get('srv') ?? '?';
    const ev = parseChatEvent(entry.get('e') ?? '');
    if (ev === null) {
      this.log.warn(`stream entry ${id} is not a posix-chat event; skipped`);
      return;
    }
    if (old && ev.k !== 'line') return; // history is lines only
    if (!old) {
      if (ev.k === 'down') this.others.delete(o);
      else this.others.set(o, srv);
    }
    const sent = this.parent.send({ t: 'ev', id, o, srv, s: Number(entry.get('s') ?? 0), ev, ...(old ? { old } : {}) });
    if (!sent) this.log.warn(`stream entry ${id} is too big for a record; skipped`);
  }

  // ------------------------------------------------------------- leaving

  /** On SIGTERM or when the server goes: tell the others, free our nicks, leave. */
  private async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info(`stopping (${why})`);
    const { instance } = this.settings;
    try {
      if (this.commands.status === 'ready') {
        const pipeline = this.commands.multi();
        for (const nick of this.users.keys()) pipeline.eval(RELEASE_SCRIPT, 1, nickKey(nick), instance);
        pipeline.del(usersKey(instance), serverKey(instance));
        this.addEvent(pipeline, 0, { k: 'down' });
        await withTimeout(pipeline.exec(), 600);
      }
    } catch (error) {
      this.log.warn(`could not say goodbye: ${messageOf(error)}`);
    }
    this.commands.disconnect();
    this.reader.disconnect();
    process.exit(0);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}

/** Exit code when Redis cannot be reached at start: the server reports it and exits 1 too. */
export const EXIT_NO_REDIS = 1;
/** Exit code after an unexpected failure while running: the parent restarts the link. */
export const EXIT_FAILED = 70;

const settings = readSettings(process.env);
const link = new RedisLink(settings);
link.start().catch((error: unknown) => {
  process.stderr.write(`posix-chat: cannot reach Redis at ${settings.url}: ${messageOf(link.lastError ?? error)}\n`);
  process.exit(EXIT_NO_REDIS);
});

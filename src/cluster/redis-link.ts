/**
 * The Redis link: a separate program (started by the parent with fork() + execve(),
 * so it is a fresh Node process with its own event loop) that joins this server to
 * the others sharing one Redis. It talks to the parent the way a child does:
 * records on the parent's pipe (fd 3) followed by SIGUSR1; the parent writes to it
 * through its stdin (fd 0).
 *
 * Delivery goes through one Redis stream: XADD this server's events, XREAD everyone
 * else's from the last id seen, so a link that lost its connection (or was restarted)
 * resumes where it stopped. Private messages go to the target server's own inbox
 * stream, deleted once read. Presence is a key per server with an expiry, refreshed
 * while the server lives, and a hash of its users; nicks are claimed atomically.
 * Everything read from Redis is checked (redis-input.ts) before the parent hears of it,
 * and no reply Redis refuses stops the link.
 */
import { readFileSync } from 'node:fs';
import { Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { LinkPresence, type LinkContext } from './link-presence.js';
import { LinkShared } from './link-shared.js';
import { addEvent, LinkPublisher, RETRY_MS, sleep } from './link-publish.js';
import { decodeToLink, type ChatEvent, type FromLink, type ToLink } from './protocol.js';
import { readEntry, type Channel } from './redis-input.js';
import {
  INBOX_TAKEN_SCRIPT,
  inboxKey,
  KEY_PREFIX,
  nickKey,
  readSettings,
  RELEASE_SCRIPT,
  serverKey,
  STREAM_KEY,
  usersKey,
  type LinkSettings,
} from './redis-schema.js';
import { redactUrl } from './redis-url.js';
import { Logger, messageOf, ThrottledLog } from '../log.js';
import { LinkPipe } from '../pipe/link-pipe.js';
import { RecordDecoder, RecordType, type RecordSink } from '../protocol/record.js';

/** Guest numbers a server takes at a time: a server that starts skips at most this many. */
const GUEST_BLOCK = 100;
/** Where random guest blocks start, and how many there are: guest-1000000 to guest-9999999, within a nick's length. */
const RANDOM_GUESTS_FROM = 1_000_000;
const RANDOM_GUEST_BLOCKS = 9000;
const READ_BLOCK_MS = 2000;
const READ_COUNT = 500;
/** One log line at most this often for each kind of trouble that can repeat (bad entries, refused commands). */
const TROUBLE_LOG_MS = 10_000;
/** How long a stopping link waits for its last shared-data changes: within the parent's grace before SIGKILL. */
const SHARED_DRAIN_MS = 300;

class RedisLink implements LinkContext {
  readonly log: Logger;
  private readonly parent = new LinkPipe(3, process.ppid);
  readonly commands: Redis;
  private readonly reader: Redis;
  /** This server's users, as the parent told us: what presence and 'here' say. */
  readonly users = new Map<string, string>();
  private usersComplete = false;
  private readonly whenUsersComplete: Promise<void>;
  private usersArrived = (): void => {};
  private readonly publisher: LinkPublisher;
  private readonly presence: LinkPresence;
  private readonly shared: LinkShared;
  private lastId = '';
  /** Where this link process reads its inbox from: entries read are deleted, so the start of what is left. */
  private inboxId = '0-0';
  lastError: Error | null = null;
  private connectedOnce = false;
  private stopping = false;
  /** Entries and keys read from Redis and refused, since this link started. */
  private dropped = 0;
  private readonly dropLog: ThrottledLog;
  private readonly refusedLog: ThrottledLog;
  private readonly readLog: ThrottledLog;

  constructor(readonly settings: LinkSettings) {
    this.log = new Logger(settings.logLevel, (line) => process.stderr.write(line.replace(/^(\S+ \S+ +)/, '$1redis link: ')));
    this.dropLog = new ThrottledLog(this.log, TROUBLE_LOG_MS);
    this.refusedLog = new ThrottledLog(this.log, TROUBLE_LOG_MS);
    this.readLog = new ThrottledLog(this.log, TROUBLE_LOG_MS);
    // After the log: both log through it.
    this.publisher = new LinkPublisher(this);
    this.presence = new LinkPresence(this);
    const options: RedisOptions = {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: null, // a command waits out an outage instead of failing
      retryStrategy: (attempt) => this.retryDelay(attempt),
    };
    // rediss:// turns TLS on by itself; a CA file only adds whom to trust.
    if (settings.caFile !== '') options.tls = { ca: readCa(settings.caFile) };
    this.commands = new Redis(settings.url, options);
    this.reader = this.commands.duplicate(); // XREAD BLOCK holds its connection
    this.shared = new LinkShared(this);
    this.whenUsersComplete = new Promise((resolve) => (this.usersArrived = resolve));
    // Kept for the one-line reason when the first connection fails; the reconnect log says the rest.
    for (const client of [this.commands, this.reader]) client.on('error', (error: Error) => (this.lastError = error));
  }

  send(message: FromLink): boolean {
    return this.parent.send(message);
  }

  drop(what: string, why: string): void {
    this.dropped++;
    this.dropLog.warn(`refused ${what} from Redis: ${why} (${this.dropped} refused since this link started)`);
  }

  refused(what: string, error: unknown): void {
    this.refusedLog.warn(`${what}: Redis said ${messageOf(error)}; going on`);
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
      this.presence.announce().catch((error: unknown) => this.log.warn(`re-registering: ${messageOf(error)}`));
      this.shared.snapshot().catch((error: unknown) => this.refused('reading the shared data again', error));
    });
    await this.whenUsersComplete;
    // Connected: from here on, a command Redis refuses (a bad key, out of memory) is logged and
    // the link goes on; the heartbeat registers again until it succeeds.
    await this.presence.announce().catch((error: unknown) => this.log.warn(`registering: ${messageOf(error)}; trying again at the next heartbeat`));
    await this.presence.sendSnapshot().catch((error: unknown) => this.log.warn(`reading who is on the other servers: ${messageOf(error)}`));
    await this.shared.start();
    this.lastId = this.settings.from !== '' ? this.settings.from : await this.sendHistory();
    this.parent.send({ t: 'ready', from: this.lastId, guests: await this.takeGuestBlock() });
    this.log.info(`connected to ${redactUrl(this.settings.url)} as ${this.settings.server}; reading the stream after ${this.lastId}`);
    setInterval(() => void this.presence.heartbeat(), (this.settings.presenceTtl * 1000) / 3).unref();
    this.background('publishing', this.publisher.run());
    this.background('reading the shared data', this.shared.readForever(() => this.isStopping()));
    await this.readForever();
  }

  // ------------------------------------------------------------- parent

  private readonly decoder = new RecordDecoder(({ discardedBytes }) => this.log.error(`skipped ${discardedBytes} bad bytes from the server`));

  private readonly fromParentSink: RecordSink = {
    record: (record) => {
      if (record.type !== RecordType.link) return;
      const message = decodeToLink(record.data);
      if (message === null) return this.log.error('unreadable message from the server');
      this.handle(message);
    },
  };

  private fromParent(chunk: Buffer): void {
    this.decoder.push(chunk, this.fromParentSink);
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
        this.publisher.queue(message);
        if (this.connectedOnce) this.background('publishing', this.publisher.run());
        return;
      case 'claim':
        this.background(`claiming ${message.nick}`, this.claim(message.nick));
        return;
      case 'release':
        this.background(`releasing ${message.nick}`, this.commands.eval(RELEASE_SCRIPT, 1, nickKey(message.nick), this.settings.instance));
        return;
      case 'write':
        this.shared.write(message);
        return;
      case 'guests':
        this.background(
          'taking guest numbers',
          this.takeGuestBlock().then((guests) => this.parent.send({ t: 'guests', guests })),
        );
        return;
    }
  }

  /**
   * The next GUEST_BLOCK guest numbers, no other server's: [first, last]. When Redis
   * refuses (out of memory, a bad key), a random block far above the counted ones:
   * newcomers still get a name, most likely nobody else's.
   */
  private async takeGuestBlock(): Promise<[number, number]> {
    try {
      const last = await this.commands.incrby(`${KEY_PREFIX}guests`, GUEST_BLOCK);
      if (Number.isSafeInteger(last) && last >= GUEST_BLOCK) return [last - GUEST_BLOCK + 1, last];
    } catch (error) {
      this.refused('taking guest numbers', error);
    }
    const first = RANDOM_GUESTS_FROM + GUEST_BLOCK * Math.floor(Math.random() * RANDOM_GUEST_BLOCKS);
    return [first, first + GUEST_BLOCK - 1];
  }

  addEvent(pipeline: ChainableCommander, seq: number, ev: ChatEvent): void {
    addEvent(pipeline, this.settings, seq, ev);
  }

  /**
   * Runs `work` without waiting for it. A failure (only possible when Redis answers
   * with an error: commands wait out outages) is logged, and the link goes on: one bad
   * key or a full Redis must not take the cluster down with it.
   */
  private background(what: string, work: Promise<unknown>): void {
    work.catch((error: unknown) => this.refused(what, error));
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

  /** A /nick: granted only when the claim succeeds; a claim Redis refuses is a refusal. */
  private async claim(nick: string): Promise<void> {
    let ok = false;
    try {
      ok = (await this.presence.claim([nick]))[0] === 'ok';
    } finally {
      this.parent.send({ t: 'claimed', nick, ok });
    }
  }

  // ------------------------------------------------------------- reading

  /** On the server's first start: the stream's recent lines, for room history. Returns the newest id. */
  private async sendHistory(): Promise<string> {
    try {
      const entries = await this.commands.xrevrange(STREAM_KEY, '+', '-', 'COUNT', this.settings.historyEntries);
      for (const [id, fields] of entries.reverse()) this.forward(id, fields, 'stream', true);
      return entries.length > 0 ? (entries[entries.length - 1] as [string, string[]])[0] : '0-0';
    } catch (error) {
      this.refused('reading the history', error);
      return '0-0';
    }
  }

  /** Reads the shared stream and this server's inbox, from where it stopped, until the link stops. */
  private async readForever(): Promise<void> {
    const inbox = inboxKey(this.settings.instance);
    while (!this.stopping) {
      try {
        const reply = await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', STREAM_KEY, inbox, this.lastId, this.inboxId);
        for (const [key, entries] of reply ?? []) {
          const channel: Channel = key === inbox ? 'inbox' : 'stream';
          for (const [id, fields] of entries) {
            if (channel === 'inbox') this.inboxId = id;
            else this.lastId = id;
            this.forward(id, fields, channel, false);
          }
          // Read is delivered: the parent has it (the pipe is reliable). No copy stays in Redis.
          if (channel === 'inbox' && entries.length > 0) this.background('emptying the inbox', this.commands.eval(INBOX_TAKEN_SCRIPT, 1, inbox, ...entries.map(([id]) => id)));
        }
      } catch (error) {
        if (this.isStopping()) return;
        this.readLog.warn(`reading the stream: ${messageOf(error)}; retrying`);
        // Only we write our inbox's name; anything else there (WRONGTYPE) would stop every read.
        if (messageOf(error).startsWith('WRONGTYPE')) await this.commands.del(inbox).catch(() => 0);
        await sleep(RETRY_MS);
      }
    }
  }

  /** Passes one entry from another server, checked, to the parent; counts and logs one that fails a check. */
  private forward(id: string, fields: string[], channel: Channel, old: boolean): void {
    const entry = readEntry(fields, channel);
    if (typeof entry === 'string') return this.drop(`${channel} entry ${id}`, entry);
    const { o, srv, s, ev } = entry;
    if (o === this.settings.instance) return; // our own event, back from the stream
    if (old && ev.k !== 'line') return; // history is lines only
    if (!old) this.presence.heard(o, srv, ev.k === 'down');
    const sent = this.parent.send({ t: 'ev', id, o, srv, s, ev, ...(old ? { old } : {}), ...(channel === 'inbox' ? { inbox: true } : {}) });
    if (!sent) this.drop(`${channel} entry ${id}`, 'too big for a record');
  }

  // ------------------------------------------------------------- leaving

  /** On SIGTERM or when the server goes: tell the others, free our nicks, leave. */
  private async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info(`stopping (${why}); ${this.dropped} entries or keys from Redis refused since this link started`);
    const { instance } = this.settings;
    try {
      if (this.commands.status === 'ready') {
        await this.shared.drained(SHARED_DRAIN_MS); // an account registered just before the server stopped
        const pipeline = this.commands.multi();
        for (const nick of this.users.keys()) pipeline.eval(RELEASE_SCRIPT, 1, nickKey(nick), instance);
        pipeline.del(usersKey(instance), serverKey(instance), inboxKey(instance));
        this.addEvent(pipeline, 0, { k: 'down' });
        await withTimeout(pipeline.exec(), 600);
      }
    } catch (error) {
      this.log.warn(`could not say goodbye: ${messageOf(error)}`);
    }
    this.commands.disconnect();
    this.reader.disconnect();
    this.shared.disconnect();
    process.exit(0);
  }
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`--redis-ca: cannot read ${file}: ${messageOf(error)}`, { cause: error });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([promise, sleep(ms).then(() => undefined)]);
}

/** Exit code when Redis cannot be reached at start: the server reports it and exits 1 too. */
export const EXIT_NO_REDIS = 1;

const settings = readSettings(process.env);
let link: RedisLink;
try {
  link = new RedisLink(settings);
} catch (error) {
  // The CA file, read here as the --user the server runs as: the CLI checked it as the user who started it.
  process.stderr.write(`posix-chat: cannot start the Redis link: ${messageOf(error)}\n`);
  process.exit(EXIT_NO_REDIS);
}
link.start().catch((error: unknown) => {
  process.stderr.write(`posix-chat: cannot reach Redis at ${redactUrl(settings.url)}: ${messageOf(link.lastError ?? error)}\n`);
  process.exit(EXIT_NO_REDIS);
});

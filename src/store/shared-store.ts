/**
 * The Store with --redis: accounts, bans, mutes, ignores and topics are the cluster's,
 * kept in Redis, and every server keeps a copy in its own SQLite database (the mirror)
 * so that every call stays synchronous, as the parent's loop needs. A write goes to
 * the mirror at once and to the Redis link, which writes it to Redis and tells the
 * other servers; writes wait here, in order, until the link says Redis has them (sent
 * again to a new link). What the link reads from Redis (a snapshot at its start and
 * after a reconnect; each change another server makes) comes in checked and goes into
 * the mirror; then the chat is told, to refresh what it keeps in memory.
 * History and the local audit table stay the mirror's own. Pure: no addon, no Redis.
 */
import type { SharedDataSide, SharedLink } from '../contracts.js';
import type { SharedFromLink, SharedWrite } from '../cluster/protocol.js';
import type { Account, AuditEntry, Ban, MirrorStore, Mute, Role, SharedItem, Store } from './store.js';

/** Writes kept while Redis cannot be reached; past it a change is refused (its command fails with a line). */
export const MAX_UNWRITTEN = 10_000;

/** The key of what an item changes, to tell a change from Redis about a row this server is still writing. */
function keyOf(item: SharedItem): string {
  switch (item.c) {
    case 'account':
    case 'mute':
      return `${item.c} ${item.name.toLowerCase()}`;
    case 'ban':
      return `ban ${item.target}`;
    case 'ignore':
      return `ignore ${item.name.toLowerCase()} ${item.ignored.toLowerCase()}`;
    case 'topic':
      return `topic ${item.room}`;
    case 'audit':
      return 'audit';
  }
}

export class SharedStore implements Store, SharedDataSide {
  private local: MirrorStore | null = null;
  private seq = 0;
  private unwrittenWrites: SharedWrite[] = [];
  /** A snapshot being received, piece by piece. */
  private incoming: SharedItem[] | null = null;
  /** What came before the mirror was open: applied when it opens. */
  private early: { items: SharedItem[]; replace: boolean }[] = [];
  /**
   * Shared data changed under the chat (`replace`: all of it): set by the chat.
   * `replaced`: accounts this copy had that are now another account of the same name
   * (made on another server first, or deleted and made again there).
   */
  onChange: (items: readonly SharedItem[], replace: boolean, replaced: readonly string[]) => void = () => {};

  constructor(
    private readonly link: SharedLink,
    private readonly log: (level: 'info' | 'warn', text: string) => void,
    /** Writes kept while Redis cannot be reached (MAX_UNWRITTEN but in tests). */
    private readonly maxUnwritten = MAX_UNWRITTEN,
  ) {
    link.attachShared(this);
  }

  get location(): string {
    return `Redis (copy in ${this.mirror().location})`;
  }

  /** The mirror is open: what the link sent meanwhile goes in. */
  attach(local: MirrorStore): void {
    this.local = local;
    for (const { items, replace } of this.early) void this.take(items, replace);
    this.early = [];
  }

  private mirror(): MirrorStore {
    if (this.local === null) throw new Error('the database is not open');
    return this.local;
  }

  // ---------------------------------------------------------------- the link

  unwritten(): readonly SharedWrite[] {
    return this.unwrittenWrites;
  }

  fromLink(message: SharedFromLink): void {
    switch (message.t) {
      case 'written': {
        const done = this.unwrittenWrites.findIndex((w) => w.seq > message.seq);
        this.unwrittenWrites = done === -1 ? [] : this.unwrittenWrites.slice(done);
        return;
      }
      case 'snapshot':
        if (message.first) this.incoming = [];
        this.incoming?.push(...message.items);
        if (!message.last || this.incoming === null) return;
        this.receive(this.incoming, true);
        this.incoming = null;
        return;
      case 'changed': {
        // A row this server is still writing keeps its value here: Redis gets it next.
        const pending = new Set(this.unwrittenWrites.map((w) => keyOf(w.item)));
        this.receive(message.items.filter((item) => !pending.has(keyOf(item))), false);
        return;
      }
    }
  }

  private receive(items: SharedItem[], replace: boolean): void {
    if (this.local === null) {
      if (replace) this.early = [];
      this.early.push({ items, replace });
      return;
    }
    try {
      const replaced = this.take(items, replace);
      this.onChange(items, replace, replaced);
    } catch (error) {
      // The database busy (a long `posix-chat user` run on it): this copy lags until the link's next snapshot.
      this.log('warn', `could not take in the shared data from Redis: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** Takes `items` into the mirror; the names of the accounts they replace (see onChange). */
  private take(items: readonly SharedItem[], replace: boolean): string[] {
    const local = this.mirror();
    if (replace && !local.isCopy()) this.join(local, items);
    const replaced: string[] = [];
    for (const item of items) {
      if (item.c !== 'account' || item.account === null) continue;
      const before = local.account(item.name);
      // Made at another time: not the account this copy had, whatever its name.
      if (before !== null && before.created !== item.account.created) replaced.push(before.name);
      if (item.account.role === 'operator' && before?.role !== 'operator') this.log('warn', `${item.name} is an operator, as the shared data in Redis says`);
    }
    local.applyShared(items, replace);
    // Writes Redis does not have yet stay on top of what it sent.
    if (replace && this.unwrittenWrites.length > 0) local.applyShared(this.unwrittenWrites.map((w) => w.item), false);
    return replaced;
  }

  /**
   * The first snapshot a lone server's database sees: what it has and Redis has not
   * goes to Redis (an account only where the name is free there), instead of being lost.
   */
  private join(local: MirrorStore, theirs: readonly SharedItem[]): void {
    const known = new Set(theirs.map(keyOf));
    const mine = local.sharedItems(Date.now()).filter((item) => !known.has(keyOf(item)));
    if (mine.length > 0) this.log('info', `joining the cluster: ${mine.length} entries of this server's database (accounts, bans ...) go to Redis`);
    for (const item of mine) this.write(item.c === 'account' ? { ...item, create: true } : item);
  }

  private write(item: SharedItem): void {
    const write: SharedWrite = { t: 'write', seq: ++this.seq, item };
    this.unwrittenWrites.push(write);
    this.link.sendShared(write);
  }

  /** Refuses a change (before it is made here) while too many wait for Redis. */
  private room(): void {
    if (this.unwrittenWrites.length >= this.maxUnwritten) throw new Error(`Redis has not taken the last ${this.maxUnwritten} changes: refusing more until it does`);
  }

  /** `create`: a new account; else only the field `set` changed, and only it goes to Redis. */
  private sendAccount(name: string, change: { create: true } | { set: 'role' | 'hash' }): void {
    const account = this.mirror().account(name);
    if (account !== null) this.write({ c: 'account', name: account.name, account, ...change });
  }

  // ---------------------------------------------------------------- accounts

  account(name: string): Account | null {
    return this.mirror().account(name);
  }

  addAccount(name: string, hash: string, role: Role, at: number): boolean {
    this.room();
    const made = this.mirror().addAccount(name, hash, role, at);
    if (made) this.sendAccount(name, { create: true });
    return made;
  }

  setPassword(name: string, hash: string): boolean {
    this.room();
    const done = this.mirror().setPassword(name, hash);
    if (done) this.sendAccount(name, { set: 'hash' });
    return done;
  }

  setRole(name: string, role: Role): boolean {
    this.room();
    const done = this.mirror().setRole(name, role);
    if (done) this.sendAccount(name, { set: 'role' });
    return done;
  }

  deleteAccount(name: string): boolean {
    this.room();
    const done = this.mirror().deleteAccount(name);
    if (done) this.write({ c: 'account', name, account: null });
    return done;
  }

  accounts(): Account[] {
    return this.mirror().accounts();
  }

  // ------------------------------------------------------------ bans, mutes

  bans(now: number): Ban[] {
    return this.mirror().bans(now);
  }

  addBan(ban: Ban): void {
    this.room();
    this.mirror().addBan(ban);
    this.write({ c: 'ban', target: ban.target, ban });
  }

  removeBan(target: string): boolean {
    this.room();
    const done = this.mirror().removeBan(target);
    this.write({ c: 'ban', target, ban: null });
    return done;
  }

  mutes(now: number): Mute[] {
    return this.mirror().mutes(now);
  }

  setMute(mute: Mute): void {
    this.room();
    this.mirror().setMute(mute);
    this.write({ c: 'mute', name: mute.name, mute });
  }

  removeMute(name: string): boolean {
    this.room();
    const done = this.mirror().removeMute(name);
    this.write({ c: 'mute', name, mute: null });
    return done;
  }

  // ------------------------------------------------------- ignores, topics

  ignores(name: string): string[] {
    return this.mirror().ignores(name);
  }

  setIgnore(name: string, ignored: string, on: boolean): void {
    this.room();
    this.mirror().setIgnore(name, ignored, on);
    this.write({ c: 'ignore', name, ignored, on });
  }

  topics(): Map<string, string> {
    return this.mirror().topics();
  }

  setTopic(room: string, topic: string): void {
    this.room();
    this.mirror().setTopic(room, topic);
    this.write({ c: 'topic', room, topic });
  }

  // ------------------------------------------------ history, audit: the mirror's

  appendHistory(room: string, line: string): void {
    this.mirror().appendHistory(room, line);
  }

  recentHistory(lines: number, rooms: number): Map<string, string[]> {
    return this.mirror().recentHistory(lines, rooms);
  }

  history(room: string, lines: number): string[] {
    return this.mirror().history(room, lines);
  }

  /** Kept here, and in Redis for the cluster (`posix-chat audit --redis`) unless too much waits. */
  audit(entry: AuditEntry): void {
    this.mirror().audit(entry);
    if (this.unwrittenWrites.length < this.maxUnwritten) this.write({ c: 'audit', entry });
  }

  auditLog(limit: number): AuditEntry[] {
    return this.mirror().auditLog(limit);
  }

  flush(): void {
    this.local?.flush();
  }

  close(): void {
    this.local?.close();
  }
}

/**
 * The Redis link's presence work: registering this server (its presence key, its
 * users, their nicks) and registering again after an outage, checking what each nick
 * claim says; telling the parent who is on the other servers; and noticing servers
 * that stopped refreshing. Runs in the link process (src/cluster/redis-link.ts).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { chunks, PRESENCE_CHUNK, type ChatEvent, type FromLink } from './protocol.js';
import { isInstance, isPresence, isServerName } from './redis-input.js';
import { CLAIM_RACED, CLAIM_SCRIPT, nickKey, serverKey, usersKey, type LinkSettings } from './redis-schema.js';
import { messageOf, type Logger } from '../log.js';

/** The most other servers the link keeps track of; past it, a new one is ignored. */
export const MAX_SERVERS = 1000;
/** The most users read from one server's presence hash. */
export const MAX_USERS_PER_SERVER = 100_000;
/** Tries to claim a nick whose owner changes between our read and our claim. */
const CLAIM_ROUNDS = 5;
/** Presence hash fields read per HSCAN call. */
const HSCAN_COUNT = 500;

/** What claiming a nick came to: ours; held by another live server; or Redis refused (a bad key, out of memory). */
export type ClaimOutcome = 'ok' | 'taken' | 'failed';

/** What the presence work needs of the link. */
export interface LinkContext {
  readonly settings: LinkSettings;
  readonly commands: Redis;
  readonly log: Logger;
  /** This server's users (nick -> room), kept in step with the parent. */
  readonly users: Map<string, string>;
  send(message: FromLink): boolean;
  /** Counts and logs (throttled) something read from Redis and refused. */
  drop(what: string, why: string): void;
  /** Logs (throttled) a command Redis refused. */
  refused(what: string, error: unknown): void;
  addEvent(pipeline: ChainableCommander, seq: number, ev: ChatEvent): void;
}

export class LinkPresence {
  /** Other live servers we have heard of (instance -> name), checked at every heartbeat. */
  private readonly others = new Map<string, string>();
  private announced = false;
  private announcing: Promise<void> | null = null;
  private beating = false;

  constructor(private readonly link: LinkContext) {}

  /** Another server spoke (its name `srv`), or said it is stopping (`down`). */
  heard(o: string, srv: string, down: boolean): void {
    if (down) this.others.delete(o);
    else if (this.others.has(o) || this.others.size < MAX_SERVERS) this.others.set(o, srv);
  }

  /**
   * (Re-)registers this server: its presence key, its nicks, its users, and a `here`
   * event so servers that dropped us while we were away see us again. A nick another
   * live server claimed meanwhile is lost: the parent renames its user here, and it
   * is left out of what the others are told. One at a time: a reconnect and a
   * heartbeat may both ask.
   */
  announce(): Promise<void> {
    this.announcing ??= this.register().finally(() => (this.announcing = null));
    return this.announcing;
  }

  private async register(): Promise<void> {
    const { instance, server, presenceTtl } = this.link.settings;
    const { commands, users } = this.link;
    await commands.set(serverKey(instance), server, 'EX', presenceTtl);
    const nicks = [...users.keys()];
    const outcomes = await this.claim(nicks);
    nicks.forEach((nick, i) => {
      if (outcomes[i] !== 'taken') return; // a claim Redis refused keeps the nick: nobody else holds it
      users.delete(nick);
      this.link.log.warn(`the nick ${nick} was claimed on another server while this one was away: its user here gets another`);
      this.link.send({ t: 'lost', nick });
    });
    const present = [...users.entries()];
    const pipeline = commands.multi();
    pipeline.del(usersKey(instance));
    if (present.length > 0) pipeline.hset(usersKey(instance), Object.fromEntries(present));
    pipeline.expire(usersKey(instance), presenceTtl);
    for (const piece of chunks(present, PRESENCE_CHUNK)) this.link.addEvent(pipeline, 0, { k: 'here', users: piece });
    const failed = (await pipeline.exec())?.find(([error]) => error !== null);
    if (failed?.[0]) throw failed[0];
    this.announced = true;
  }

  /**
   * Claims each nick for this server. Every key the script touches is passed to it, so
   * the owner is read first; an owner that changed in between is read again.
   */
  async claim(nicks: readonly string[]): Promise<ClaimOutcome[]> {
    const { commands, settings } = this.link;
    const me = settings.instance;
    const outcomes: ClaimOutcome[] = nicks.map(() => 'failed');
    let pending = nicks.map((_, i) => i);
    for (let round = 0; round < CLAIM_ROUNDS && pending.length > 0; round++) {
      const reads = commands.pipeline();
      for (const i of pending) reads.get(nickKey(nicks[i] ?? ''));
      const owners = (await reads.exec()) ?? [];
      const claims = commands.pipeline();
      const asked: number[] = [];
      pending.forEach((i, at) => {
        const [error, owner] = owners[at] ?? [new Error('no reply'), null];
        if (error !== null) return this.link.refused(`reading the owner of ${nicks[i] ?? ''}`, error);
        const seen = typeof owner === 'string' ? owner : '';
        claims.eval(CLAIM_SCRIPT, 2, nickKey(nicks[i] ?? ''), serverKey(seen === '' ? me : seen), me, seen);
        asked.push(i);
      });
      const results = asked.length > 0 ? ((await claims.exec()) ?? []) : [];
      pending = [];
      asked.forEach((i, at) => {
        const [error, result] = results[at] ?? [new Error('no reply'), null];
        if (error !== null) this.link.refused(`claiming ${nicks[i] ?? ''}`, error);
        else if (result === CLAIM_RACED) pending.push(i);
        else outcomes[i] = result === '' ? 'ok' : 'taken';
      });
    }
    return outcomes;
  }

  /**
   * Every third of the TTL: stay present, and notice servers that stopped doing so.
   * If our own presence key had expired (the link was stopped or cut off for longer
   * than the TTL), the others have dropped us and may have given our nicks away:
   * register again, claims checked.
   */
  async heartbeat(): Promise<void> {
    const { commands, settings, log } = this.link;
    if (commands.status !== 'ready' || this.beating) return;
    this.beating = true;
    try {
      const { instance, server, presenceTtl } = settings;
      const replies = await commands.multi().exists(serverKey(instance)).set(serverKey(instance), server, 'EX', presenceTtl).expire(usersKey(instance), presenceTtl).exec();
      if (replies?.[0]?.[1] !== 1 && this.announced) log.warn('our presence in Redis had expired (this link was stopped or cut off): registering again');
      if (replies?.[0]?.[1] !== 1 || !this.announced) await this.announce();
      for (const other of [...this.others.keys()]) {
        if ((await commands.exists(serverKey(other))) === 1) continue;
        log.info(`server ${this.others.get(other) ?? other} stopped refreshing its presence: its users are gone`);
        this.others.delete(other);
        this.link.send({ t: 'gone', o: other });
      }
    } catch (error) {
      log.debug(`heartbeat: ${messageOf(error)}`);
    } finally {
      this.beating = false;
    }
  }

  /** Who is on every other live server, for the parent's /who * and /msg; what fails a check is left out. */
  async sendSnapshot(): Promise<void> {
    const { commands, settings } = this.link;
    let reset = true;
    let cursor = '0';
    do {
      const [next, keys] = await commands.scan(cursor, 'MATCH', serverKey('*'), 'COUNT', 100);
      cursor = next;
      for (const key of keys) {
        const o = key.slice(serverKey('').length);
        if (o === settings.instance) continue;
        if (!isInstance(o)) {
          this.link.drop('presence key', 'not named after an instance id');
          continue;
        }
        if (this.others.size >= MAX_SERVERS) {
          this.link.drop('presence key', `more than ${MAX_SERVERS} servers`);
          break;
        }
        const users = await this.usersOf(o);
        const srv = this.others.get(o);
        if (users === null || srv === undefined) continue;
        for (const piece of chunks(users, PRESENCE_CHUNK)) {
          this.link.send({ t: 'present', reset, o, srv, users: piece });
          reset = false;
        }
      }
    } while (cursor !== '0');
    if (reset) this.link.send({ t: 'present', reset, o: '', srv: '', users: [] });
  }

  /** The checked users of server `o` (and its name noted in `others`); null when it is gone or its name fails the check. */
  private async usersOf(o: string): Promise<[string, string][] | null> {
    const { commands } = this.link;
    const users: [string, string][] = [];
    try {
      const srv = await commands.get(serverKey(o));
      if (srv === null) return null; // gone meanwhile
      if (!isServerName(srv)) {
        this.link.drop('presence key', 'its value is not a server name');
        return null;
      }
      this.others.set(o, srv);
      let cursor = '0';
      let refused = 0;
      do {
        const [next, fields] = await commands.hscan(usersKey(o), cursor, 'COUNT', HSCAN_COUNT);
        cursor = next;
        for (let i = 0; i + 1 < fields.length; i += 2) {
          if (isPresence(fields[i], fields[i + 1])) users.push([fields[i] ?? '', fields[i + 1] ?? '']);
          else refused++;
        }
      } while (cursor !== '0' && users.length < MAX_USERS_PER_SERVER);
      if (refused > 0) this.link.drop('presence hash', `${refused} entries are not a nick and a room`);
    } catch (error) {
      // WRONGTYPE: someone else's value under our key name. Redis's own word for it, nothing of the value.
      this.link.drop('presence keys', `Redis says ${messageOf(error).split(' ')[0] ?? 'no'}`);
    }
    return users.slice(0, MAX_USERS_PER_SERVER);
  }
}

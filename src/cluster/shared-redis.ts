/**
 * The shared data in Redis (--redis): writing an item with a notice on the change
 * stream, reading one field again, reading them all (a snapshot), and the audit
 * trail. Used by the Redis link (src/cluster/link-shared.ts) and by the admin
 * commands with --redis (src/admin-redis.ts), both Node programs with an event loop.
 * Whatever is read goes through src/cluster/shared-input.ts before it is used.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { AuditEntry, SharedItem } from '../store/store.js';
import { MAX_SHARED_VALUE_BYTES, readAudit, readShared, SHARED_KINDS, type SharedKind } from './shared-input.js';
import { AUDIT_KEPT, AUDIT_KEY, CHANGES_KEY, CHANGES_MAX_LENGTH, sharedKey } from './redis-schema.js';

/** Hash fields read per HSCAN call. */
const SCAN_COUNT = 500;
/** The most rows of one kind a server takes from Redis; past it the rest are refused (and logged). */
export const MAX_SHARED_ROWS: Readonly<Record<SharedKind, number>> = { account: 100_000, ban: 10_000, mute: 10_000, ignore: 100_000, topic: 10_000 };

/**
 * HSCAN that never hands over a huge field or value: one longer than ARGV[3] bytes comes
 * back as ARGV[3] + 1 bytes, which the checks then refuse as too big.
 */
const SCAN_SCRIPT = `
local r = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local items, limit = r[2], tonumber(ARGV[3])
for i = 1, #items do if string.len(items[i]) > limit then items[i] = string.rep('?', limit + 1) end end
return {r[1], items}`;
/** HDEL of one field, only while it still holds the value read: a ban or mute made again meanwhile stays. */
const DELETE_UNCHANGED_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

/** A ban or mute whose time was up when read, as it was read: what pruneExpired() deletes. */
export interface Expired {
  kind: SharedKind;
  field: string;
  value: string;
}

/** HGET, with the same cut as SCAN_SCRIPT. */
const GET_SCRIPT = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.len(v) > tonumber(ARGV[2]) then return string.rep('?', tonumber(ARGV[2]) + 1) end
return v`;

/** The hash field an item is kept under. */
export function fieldOf(item: Exclude<SharedItem, { c: 'audit' }>): string {
  switch (item.c) {
    case 'account':
    case 'mute':
      return item.name.toLowerCase();
    case 'ban':
      return item.target;
    case 'ignore':
      return `${item.name} ${item.ignored}`.toLowerCase();
    case 'topic':
      return item.room;
  }
}

/** The value an item is kept as; null: the field is deleted. */
function valueOf(item: Exclude<SharedItem, { c: 'audit' }>): string | null {
  switch (item.c) {
    case 'account':
      return item.account === null ? null : JSON.stringify(item.account);
    case 'ban':
      return item.ban === null ? null : JSON.stringify(item.ban);
    case 'mute':
      return item.mute === null ? null : JSON.stringify(item.mute);
    case 'ignore':
      return item.on ? '1' : null;
    case 'topic':
      return item.topic === '' ? null : item.topic;
  }
}

/**
 * Makes an account (KEYS[1] field ARGV[1], value ARGV[2]) only where the name is free,
 * and adds its notice to the change stream (KEYS[2]) in the same step: a link stopped
 * in between cannot leave an account the other servers never hear of. 1: made; 0: taken.
 */
const CREATE_SCRIPT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'o', ARGV[4], 'c', 'account', 'k', ARGV[1])
return 1`;
/**
 * Sets one field (ARGV[2]) of the account Redis has (KEYS[1] field ARGV[1]) to ARGV[3],
 * with its notice (KEYS[2]), keeping whatever else another server changed meanwhile.
 * 1: done; 0: no such account (nothing written: a deleted account stays deleted).
 */
const SET_FIELD_SCRIPT = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local ok, account = pcall(cjson.decode, v)
if not ok or type(account) ~= 'table' then return redis.error_reply('the account ' .. ARGV[1] .. ' in Redis is unreadable') end
account[ARGV[2]] = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(account))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[5], 'c', 'account', 'k', ARGV[1])
return 1`;

async function exec(pipeline: ChainableCommander): Promise<void> {
  const results = await pipeline.exec();
  const failed = results?.find(([error]) => error !== null)?.[0];
  if (failed !== undefined && failed !== null) throw failed;
}

/**
 * Writes `item` and a notice of it on the change stream from `origin` (an instance id,
 * or `cli`). False, and nothing written, when it makes an account whose name Redis has,
 * or changes a field (`set`) of an account Redis does not have.
 */
export async function writeShared(redis: Redis, item: SharedItem, origin: string): Promise<boolean> {
  if (item.c === 'audit') {
    await exec(redis.multi().lpush(AUDIT_KEY, JSON.stringify(item.entry)).ltrim(AUDIT_KEY, 0, AUDIT_KEPT - 1));
    return true;
  }
  const key = sharedKey(item.c);
  const field = fieldOf(item);
  const value = valueOf(item);
  if (item.c === 'account' && item.account !== null && value !== null) {
    if (item.set !== undefined) {
      const done = await redis.eval(SET_FIELD_SCRIPT, 2, key, CHANGES_KEY, field, item.set, item.account[item.set], CHANGES_MAX_LENGTH, origin);
      return done === 1;
    }
    if (item.create === true) return (await redis.eval(CREATE_SCRIPT, 2, key, CHANGES_KEY, field, value, CHANGES_MAX_LENGTH, origin)) === 1;
  }
  const multi = redis.multi();
  if (value === null) multi.hdel(key, field);
  else multi.hset(key, field, value);
  if (item.c === 'account' && item.account === null) {
    // An account's mute and ignores go with it, as in SQLite.
    multi.hdel(sharedKey('mute'), field);
    const ignores = sharedKey('ignore');
    for (let cursor = '0', first = true; first || cursor !== '0'; first = false) {
      const [next, fields] = await redis.hscan(ignores, cursor, 'MATCH', `${field} *`, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (let i = 0; i < fields.length; i += 2) multi.hdel(ignores, fields[i] ?? '');
    }
  }
  multi.xadd(CHANGES_KEY, 'MAXLEN', '~', CHANGES_MAX_LENGTH, '*', 'o', origin, 'c', item.c, 'k', field);
  await exec(multi);
  return true;
}

/** The item stored now under `kind`'s `field` (deleted when it is gone), or why it is refused. */
export async function readField(redis: Redis, kind: SharedKind, field: string): Promise<SharedItem | string> {
  const value = (await redis.eval(GET_SCRIPT, 1, sharedKey(kind), field, MAX_SHARED_VALUE_BYTES)) as string | null;
  return readShared(kind, field, value);
}

/**
 * Every item of the shared data, checked, to `take`; what fails a check to `refuse`
 * (with what it was and why). Bans already over at `now` are left out. A kind Redis
 * refuses to read (a key of the wrong type) is passed to `failed`, and the rest read on.
 * Bans and mutes whose time is up are added to `expired`, when given (see pruneExpired()).
 * True when every kind was read whole: false when one failed or was cut at MAX_SHARED_ROWS.
 */
export async function readAllShared(
  redis: Redis,
  now: number,
  take: (item: SharedItem) => void,
  refuse: (what: string, why: string) => void,
  failed: (what: string, error: unknown) => void,
  kinds: readonly SharedKind[] = SHARED_KINDS,
  expired?: Expired[],
): Promise<boolean> {
  let whole = true;
  for (const kind of kinds) {
    try {
      if (!(await readKind(redis, kind, now, take, refuse, expired))) whole = false;
    } catch (error) {
      failed(`reading the shared ${kind}s`, error);
      whole = false;
    }
  }
  return whole;
}

/**
 * Deletes the bans and mutes readAllShared() found over, each only if it is unchanged since
 * (another server may have banned the same target again meanwhile). Nothing else expires
 * them: Redis cannot give one field of a hash a time to live (before Redis 7.4). Returns
 * how many went.
 */
export async function pruneExpired(redis: Redis, expired: readonly Expired[]): Promise<number> {
  let deleted = 0;
  for (const { kind, field, value } of expired) deleted += Number(await redis.eval(DELETE_UNCHANGED_SCRIPT, 1, sharedKey(kind), field, value));
  return deleted;
}

/** Whether a ban's or a mute's time is up at `now` (null: for ever). */
function isOver(item: SharedItem, now: number): boolean {
  const until = item.c === 'ban' ? item.ban?.until : item.c === 'mute' ? item.mute?.until : null;
  return until !== undefined && until !== null && until <= now;
}

/** False when cut at MAX_SHARED_ROWS. */
async function readKind(
  redis: Redis,
  kind: SharedKind,
  now: number,
  take: (item: SharedItem) => void,
  refuse: (what: string, why: string) => void,
  expired: Expired[] | undefined,
): Promise<boolean> {
  const key = sharedKey(kind);
  // Entries looked at, refused ones included: a hash stuffed with forgeries takes bounded time too.
  let seen = 0;
  for (let cursor = '0', first = true; first || cursor !== '0'; first = false) {
    const [next, fields] = (await redis.eval(SCAN_SCRIPT, 1, key, cursor, SCAN_COUNT, MAX_SHARED_VALUE_BYTES)) as [string, string[]];
    cursor = next;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (seen++ === MAX_SHARED_ROWS[kind]) {
        refuse(key, `more than ${MAX_SHARED_ROWS[kind]} entries; the rest are left out`);
        return false;
      }
      const field = fields[i] ?? '';
      const item = readShared(kind, field, fields[i + 1] ?? '');
      if (typeof item === 'string') {
        refuse(`${kind} ${JSON.stringify(field.slice(0, 40))}`, item);
        continue;
      }
      const over = isOver(item, now);
      if (over) expired?.push({ kind, field, value: fields[i + 1] ?? '' });
      if (over && item.c === 'ban') continue;
      take(item);
    }
  }
  return true;
}

/** The last `limit` audit entries, oldest first; what fails a check is left out and passed to `refuse`. */
export async function readAuditTrail(redis: Redis, limit: number, refuse: (what: string, why: string) => void): Promise<AuditEntry[]> {
  const values = await redis.lrange(AUDIT_KEY, 0, limit - 1);
  const entries: AuditEntry[] = [];
  for (const value of values) {
    const entry = readAudit(value);
    if (typeof entry === 'string') refuse('an audit entry', entry);
    else entries.push(entry);
  }
  return entries.reverse();
}

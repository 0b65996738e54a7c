/**
 * What the Redis link keeps in Redis, and the settings the parent passes it: the
 * key names, the stream, the inboxes, and the Lua scripts that claim and release a
 * nick and empty an inbox.
 * Pure: no Redis client, no addon.
 */
import { LOG_LEVELS, type LogLevel } from '../log.js';

/** Everything the parent passes in the environment. */
export interface LinkSettings {
  /** redis:// or rediss:// URL, maybe with user and password: never logged as it is (redactUrl). */
  url: string;
  /** A PEM file of the certificate authorities a rediss:// server's certificate must chain to; '' for Node's own. */
  caFile: string;
  /** This server process's unique id (changes at every server start). */
  instance: string;
  /** Its human name, shown in /who *. */
  server: string;
  /** Stream id to read after; '' on the server's first link: read history, then new events. */
  from: string;
  /** Stream entries read back at start for room history. */
  historyEntries: number;
  /** Seconds a server stays present without refreshing. */
  presenceTtl: number;
  logLevel: LogLevel;
}

export const KEY_PREFIX = 'posix-chat:';
export const STREAM_KEY = `${KEY_PREFIX}events`;
/** Roughly how many events the stream keeps (XADD MAXLEN ~). */
export const STREAM_MAX_LENGTH = 10_000;

export const serverKey = (instance: string): string => `${KEY_PREFIX}server:${instance}`;
export const usersKey = (instance: string): string => `${KEY_PREFIX}users:${instance}`;
export const nickKey = (nick: string): string => `${KEY_PREFIX}nick:${nick.toLowerCase()}`;
/** A server's private messages: other servers add, only that server reads, and deletes what it has read. */
export const inboxKey = (instance: string): string => `${KEY_PREFIX}inbox:${instance}`;
/** Roughly how many unread private messages an inbox keeps (XADD MAXLEN ~). */
export const INBOX_MAX_LENGTH = 1000;
/** Seconds an inbox outlives its last message: a server that died never reads its own, so they go. */
export const INBOX_TTL_SECONDS = 60;

/**
 * The shared data (--redis makes it the cluster's): a hash per kind, the audit trail
 * (a capped list, newest first) and a stream naming each change, so each server reads
 * the changed field again. One hash tag keeps them in one slot: MULTI works on a Redis Cluster.
 */
export const SHARED_PREFIX = `${KEY_PREFIX}{shared}:`;
export const sharedKey = (kind: 'account' | 'ban' | 'mute' | 'ignore' | 'topic'): string => `${SHARED_PREFIX}${kind}s`;
export const AUDIT_KEY = `${SHARED_PREFIX}audit`;
export const CHANGES_KEY = `${SHARED_PREFIX}changes`;
/** Audit entries the cluster keeps. */
export const AUDIT_KEPT = 10_000;
/** Roughly how many change notices the change stream keeps (XADD MAXLEN ~). */
export const CHANGES_MAX_LENGTH = 10_000;

/**
 * Claims a nick (KEYS[1]): free, ours already (ARGV[1]), or held by a server that is
 * no longer present (its presence key expired, so the nick is free again). Every key
 * it touches is declared, as Redis Cluster and proxies require: the caller reads the
 * owner first and passes it (ARGV[2], '' for none) with its presence key (KEYS[2]).
 * Returns '' (claimed), the owner that keeps it, or CLAIM_RACED when the owner
 * changed in between (the caller reads again).
 */
export const CLAIM_SCRIPT = `
local owner = redis.call('GET', KEYS[1]) or ''
if owner ~= ARGV[2] then return '!' end
if owner ~= '' and owner ~= ARGV[1] and redis.call('EXISTS', KEYS[2]) == 1 then return owner end
redis.call('SET', KEYS[1], ARGV[1])
return ''`;
export const CLAIM_RACED = '!';
/**
 * Deletes the private messages a server has read (ARGV: their ids) from its inbox
 * (KEYS[1]), and the inbox itself once empty, so no copy of a message is kept.
 */
export const INBOX_TAKEN_SCRIPT = `
redis.call('XDEL', KEYS[1], unpack(ARGV))
if redis.call('XLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
return 0`;
/** Deletes a nick's key only if this server holds it. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export function readSettings(env: NodeJS.ProcessEnv): LinkSettings {
  const level = env.POSIX_CHAT_LOG_LEVEL ?? 'info';
  return {
    url: env.POSIX_CHAT_REDIS ?? '',
    caFile: env.POSIX_CHAT_REDIS_CA ?? '',
    instance: env.POSIX_CHAT_LINK_INSTANCE ?? '',
    server: env.POSIX_CHAT_LINK_SERVER ?? '',
    from: env.POSIX_CHAT_LINK_FROM ?? '',
    historyEntries: Number(env.POSIX_CHAT_LINK_HISTORY ?? 1000),
    presenceTtl: Number(env.POSIX_CHAT_LINK_TTL ?? 6),
    logLevel: (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info',
  };
}

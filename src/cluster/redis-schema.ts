/**
 * What the Redis link keeps in Redis, and the settings the parent passes it: the
 * key names, the stream, and the Lua scripts that claim and release a nick.
 * Pure: no Redis client, no addon.
 */
import { LOG_LEVELS, type LogLevel } from '../log.js';

/** Everything the parent passes in the environment. */
export interface LinkSettings {
  url: string;
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

/**
 * Claims a nick: free, ours already, or held by a server that is no longer present
 * (its presence key expired, so the nick is free again). Returns the owner that keeps it, or ''.
 */
export const CLAIM_SCRIPT = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[2] .. owner) == 1 then return owner end
redis.call('SET', KEYS[1], ARGV[1])
return ''`;
/** Deletes a nick's key only if this server holds it. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export function readSettings(env: NodeJS.ProcessEnv): LinkSettings {
  const level = env.POSIX_CHAT_LOG_LEVEL ?? 'info';
  return {
    url: env.POSIX_CHAT_REDIS ?? '',
    instance: env.POSIX_CHAT_LINK_INSTANCE ?? '',
    server: env.POSIX_CHAT_LINK_SERVER ?? '',
    from: env.POSIX_CHAT_LINK_FROM ?? '',
    historyEntries: Number(env.POSIX_CHAT_LINK_HISTORY ?? 1000),
    presenceTtl: Number(env.POSIX_CHAT_LINK_TTL ?? 6),
    logLevel: (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevel) : 'info',
  };
}

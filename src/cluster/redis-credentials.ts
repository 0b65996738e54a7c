/**
 * Where the Redis URL comes from, and what that means for its password: --redis,
 * POSIX_CHAT_REDIS, or a file (--redis-url-file). A password on the command line shows
 * in `ps` to everyone on the machine, so the server warns about it; the environment
 * and a file are private to the user. Errors never show the password.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, redisUrl, type Config } from '../config.js';
import { messageOf } from '../log.js';
import { hasPassword } from './redis-url.js';

export interface RedisTarget {
  /** The URL to connect to; '' for a lone server. */
  url: string;
  /** A warning to log, or ''. */
  warning: string;
}

/** The Redis URL `config` and `argv` (the command line after the script name) give; throws ConfigError when they do not add up. */
export function redisTarget(config: Config, argv: readonly string[]): RedisTarget {
  let url = config.redis;
  if (config.redisUrlFile !== '') {
    if (url !== '') throw new ConfigError('give the Redis URL once: --redis (or POSIX_CHAT_REDIS), or --redis-url-file');
    let text: string;
    try {
      text = readFileSync(config.redisUrlFile, 'utf8');
    } catch (error) {
      throw new ConfigError(`--redis-url-file: cannot read ${config.redisUrlFile}: ${messageOf(error)}`);
    }
    url = redisUrl(text.trim(), '--redis-url-file');
    if (url === '') throw new ConfigError(`--redis-url-file: ${config.redisUrlFile} is empty`);
  }
  if (config.redisCa !== '') {
    if (!url.startsWith('rediss://')) throw new ConfigError('--redis-ca: only a rediss:// URL (Redis over TLS) uses it');
    try {
      readFileSync(config.redisCa);
    } catch (error) {
      throw new ConfigError(`--redis-ca: cannot read ${config.redisCa}: ${messageOf(error)}`);
    }
  }
  const onCommandLine = argv.some((arg, i) => arg.startsWith('--redis=') || (arg === '--redis' && argv[i + 1] !== undefined));
  const warning =
    onCommandLine && hasPassword(url)
      ? 'the Redis password is on the command line, where ps shows it to every user of this machine: use POSIX_CHAT_REDIS or --redis-url-file'
      : '';
  return { url, warning };
}

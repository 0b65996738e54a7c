/**
 * `posix-chat user ... --redis URL` and `posix-chat audit --redis URL`: the admin
 * commands on a cluster's shared data in Redis, with or without servers running. Each
 * change carries a notice on the change stream, so running servers take it at once
 * (a new role too, for whoever is logged in). Unlike the server, this is an ordinary Node
 * program: it talks to Redis directly, with ioredis. What it reads is checked as a
 * server checks it (src/cluster/shared-input.ts).
 */
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { accountLines, auditLimit, auditLine, EXIT_OK, name, readPassword, role, UsageError } from './admin-input.js';
import { hashPassword } from './hasher/scrypt.js';
import { redactUrl } from './cluster/redis-url.js';
import { readAllShared, readAuditTrail, readField, writeShared } from './cluster/shared-redis.js';
import { messageOf } from './log.js';
import type { Account, SharedItem } from './store/store.js';

/** Who the change stream and the audit trail say made a change. */
const ACTOR = 'cli';
const CONNECT_TIMEOUT_MS = 5000;

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const refuse = (what: string, why: string): void => void process.stderr.write(`posix-chat: left out ${what} from Redis: ${why}\n`);

/** Runs `words` on the Redis at `target`; the exit code. */
export async function runAdminOnRedis(target: { url: string; caFile: string }, words: readonly string[], options: ReadonlyMap<string, string>): Promise<number> {
  const settings: RedisOptions = { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 1, retryStrategy: () => null };
  if (target.caFile !== '') settings.tls = { ca: readFileSync(target.caFile) };
  const redis = new Redis(target.url, settings);
  let lastError: unknown = null;
  redis.on('error', (error: unknown) => (lastError = error));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(`cannot reach Redis at ${redactUrl(target.url)}: ${messageOf(lastError ?? error)}`, { cause: error });
  }
  try {
    return await dispatch(redis, redactUrl(target.url), words, options);
  } finally {
    redis.disconnect();
  }
}

async function account(redis: Redis, who: string): Promise<Account | null> {
  const item = await readField(redis, 'account', who.toLowerCase());
  if (typeof item === 'string') throw new Error(`the account ${who} in Redis is unreadable (${item})`);
  return item.c === 'account' ? item.account : null;
}

async function dispatch(redis: Redis, where: string, words: readonly string[], options: ReadonlyMap<string, string>): Promise<number> {
  const [command, sub, first, second] = words;
  const audit = (action: string, target: string): Promise<boolean> =>
    writeShared(redis, { c: 'audit', entry: { at: Date.now(), actor: ACTOR, action, target, reason: '' } }, ACTOR);
  if (command === 'audit') {
    for (const e of await readAuditTrail(redis, auditLimit(options), refuse)) say(auditLine(e));
    return EXIT_OK;
  }
  switch (sub) {
    case 'add': {
      const who = name(first);
      const r = role(options.get('role') ?? 'user');
      if ((await account(redis, who)) !== null) throw new Error(`${who} is registered already`);
      const made: Account = { name: who, role: r, hash: hashPassword(readPassword(who)), created: Date.now() };
      if (!(await writeShared(redis, { c: 'account', name: who, account: made, create: true }, ACTOR))) throw new Error(`${who} is registered already`);
      await audit(`add ${r}`, who);
      say(`added ${who} (${r}) in Redis at ${where}`);
      return EXIT_OK;
    }
    case 'list': {
      const accounts: Account[] = [];
      const take = (item: SharedItem): void => {
        if (item.c === 'account' && item.account !== null) accounts.push(item.account);
      };
      await readAllShared(redis, Date.now(), take, refuse, (what, error) => refuse(what, messageOf(error)), ['account']);
      accounts.sort((a, b) => a.name.localeCompare(b.name));
      for (const line of accountLines(accounts, `Redis at ${where}`)) say(line);
      return EXIT_OK;
    }
    case 'del': {
      const who = name(first);
      const found = await account(redis, who);
      if (found === null) throw new Error(`no account is called ${who}`);
      await writeShared(redis, { c: 'account', name: found.name, account: null }, ACTOR);
      await audit('delete', found.name);
      say(`deleted ${found.name}`);
      return EXIT_OK;
    }
    case 'set-role': {
      const who = name(first);
      const r = role(second);
      const found = await account(redis, who);
      if (found === null) throw new Error(`no account is called ${who}`);
      // Only the role: a password changed meanwhile stays, and an account deleted meanwhile is not made again.
      if (!(await writeShared(redis, { c: 'account', name: found.name, account: { ...found, role: r }, set: 'role' }, ACTOR))) throw new Error(`no account is called ${who}`);
      await audit(r === 'operator' ? 'op' : 'deop', found.name);
      say(`${found.name} is now ${r === 'operator' ? 'an operator' : 'a user'} (on every server of the cluster)`);
      return EXIT_OK;
    }
    default:
      throw new UsageError(sub === undefined ? 'missing a user command' : `unknown user command '${sub}'`);
  }
}

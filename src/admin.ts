/**
 * `posix-chat user add|list|del|set-role` and `posix-chat audit`: work on the data
 * directory's database without a running server (SQLite lets them run beside one).
 * No account exists until one is made here or with /register: the first operator is
 * made with `posix-chat user add NAME --role operator`.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { accountLines, auditLimit, auditLine, EXIT_OK, name, parse, readPassword, redisTarget, role, UsageError } from './admin-input.js';
import { runAdminOnRedis } from './admin-redis.js';
import { hashPassword } from './hasher/scrypt.js';
import { messageOf } from './log.js';
import { dataDirPath, prepareDataDir } from './store/data-dir.js';
import { SqliteStore } from './store/sqlite.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

export const ADMIN_USAGE = `Usage:
  posix-chat user add NAME [--role operator|user]   password from stdin, or asked
  posix-chat user list
  posix-chat user del NAME
  posix-chat user set-role NAME operator|user
  posix-chat audit [--limit N]
Each takes --data-dir DIR (or POSIX_CHAT_DATA_DIR), as the server does; or, for a
cluster, --redis URL or --redis-url-file FILE (POSIX_CHAT_REDIS, POSIX_CHAT_REDIS_URL_FILE)
and --redis-ca FILE: then it works on the accounts and audit trail in that Redis.
`;

/** Whether `argv` is an admin command rather than the server's options. */
export function isAdminCommand(argv: readonly string[]): boolean {
  return argv[0] === 'user' || argv[0] === 'audit';
}

/** Runs an admin command; returns the exit code (later, on a cluster's Redis). */
export function runAdmin(argv: readonly string[], env: NodeJS.ProcessEnv): number | Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(ADMIN_USAGE);
    return EXIT_OK;
  }
  let store: SqliteStore | null = null;
  try {
    const { words, options } = parse(argv);
    const redis = redisTarget(options, env);
    if (redis !== null) return runAdminOnRedis(redis, words, options).catch((error: unknown) => failed(error));
    const dir = dataDirPath(options.get('data-dir') ?? env.POSIX_CHAT_DATA_DIR ?? '', env);
    if (prepareDataDir(dir, null) !== null) process.stderr.write(`posix-chat: made the data directory ${dir}\n`);
    store = new SqliteStore(dir);
    return dispatch(store, words, options);
  } catch (error) {
    return failed(error);
  } finally {
    store?.close();
    if (store !== null) giveBack(store.location);
  }
}

function failed(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`posix-chat: ${error.message}\n${ADMIN_USAGE}`);
    return EXIT_USAGE;
  }
  process.stderr.write(`posix-chat: ${messageOf(error)}\n`);
  return EXIT_FAILED;
}

/**
 * Run as root on a data directory that belongs to the server's user, the files SQLite
 * made now are root's: give them to the directory's owner, or the server could not write.
 */
function giveBack(database: string): void {
  const dir = path.dirname(database);
  const owner = statSync(dir);
  if (process.getuid?.() !== 0 || owner.uid === 0) return;
  prepareDataDir(dir, { uid: owner.uid, gid: owner.gid });
}

function dispatch(store: SqliteStore, words: string[], options: Map<string, string>): number {
  const [command, sub, first, second] = words;
  const say = (text: string): void => void process.stdout.write(`${text}\n`);
  const audit = (action: string, target: string): void => store.audit({ at: Date.now(), actor: 'cli', action, target, reason: '' });
  if (command === 'audit') {
    for (const e of store.auditLog(auditLimit(options))) say(auditLine(e));
    return EXIT_OK;
  }
  switch (sub) {
    case 'add': {
      const account = name(first);
      const r = role(options.get('role') ?? 'user');
      if (store.account(account) !== null) throw new Error(`${account} is registered already`);
      const password = readPassword(account);
      if (!store.addAccount(account, hashPassword(password), r, Date.now())) throw new Error(`${account} is registered already`);
      audit(`add ${r}`, account);
      say(`added ${account} (${r}) in ${store.location}`);
      return EXIT_OK;
    }
    case 'list':
      for (const line of accountLines(store.accounts(), store.location)) say(line);
      return EXIT_OK;
    case 'del':
      if (!store.deleteAccount(name(first))) throw new Error(`no account is called ${first ?? ''}`);
      audit('delete', name(first));
      say(`deleted ${first ?? ''}`);
      return EXIT_OK;
    case 'set-role': {
      const r = role(second);
      if (!store.setRole(name(first), r)) throw new Error(`no account is called ${first ?? ''}`);
      audit(r === 'operator' ? 'op' : 'deop', name(first));
      say(`${first ?? ''} is now ${r === 'operator' ? 'an operator' : 'a user'} (from their next login)`);
      return EXIT_OK;
    }
    default:
      throw new UsageError(sub === undefined ? 'missing a user command' : `unknown user command '${sub}'`);
  }
}

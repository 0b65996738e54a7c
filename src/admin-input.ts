/**
 * What the admin commands (src/admin.ts on the data directory, src/admin-redis.ts on
 * a cluster's Redis) read from their user: the command line, names, roles, and the
 * password (asked twice on a terminal with echo off, else the first line of stdin).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { checkPassword } from './chat/password.js';
import { checkNick, GUEST_PATTERN } from './chat/rules.js';
import { hasPassword } from './cluster/redis-url.js';
import { redisUrl } from './config.js';
import { ROLES, type Account, type AuditEntry, type Role } from './store/store.js';

export const EXIT_OK = 0;
/** Audit entries `posix-chat audit` shows unless --limit says. */
const DEFAULT_AUDIT_ENTRIES = 50;

/** `posix-chat audit --limit N`. */
export function auditLimit(options: ReadonlyMap<string, string>): number {
  const limit = Number(options.get('limit') ?? DEFAULT_AUDIT_ENTRIES);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit: expected a whole number above 0');
  return limit;
}

/** The Redis to work on (--redis, --redis-url-file or their variables), or null: the data directory. */
export function redisTarget(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): { url: string; caFile: string } | null {
  const given = options.get('redis') ?? env.POSIX_CHAT_REDIS ?? '';
  const file = options.get('redis-url-file') ?? env.POSIX_CHAT_REDIS_URL_FILE ?? '';
  if (given !== '' && file !== '') throw new UsageError('give the Redis URL once: --redis (or POSIX_CHAT_REDIS), or --redis-url-file');
  let text = given;
  if (file !== '') {
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new Error(`--redis-url-file: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  let url: string;
  try {
    url = redisUrl(text, file === '' ? '--redis' : '--redis-url-file');
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (url === '') return null;
  if (options.has('redis') && hasPassword(url)) process.stderr.write('posix-chat: warning: the Redis password is on the command line, where ps shows it: use POSIX_CHAT_REDIS or --redis-url-file\n');
  return { url, caFile: options.get('redis-ca') ?? env.POSIX_CHAT_REDIS_CA ?? '' };
}

/** An audit entry as `posix-chat audit` prints it. */
export function auditLine(e: AuditEntry): string {
  return `${new Date(e.at).toISOString()}  ${e.actor}  ${e.action} ${e.target}${e.reason === '' ? '' : `: ${e.reason}`}`;
}

/** What `posix-chat user list` prints: a line per account, or that `where` has none. */
export function accountLines(accounts: readonly Account[], where: string): string[] {
  if (accounts.length === 0) return [`no accounts in ${where}`];
  return accounts.map((a) => `${a.name.padEnd(17)}${a.role.padEnd(9)}since ${new Date(a.created).toISOString().slice(0, 10)}`);
}

/** A command line that does not add up: the usage follows the message. */
export class UsageError extends Error {}

export interface Parsed {
  words: string[];
  options: Map<string, string>;
}

/** The words and the --options of an admin command line. */
export function parse(argv: readonly string[]): Parsed {
  const words: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--(data-dir|role|limit|redis|redis-url-file|redis-ca)(?:=(.*))?$/s.exec(arg);
    if (match === null) {
      if (arg.startsWith('--')) throw new UsageError(`unknown option '${arg}'`);
      words.push(arg);
      continue;
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${match[1]}: missing value`);
    options.set(match[1] ?? '', value);
  }
  return { words, options };
}

/** A role named on the command line. */
export function role(text: string | undefined): Role {
  const found = ROLES.find((r) => r === text);
  if (found === undefined) throw new UsageError(`expected a role, operator or user, got '${text ?? ''}'`);
  return found;
}

/** An account name given on the command line. */
export function name(text: string | undefined): string {
  if (text === undefined) throw new UsageError('missing NAME');
  const problem = checkNick(text);
  if (problem !== null) throw new UsageError(problem);
  if (GUEST_PATTERN.test(text)) throw new UsageError('names like guest-12 are given to newcomers');
  return text;
}

/** The password: asked twice on a terminal (echo off), else the first line of stdin. */
export function readPassword(account: string): string {
  let password: string;
  if (isatty(0)) {
    const first = askHidden(`Password for ${account}: `);
    if (askHidden('Again: ') !== first) throw new Error('the two passwords differ');
    password = first;
  } else password = readLine();
  const problem = checkPassword(password);
  if (problem !== null) throw new Error(problem);
  return password;
}

function askHidden(question: string): string {
  process.stderr.write(question);
  spawnSync('stty', ['-echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
  try {
    return readLine();
  } finally {
    spawnSync('stty', ['echo'], { stdio: ['inherit', 'ignore', 'ignore'] });
    process.stderr.write('\n');
  }
}

/** One line from stdin, read synchronously, without its line end. */
function readLine(): string {
  const bytes: number[] = [];
  const one = Buffer.alloc(1);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, one, 0, 1, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      throw error;
    }
    if (n === 0 || one[0] === 10) break;
    bytes.push(one[0] ?? 0);
  }
  return Buffer.from(bytes).toString('utf8').replace(/\r$/, '');
}

/**
 * `posix-chat user add|list|del|set-role` and `posix-chat audit`: work on the data
 * directory's database without a running server (SQLite lets them run beside one).
 * No account exists until one is made here or with /register: the first operator is
 * made with `posix-chat user add NAME --role operator`.
 */
import { spawnSync } from 'node:child_process';
import { readSync, statSync } from 'node:fs';
import path from 'node:path';
import { isatty } from 'node:tty';
import { checkPassword } from './chat/password.js';
import { checkNick, GUEST_PATTERN } from './chat/rules.js';
import { hashPassword } from './hasher/scrypt.js';
import { messageOf } from './log.js';
import { dataDirPath, prepareDataDir } from './store/data-dir.js';
import { SqliteStore } from './store/sqlite.js';
import { ROLES, type Role } from './store/store.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** Audit entries `posix-chat audit` shows unless --limit says. */
const DEFAULT_AUDIT_ENTRIES = 50;

export const ADMIN_USAGE = `Usage:
  posix-chat user add NAME [--role operator|user]   password from stdin, or asked
  posix-chat user list
  posix-chat user del NAME
  posix-chat user set-role NAME operator|user
  posix-chat audit [--limit N]
Each takes --data-dir DIR (or POSIX_CHAT_DATA_DIR), as the server does.
`;

class UsageError extends Error {}

/** Whether `argv` is an admin command rather than the server's options. */
export function isAdminCommand(argv: readonly string[]): boolean {
  return argv[0] === 'user' || argv[0] === 'audit';
}

interface Parsed {
  words: string[];
  options: Map<string, string>;
}

function parse(argv: readonly string[]): Parsed {
  const words: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const match = /^--(data-dir|role|limit)(?:=(.*))?$/s.exec(arg);
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

/** Runs an admin command; returns the exit code. */
export function runAdmin(argv: readonly string[], env: NodeJS.ProcessEnv): number {
  let store: SqliteStore | null = null;
  try {
    const { words, options } = parse(argv);
    const dir = dataDirPath(options.get('data-dir') ?? env.POSIX_CHAT_DATA_DIR ?? '', env);
    if (prepareDataDir(dir, null)) process.stderr.write(`posix-chat: made the data directory ${dir}\n`);
    store = new SqliteStore(dir);
    return dispatch(store, words, options);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`posix-chat: ${error.message}\n${ADMIN_USAGE}`);
      return EXIT_USAGE;
    }
    process.stderr.write(`posix-chat: ${messageOf(error)}\n`);
    return EXIT_FAILED;
  } finally {
    store?.close();
    if (store !== null) giveBack(store.location);
  }
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

function role(text: string | undefined): Role {
  const found = ROLES.find((r) => r === text);
  if (found === undefined) throw new UsageError(`expected a role, operator or user, got '${text ?? ''}'`);
  return found;
}

function name(text: string | undefined): string {
  if (text === undefined) throw new UsageError('missing NAME');
  const problem = checkNick(text);
  if (problem !== null) throw new UsageError(problem);
  if (GUEST_PATTERN.test(text)) throw new UsageError('names like guest-12 are given to newcomers');
  return text;
}

function dispatch(store: SqliteStore, words: string[], options: Map<string, string>): number {
  const [command, sub, first, second] = words;
  const say = (text: string): void => void process.stdout.write(`${text}\n`);
  const audit = (action: string, target: string): void => store.audit({ at: Date.now(), actor: 'cli', action, target, reason: '' });
  if (command === 'audit') {
    const limit = Number(options.get('limit') ?? DEFAULT_AUDIT_ENTRIES);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit: expected a whole number above 0');
    for (const e of store.auditLog(limit)) say(`${new Date(e.at).toISOString()}  ${e.actor}  ${e.action} ${e.target}${e.reason === '' ? '' : `: ${e.reason}`}`);
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
      for (const a of store.accounts()) say(`${a.name.padEnd(17)}${a.role.padEnd(9)}since ${new Date(a.created).toISOString().slice(0, 10)}`);
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

/** The password: asked twice on a terminal (echo off), else the first line of stdin. */
function readPassword(account: string): string {
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

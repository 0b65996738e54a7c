/**
 * The password hasher: scrypt runs in a process of its own (posix-hasher), never on the
 * parent's loop. While a login waits for it the chat goes on; a stopped hasher holds up
 * the login and nothing else, which also shows the parent does not hash by itself; a
 * killed one, or one stopped too long, fails the waiting login with a clear line and is
 * replaced; a full queue is refused plainly; and the hasher holds no client socket nor
 * the database.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_WAITING_REQUESTS } from '../src/hasher/hasher.js';
import { HASHER_NAME } from '../src/hasher/protocol.js';
import { TestClient } from './helpers/client.js';
import { childrenNamed, descriptors } from './helpers/processes.js';
import { BIN, startServer, stopAllServers, tempDataDir, type RunningServer } from './helpers/server.js';

const PASSWORD = 'correct horse battery';
const STILL_CHECKING = 'Still checking your password: that line was not taken.';
const stopped = new Set<number>();

afterEach(async () => {
  for (const pid of stopped) signal(pid, 'SIGCONT');
  stopped.clear();
  await stopAllServers();
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

/** A data directory with the operator `boss`, made with the CLI. */
function withOperator(): string {
  const dir = tempDataDir();
  const made = spawnSync(process.execPath, [BIN, 'user', 'add', 'boss', '--role', 'operator', '--data-dir', dir], { input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 20_000 });
  expect(made.status, made.stderr).toBe(0);
  return dir;
}

async function connect(server: RunningServer, from = '127.0.0.1'): Promise<TestClient> {
  const client = await TestClient.connect(server.port, '127.0.0.1', from);
  await client.waitFor('Type /help');
  return client;
}

/** The one hasher process under the server. */
function hasherOf(server: RunningServer): number {
  const found = childrenNamed(server.pid, HASHER_NAME);
  expect(found).toHaveLength(1);
  return found[0] as number;
}

/** Stops the hasher (SIGSTOP): requests wait in its pipe until SIGCONT. */
function stopHasher(pid: number): void {
  process.kill(pid, 'SIGSTOP');
  stopped.add(pid);
}

/**
 * Sends `/login boss` and the password, then one more line: the answer to that line
 * ("still checking") shows the parent has the password and waits for the hasher.
 */
async function loginUntilWaiting(client: TestClient): Promise<void> {
  client.send('/login boss\r\n');
  await client.waitFor('Password for boss');
  client.send(`${PASSWORD}\r\ntyped while waiting\r\n`);
  await client.waitFor(STILL_CHECKING);
}

/**
 * The hasher holds its two pipes, the server's stdout and stderr (sockets under the test
 * runner), and what node opens for itself: no other socket, none of the database's files,
 * which the parent does hold.
 */
function expectNoSocketNorDatabase(server: RunningServer, pid: number, dir: string): void {
  const database = path.join(dir, 'posix-chat.db');
  const parent = descriptors(server.pid);
  expect(parent.some((d) => d.target === database)).toBe(true);
  const log = parent.filter((d) => d.fd === 1 || d.fd === 2).map((d) => d.target);
  const held = descriptors(pid);
  expect(held.find((d) => d.fd === 0)?.target).toMatch(/^pipe:/);
  expect(held.find((d) => d.fd === 3)?.target).toMatch(/^pipe:/);
  expect(held.filter((d) => (d.target.startsWith('socket:') && !log.includes(d.target)) || d.target.startsWith(database))).toEqual([]);
}

describe('the password hasher', () => {
  it('checks a login in its own process while the chat goes on, and holds no client socket nor the database', async () => {
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir]);
    const hasher = hasherOf(server);
    const alice = await connect(server);
    const bob = await connect(server);
    const boss = await connect(server);
    expectNoSocketNorDatabase(server, hasher, dir);
    // It gets its own settings, not the server's (which may hold a Redis password).
    const environment = readFileSync(`/proc/${hasher}/environ`, 'utf8').split('\0');
    expect(environment).toContain('POSIX_CHAT_LOG_LEVEL=info');
    expect(environment.filter((entry) => entry.startsWith('POSIX_CHAT_') && !entry.startsWith('POSIX_CHAT_LOG_LEVEL='))).toEqual([]);

    stopHasher(hasher);
    await loginUntilWaiting(boss);
    // The login waits; everyone else's lines go on, in order.
    for (let i = 1; i <= 5; i++) alice.send(`line ${i} while boss waits\r\n`);
    await bob.waitFor(/line 1 while boss waits[\s\S]*line 2[\s\S]*line 3[\s\S]*line 4[\s\S]*line 5 while boss waits/);
    await boss.waitFor('line 5 while boss waits');
    // Only the hasher checks passwords: while it is stopped, the login has no answer.
    expect(boss.text).not.toContain('You are logged in');

    signal(hasher, 'SIGCONT');
    stopped.delete(hasher);
    await boss.waitFor('You are logged in as boss, an operator.');
    await bob.waitFor('*** boss joined #lobby'); // its first command was /login: the room hears of it once it is in
    boss.send('said as boss\r\n');
    await bob.waitFor('<boss> said as boss');
    // The line typed while waiting was never said, nor the password shown or logged.
    await alice.sync();
    for (const text of [alice.text, bob.text, server.stderr()]) {
      expect(text).not.toContain('typed while waiting');
      expect(text).not.toContain(PASSWORD);
    }
    expect(hasherOf(server)).toBe(hasher);
  });

  it('tells a login whose hasher was killed (kill -9) that it failed, starts another, and the next login works', async () => {
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir]);
    const first = hasherOf(server);
    const watcher = await connect(server);
    const boss = await connect(server);
    stopHasher(first);
    await loginUntilWaiting(boss);
    process.kill(first, 'SIGKILL');
    await boss.waitFor('Sorry: the password checker stopped. Try again: /login boss');
    await server.waitForLog(/password hasher exited with signal SIGKILL; restarting it/);

    boss.send(`/login boss\r\n${PASSWORD}\r\n`);
    await boss.waitFor('You are logged in as boss');
    await watcher.waitFor('is now known as boss'); // announced as a guest when its first login failed
    // The new one was forked while clients were connected and the database open: it has neither.
    const second = hasherOf(server);
    expect(second).not.toBe(first);
    expectNoSocketNorDatabase(server, second, dir);
    expect(server.stderr()).not.toContain(PASSWORD);
  });

  it('kills a hasher that answers nothing while a login waits (stopped), and the next login works', async () => {
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir]);
    const first = hasherOf(server);
    const boss = await connect(server);
    stopHasher(first);
    await loginUntilWaiting(boss);
    await boss.waitFor('Sorry: the password checker stopped. Try again: /login boss', 30_000);
    await server.waitForLog(/password hasher \(pid \d+\) answered nothing for \d+ s; killing it/);
    boss.send(`/login boss\r\n${PASSWORD}\r\n`);
    await boss.waitFor('You are logged in as boss');
    expect(hasherOf(server)).not.toBe(first);
  }, 60_000);

  it(`refuses a login plainly when ${MAX_WAITING_REQUESTS} already wait, and takes it once they are answered`, async () => {
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir, '--max-per-ip', '0']);
    const hasher = hasherOf(server);
    // Each from an address of its own: the login throttle counts per address.
    const clients = await Promise.all(Array.from({ length: MAX_WAITING_REQUESTS + 1 }, (_, i) => connect(server, `127.0.0.${10 + i}`)));
    const late = clients.pop() as TestClient;
    stopHasher(hasher);
    await Promise.all(clients.map((client) => loginUntilWaiting(client)));

    late.send(`/login boss\r\n${PASSWORD}\r\n`);
    await late.waitFor('The server is busy checking other passwords; try again in a moment: /login boss');
    late.send('not a password\r\n'); // the prompt ended: this is chat again
    await clients[0]?.waitFor('not a password');

    signal(hasher, 'SIGCONT');
    stopped.delete(hasher);
    await Promise.all(clients.map((client) => client.waitFor('You are logged in as boss', 20_000)));
    late.send(`/login boss\r\n${PASSWORD}\r\n`);
    await late.waitFor('You are logged in as boss');
  }, 60_000);

  it('changes a password through it: the old one is checked first, then only the new one logs in', async () => {
    const NEW = 'a new and longer passphrase';
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir]);
    const boss = await connect(server);
    boss.send(`/login boss\r\n${PASSWORD}\r\n`);
    await boss.waitFor('You are logged in as boss');
    boss.send('/password\r\nnot my password\r\n');
    await boss.waitFor('That is not your password.');
    boss.send('/password\r\n');
    await boss.waitFor(/Your current password[\s\S]*Your current password/);
    boss.send(`${PASSWORD}\r\n`);
    await boss.waitFor('Your new password');
    boss.send(`${NEW}\r\n${NEW}\r\n`);
    await boss.waitFor('Your password is changed.');
    const other = await connect(server, '127.0.0.5');
    other.send(`/login boss\r\n${PASSWORD}\r\n`);
    await other.waitFor('Wrong password.');
    other.send(`/login boss\r\n${NEW}\r\n`);
    await other.waitFor('You are logged in as boss');
    for (const secret of [PASSWORD, NEW, 'not my password']) expect(server.stderr()).not.toContain(secret);
  });

  it('takes a current password longer than any password as wrong, without asking the hasher', async () => {
    const dir = withOperator();
    // Lines up to the longest a record holds: such a password would not fit in a request.
    const server = await startServer(['--data-dir', dir, '--max-line', '4000']);
    const boss = await connect(server);
    boss.send(`/login boss\r\n${PASSWORD}\r\n`);
    await boss.waitFor('You are logged in as boss');
    boss.send(`/password\r\n${'x'.repeat(3990)}\r\n`);
    await boss.waitFor('That is not your password.');
    await boss.sync();
    expect(boss.text).not.toContain('failed on the server');
    expect(server.stderr()).not.toMatch(/ERROR/);
  });

  it('does not log in to an account made again while its password was checked', async () => {
    const dir = withOperator();
    const server = await startServer(['--data-dir', dir]);
    const hasher = hasherOf(server);
    const boss = await connect(server);
    stopHasher(hasher);
    await loginUntilWaiting(boss);
    // Meanwhile the account is deleted and made again with another password (the CLI, on the same database).
    const cli = (args: string[], input = ''): void => {
      const done = spawnSync(process.execPath, [BIN, 'user', ...args, '--data-dir', dir], { input, encoding: 'utf8', timeout: 20_000 });
      expect(done.status, done.stderr).toBe(0);
    };
    cli(['del', 'boss']);
    cli(['add', 'boss', '--role', 'operator'], 'another password entirely\n');
    signal(hasher, 'SIGCONT');
    stopped.delete(hasher);
    await boss.waitFor('The account boss changed while your password was checked. Try again: /login boss');
    await boss.sync();
    expect(boss.text).not.toContain('You are logged in');
  });

  it('is not started in --classic mode, which has no accounts', async () => {
    const server = await startServer(['--classic']);
    // Every helper process is up before the server listens: none is a hasher.
    expect(childrenNamed(server.pid, HASHER_NAME)).toEqual([]);
  });
});

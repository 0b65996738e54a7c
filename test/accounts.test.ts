/**
 * Accounts and moderation on a real server with a real SQLite file: the operator made
 * with the CLI, /login through a real telnet (echo off for the password), refusals and
 * throttling, an address ban refused at accept() with no fork, everything still there
 * after a restart, bans and mutes that expire, and no child holding the database.
 * Every test runs twice: on the data directory alone, and with --redis (a real
 * redis-server; the CLI works on it too), where the shared data lives in Redis.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHILD_NAME, SPARE_NAME } from '../src/child/spare.js';
import { HASHER_NAME } from '../src/hasher/protocol.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { linkPid } from './helpers/cluster.js';
import { childrenNamed, childrenOf, descriptors, processName } from './helpers/processes.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { BIN, ROOT, startServer, stopAllServers, tempDataDir, type RunningServer } from './helpers/server.js';

afterEach(stopAllServers);

const PASSWORD = 'correct horse battery';
const tools = ['telnet', 'expect'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
const HOW = 'install them with: apt-get install -y inetutils-telnet expect (.ci/run does)';
const inCI = process.env.CI === 'true';
if (!HAVE_REDIS && inCI) throw new Error('redis-server is missing: .ci/run installs the Debian package redis-server');

/** The Redis of the run with --redis; null on the data directory alone. */
let redis: RunningRedis | null = null;
const onRedis = (): string[] => (redis === null ? [] : ['--redis', redis.url]);

/** The server, on the store this run is about. */
function serve(args: string[] = []): Promise<RunningServer> {
  return startServer([...args, ...onRedis()]);
}

/** `posix-chat ARGS` on `dir`, with `input` on stdin. */
function cli(dir: string, args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args, '--data-dir', dir, ...onRedis()], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function addOperator(dir: string, name = 'boss'): void {
  const made = cli(dir, ['user', 'add', name, '--role', 'operator'], `${PASSWORD}\n`);
  expect(made.status, made.stderr).toBe(0);
}

async function connect(server: RunningServer, from = '127.0.0.1'): Promise<TestClient> {
  const client = await TestClient.connect(server.port, '127.0.0.1', from);
  await client.waitFor('Type /help');
  return client;
}

async function login(client: TestClient, name = 'boss', password = PASSWORD): Promise<void> {
  client.send(`/login ${name}\r\n`);
  await client.waitFor(`Password for ${name}`);
  client.send(`${password}\r\n`);
  await client.waitFor(`You are logged in as ${name}`);
}

const STORES = ['sqlite', 'redis'] as const;
describe.each(STORES)('on %s', (store) => {
  /** Outside CI without redis-server, the run on Redis is skipped, and says so. */
  const missing = store === 'redis' && !HAVE_REDIS;
  const named = (what: string): string => (missing ? `${what} (skipped: apt-get install -y redis-server)` : what);
  beforeEach(async () => {
    if (store === 'redis' && HAVE_REDIS) redis = await startRedis();
  });
  afterEach(async () => {
    await stopAllServers();
    await redis?.destroy();
    redis = null;
  });

  describe.skipIf(missing)(named('accounts'), () => {
    it('makes and lists accounts with the CLI, refusing a short password, a guest name and a second account of one name', () => {
      const dir = tempDataDir();
      const none = cli(dir, ['user', 'list']);
      expect(none.status).toBe(0);
      expect(none.stdout).toMatch(store === 'redis' ? /^no accounts in Redis at / : /^no accounts in \S*posix-chat\.db\n$/);
      addOperator(dir);
      expect(cli(dir, ['user', 'add', 'shorty'], 'abc\n').status).toBe(1);
      expect(cli(dir, ['user', 'add', 'guest-3'], `${PASSWORD}\n`).status).toBe(2);
      expect(cli(dir, ['user', 'add', 'BOSS'], `${PASSWORD}\n`).stderr).toMatch(/registered already/);
      expect(cli(dir, ['user', 'add', 'carol'], `${PASSWORD}\n`).status).toBe(0);
      expect(cli(dir, ['user', 'set-role', 'carol', 'operator']).status).toBe(0);
      expect(cli(dir, ['user', 'del', 'carol']).status).toBe(0);
      const list = cli(dir, ['user', 'list']);
      expect(list.stdout).toMatch(/^boss +operator/m);
      expect(list.stdout).not.toMatch(/carol/);
      expect(cli(dir, ['audit']).stdout).toMatch(/cli {2}add operator boss[\s\S]*cli {2}op carol[\s\S]*cli {2}delete carol/);
    }, 60_000); // ten runs of the CLI, each a fresh node process

    it('logs in with the password never shown to the others nor logged; a wrong one is refused, then throttled', async () => {
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const other = await connect(server);
      const boss = await connect(server);
      await login(boss);
      await other.waitFor('*** boss joined #lobby'); // announced under the name it logged in as
      const mallory = await connect(server, '127.0.0.3');
      mallory.send('/login boss\r\nnot the password\r\n');
      await mallory.waitFor('Wrong password.');
      mallory.send('/login boss\r\nstill not it\r\n');
      await mallory.waitFor(/Wrong password\.[\s\S]*Wrong password\./); // the second answer (the hasher's, on a later turn)
      mallory.send('/login boss\r\nthird try\r\n'); // asked all the same: the answer says to wait
      await mallory.waitFor(/Too many failed logins from your address: try again in \d+ s/);
      // Another address is not held up.
      const again = await connect(server);
      await login(again);
      await boss.waitFor('logged in elsewhere');
      boss.send('said after\r\n');
      await other.waitFor('said after');
      for (const text of [other.text, mallory.text, server.stderr()]) {
        expect(text).not.toContain(PASSWORD);
        expect(text).not.toContain('not the password');
        expect(text).not.toContain('third try');
      }
      await server.waitForLog(/login failed for boss from 127\.0\.0\.3/);
    });

    it('never lets a password typed right after /login, /register or /password reach anyone, whatever stands in the way', async () => {
      const server = await serve(['--data-dir', tempDataDir()]);
      const other = await connect(server);
      const hasty = await connect(server, '127.0.0.4');
      hasty.send('/login nosuchuser\r\nsecret-one\r\n');
      await hasty.waitFor('No account is called nosuchuser.');
      hasty.send('/register\r\nsecret-two\r\n');
      await hasty.waitFor('Choose your name with /nick NAME first, then /register.');
      hasty.send('/password\r\nsecret-three\r\n');
      await hasty.waitFor('Log in first: /login NAME');
      hasty.send('the next line is said\r\n');
      await other.waitFor('the next line is said');
      other.send('/history 20\r\n');
      await other.waitFor('Last 1 line in #lobby:');
      for (const text of [other.text, hasty.text, server.stderr()]) expect(text).not.toMatch(/secret-/);
    });

    it('reserves a registered name: a guest cannot take it, and a login takes it back', async () => {
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const guest = await connect(server);
      guest.send('/nick boss\r\n');
      await guest.waitFor('The name boss is registered. If it is yours: /login boss');
      guest.send('/nick carol\r\n');
      await guest.waitFor('You are now known as carol.'); // with --redis, once every server agrees
      guest.send('/register\r\n');
      await guest.waitFor('Choose a password for carol');
      guest.send(`${PASSWORD}\r\n${PASSWORD}\r\n`);
      await guest.waitFor('The name carol is yours now.');
      guest.send('/logout\r\n/nick carol\r\n');
      await guest.waitFor('The name carol is registered.');
      const owner = await connect(server);
      await login(owner, 'carol');
      const squatter = await connect(server);
      await login(squatter, 'boss');
      squatter.send('/logout\r\n/nick boss\r\n');
      await squatter.waitFor('The name boss is registered.');
    });

    it.skipIf(tools.length > 0 && !inCI)(`logs in through a real telnet with echo off for the password${tools.length > 0 ? ` (skipped: ${HOW})` : ''}`, async () => {
      if (tools.length > 0) throw new Error(`missing ${tools.join(' and ')}: ${HOW}`);
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const watcher = await connect(server);
      const run = spawn('expect', [path.join(ROOT, 'test/fixtures/telnet-login.exp'), String(server.port), 'boss', PASSWORD], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      run.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      run.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => run.on('exit', resolve));
      expect(output, output).toMatch(/^OK$/m);
      expect(code).toBe(0);
      await watcher.waitFor('echo is back');
      expect(watcher.text).not.toContain(PASSWORD);
      expect(server.stderr()).not.toContain(PASSWORD);
    }, 40_000);
  });

  describe.skipIf(missing)(named('moderation'), () => {
    it('refuses every operator command to a non-operator', async () => {
      const server = await serve();
      const guest = await connect(server);
      const commands = ['kick x', 'ban x', 'unban x', 'bans', 'mute x', 'unmute x', 'op x', 'deop x'];
      for (const command of commands) guest.send(`/${command}\r\n`);
      for (const command of commands) await guest.waitFor(`/${command.split(' ')[0] ?? ''} is for operators only.`);
    });

    it('bans an address for 1 h: refused at accept() with one line and no fork, kept across a restart with the account, topic and history', async () => {
      const dir = tempDataDir();
      addOperator(dir);
      let server = await serve(['--data-dir', dir]);
      const boss = await connect(server);
      await login(boss);
      boss.send('/topic rules: be kind\r\nremember this line\r\n');
      const troll = await connect(server, '127.0.0.2');
      await troll.waitFor('remember this line');
      boss.send('/ban 127.0.0.2 1h trolling\r\n');
      await troll.waitForClose();
      expect(troll.text).toContain('banned by boss: trolling');
      await boss.waitFor('Banned 127.0.0.2 for');
      // A mistyped duration bans nobody (it used to become a ban until lifted, the typo its reason).
      for (const typo of ['0m', '5y', '-5m']) {
        boss.send(`/ban 127.0.0.9 ${typo} oops\r\n`);
        await boss.waitFor(`${typo} is not a duration: say 30s, 30m, 2h, 7d or 2w (a year at most), or none for until lifted. Nobody was banned.`);
      }
      boss.send('/bans\r\n');
      await boss.waitFor(/127\.0\.0\.2 for \S+, by boss: trolling/);
      expect(boss.text).not.toMatch(/127\.0\.0\.9 (for|until)/);
      await expectRefused(server, '127.0.0.2');
      const fine = await connect(server, '127.0.0.1');
      await fine.waitFor('Topic of #lobby: rules: be kind');

      // The parent alone holds the database; the zygote, its spare and every child do not.
      const database = path.join(dir, 'posix-chat.db');
      expect(descriptors(server.pid).some((d) => d.target === database)).toBe(true);
      const others = childrenOf(server.pid);
      expect(others.length).toBeGreaterThanOrEqual(3); // zygote, spare, two clients' children
      for (const pid of others) expect(descriptors(pid).filter((d) => d.target.startsWith(database))).toEqual([]);

      server.kill();
      await server.exited;
      server = await serve(['--data-dir', dir]);
      await expectRefused(server, '127.0.0.2');
      const back = await connect(server);
      await back.waitFor('Topic of #lobby: rules: be kind');
      await back.waitFor('remember this line');
      await login(back);
      back.send('/bans\r\n');
      // Under a second after the ban, an hour's ban still shows 1h00m (durations round up).
      await back.waitFor(/127\.0\.0\.2 for (5\dm|1h00m), by boss: trolling/);
    }, 60_000);

    it('closes the database in a child the server forks itself (--no-zygote)', async () => {
      const dir = tempDataDir();
      const server = await serve(['--data-dir', dir, '--no-zygote']);
      const client = await connect(server);
      client.send('/history\r\n');
      await client.waitFor('Nothing was said in #lobby yet.');
      const database = path.join(dir, 'posix-chat.db');
      expect(descriptors(server.pid).some((d) => d.target === database)).toBe(true);
      const children = childrenOf(server.pid);
      const link = redis === null ? [] : [linkPid(server)];
      // The client's, and the password hasher; with --redis, the link too.
      expect(children.filter((pid) => !link.includes(pid)).map((pid) => processName(pid)).sort()).toEqual([CHILD_NAME, HASHER_NAME].sort());
      expect(children).toHaveLength(2 + link.length);
      for (const pid of children) expect(descriptors(pid).filter((d) => d.target.startsWith(database))).toEqual([]);
    });

    it('lets a 2 s ban expire, and refuses to ban the operator himself', async () => {
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const boss = await connect(server);
      await login(boss);
      boss.send('/ban 127.0.0.0/8 1h\r\n');
      await boss.waitFor('That ban would take you too; not done.');
      boss.send('/ban 127.0.0.4 2s\r\n');
      await boss.waitFor('Banned 127.0.0.4 for 2s');
      await expectRefused(server, '127.0.0.4');
      let client: TestClient | null = null;
      const deadline = Date.now() + 10_000;
      while (client === null && Date.now() < deadline) {
        const attempt = await TestClient.connect(server.port, '127.0.0.1', '127.0.0.4');
        await pollUntil(() => attempt.closed || attempt.text.includes('Welcome'), 5_000, 'an answer');
        if (attempt.text.includes('Welcome')) client = attempt;
        else attempt.close();
      }
      expect(client?.text).toContain('Welcome to posix-chat');
    }, 30_000);

    it("mutes: a muted user's lines reach nobody and they are told; /unmute lifts it", async () => {
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const boss = await connect(server);
      await login(boss);
      const loud = await connect(server);
      const listener = await connect(server);
      loud.send('/nick loud\r\n');
      await boss.waitFor('*** loud joined #lobby');
      boss.send('/mute loud 30m\r\n');
      await loud.waitFor('boss muted you for 30m');
      loud.send('can anyone hear me\r\n/me shouts\r\n/msg boss psst\r\n');
      await loud.waitFor(/You are muted for \d+m: nobody sees what you say\.[\s\S]*muted[\s\S]*muted/);
      boss.send('/unmute loud\r\n');
      await loud.waitFor('boss unmuted you.');
      loud.send('heard now\r\n');
      await listener.waitFor('<loud> heard now');
      for (const text of [listener.text, boss.text]) {
        expect(text).not.toContain('can anyone hear me');
        expect(text).not.toContain('shouts');
        expect(text).not.toContain('psst');
      }
    });
  });


  describe.skipIf(missing)(named('for everyone'), () => {
    it('/ignore hides a name (kept for an account across logins), /away shows in /who and to senders, /history N shows the last lines', async () => {
      const dir = tempDataDir();
      addOperator(dir);
      const server = await serve(['--data-dir', dir]);
      const boss = await connect(server);
      await login(boss);
      const pest = await connect(server);
      const friend = await connect(server);
      pest.send('/nick pest\r\n');
      friend.send('/nick friend\r\n');
      // On Redis a name is claimed there first: a line sent before the answer goes out under the old name.
      await pest.waitFor('You are now known as pest');
      await boss.waitFor('*** friend joined #lobby');
      boss.send('/ignore pest\r\n');
      await boss.waitFor('You no longer see what pest says');
      // Each line after the other's is seen (one sender at a time): boss has had the chance to see pest's.
      pest.send('first from pest\r\n/msg boss private from pest\r\n');
      await pest.waitFor('-> *boss* private from pest');
      await friend.waitFor('<pest> first from pest'); // the others still see pest
      friend.send('from friend\r\n');
      await boss.waitFor('<friend> from friend');
      expect(boss.text).not.toContain('from pest');
      boss.send('/logout\r\n');
      await boss.waitFor('You are logged out.');
      boss.send(`/login boss\r\n${PASSWORD}\r\n`);
      await boss.waitFor(/logged in as boss[\s\S]*logged in as boss/); // the second time
      pest.send('second from pest\r\n');
      await friend.waitFor('<pest> second from pest');
      friend.send('again from friend\r\n');
      await boss.waitFor('again from friend');
      expect(boss.text).not.toContain('second from pest');
      boss.send('/unignore pest\r\n/away at lunch\r\n');
      await boss.waitFor('You are away (at lunch)');
      friend.send('/who\r\n/msg boss are you there\r\n');
      await friend.waitFor(/boss +idle \S+ \(away: at lunch\)/);
      await friend.waitFor('boss is away: at lunch');
      boss.send('/history 2\r\n');
      await boss.waitFor(/Last 2 lines in #lobby:\r\n\S+ <pest> second from pest\r\n\S+ <friend> again from friend/);
    }, 40_000);
  });
});

/** A client from `from` gets one line and is closed, and the server forks nothing for it. */
async function expectRefused(server: RunningServer, from: string): Promise<void> {
  // The spare for the next client is forked a moment after the last one took its client: wait for it.
  await pollUntil(() => childrenNamed(server.pid, SPARE_NAME).length > 0, 10_000, 'a spare child');
  const before = childrenNamed(server.pid, CHILD_NAME);
  const client = await TestClient.connect(server.port, '127.0.0.1', from);
  await client.waitForClose();
  expect(client.lines()).toEqual([expect.stringMatching(/^\*\*\* You are banned from this server for \S+(: trolling)?\.$/)]);
  // No child took the connection: a spare that had would now be a client child. (The
  // zygote may fork another spare meanwhile, which says nothing about this connection.)
  expect(childrenNamed(server.pid, CHILD_NAME).filter((pid) => !before.includes(pid))).toEqual([]);
}

/**
 * With --redis, accounts, bans, mutes, ignores, topics and the audit trail are the
 * cluster's: an account made on one server logs in on another, a ban made on one
 * refuses on the other (by name, and by address at accept()), an operator made with
 * `posix-chat user add --redis` acts on every server, a restarted server (or a new one
 * with an empty data directory) has it all, and hostile entries in Redis are refused
 * with a log line while the servers go on. Real redis-server, real server processes.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHILD_NAME, SPARE_NAME } from '../src/child/spare.js';
import { TestClient } from './helpers/client.js';
import { ClusterFixture } from './helpers/cluster.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed } from './helpers/processes.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { hashPassword } from '../src/hasher/scrypt.js';
import { writeShared } from '../src/cluster/shared-redis.js';
import type { Account } from '../src/store/store.js';
import { BIN, stopAllServers, tempDataDir, type RunningServer } from './helpers/server.js';

if (!HAVE_REDIS && process.env.CI === 'true') throw new Error('redis-server is missing: .ci/run installs the Debian package redis-server');

const PASSWORD = 'correct horse battery';
const SHARED = 'posix-chat:{shared}:';
let redis: RunningRedis;
let cluster: ClusterFixture;

beforeEach(async () => {
  cluster = new ClusterFixture();
  if (HAVE_REDIS) redis = await startRedis();
});
afterEach(async (context) => {
  cluster.end(context.task.result?.state === 'fail');
  await stopAllServers();
  if (HAVE_REDIS) await redis.destroy();
});

/** `posix-chat ARGS --redis URL`, with `input` on stdin. */
function cli(args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args, '--redis', redis.url], { input, encoding: 'utf8', timeout: 20_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function addUser(name: string, role: 'operator' | 'user' = 'operator'): void {
  const made = cli(['user', 'add', name, '--role', role], `${PASSWORD}\n`);
  expect(made.status, made.stderr).toBe(0);
}

async function guest(server: RunningServer, from = '127.0.0.1'): Promise<TestClient> {
  const client = await TestClient.connect(server.port, '127.0.0.1', from);
  cluster.clients.push(client);
  await client.waitFor('Type /help');
  return client;
}

async function login(client: TestClient, name: string): Promise<void> {
  client.send(`/login ${name}\r\n`);
  await client.waitFor(`Password for ${name}`);
  client.send(`${PASSWORD}\r\n`);
  await client.waitFor(`You are logged in as ${name}`);
}

/** Runs `attempt` (which waits for its own answer) until it says yes: a change made on another server takes a round trip through Redis. */
async function retry(what: string, attempt: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await attempt())) if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Sends `command` until an answer line matches `answer`. */
async function until(client: TestClient, command: string, answer: RegExp): Promise<void> {
  await retry(`${answer.source} after ${command}`, async () => {
    const before = client.lines().length;
    client.send(`${command}\r\n`);
    await pollUntil(() => client.lines().length > before, 5_000, `an answer to ${command}`);
    return client.lines().slice(before).some((line) => answer.test(line));
  });
}

/** A client from `from` is refused with one line and no child is forked for it (tried again while the ban travels). */
async function expectRefused(server: RunningServer, from: string): Promise<void> {
  await retry(`a connection from ${from} refused`, async () => {
    await pollUntil(() => childrenNamed(server.pid, SPARE_NAME).length > 0, 10_000, 'a spare child');
    const before = childrenNamed(server.pid, CHILD_NAME);
    const client = await TestClient.connect(server.port, '127.0.0.1', from);
    await pollUntil(() => client.closed || client.text.includes('Type /help'), 5_000, 'an answer');
    if (client.text.includes('Type /help')) {
      client.close();
      return false;
    }
    expect(client.lines()).toEqual([expect.stringMatching(/^\*\*\* You are banned from this server for \S+: trolling\.$/)]);
    expect(childrenNamed(server.pid, CHILD_NAME).filter((pid) => !before.includes(pid))).toEqual([]);
    return true;
  });
}

describe.skipIf(!HAVE_REDIS)(`the shared data${HAVE_REDIS ? '' : ' (skipped: apt-get install -y redis-server)'}`, () => {
  it('an account made on one server logs in on the other; operators made with the CLI on Redis kick and ban on both', async () => {
    addUser('boss');
    addUser('chief');
    const dirB = tempDataDir();
    const a = await cluster.server(redis.url, 'alpha');
    let b = await cluster.server(redis.url, 'beta', ['--data-dir', dirB]);

    const carol = await guest(a);
    carol.send('/nick carol\r\n');
    await carol.waitFor('You are now known as carol.'); // once every server agrees
    carol.send('/register\r\n');
    await carol.waitFor('Choose a password for carol');
    carol.send(`${PASSWORD}\r\n${PASSWORD}\r\n`);
    await carol.waitFor('The name carol is yours now.');
    carol.send('/quit\r\n');
    await carol.waitForClose();
    const carolOnB = await guest(b);
    await login(carolOnB, 'carol');

    const boss = await guest(a);
    await login(boss, 'boss');
    const chief = await guest(b);
    await login(chief, 'chief');
    const pestA = await guest(a);
    const pestB = await guest(b);
    pestA.send('/nick pesta\r\n');
    pestB.send('/nick pestb\r\n');
    // In a cluster a new name is taken once Redis agrees: each rename is waited for.
    await pestA.waitFor('You are now known as pesta.');
    await pestB.waitFor('You are now known as pestb.');
    boss.send('/kick pesta go away\r\n');
    chief.send('/kick pestb go away\r\n');
    await pestA.waitForClose();
    await pestB.waitForClose();

    // A name ban made on alpha: carol, on beta, is disconnected; beta refuses the name at /login and /nick.
    boss.send('/ban carol 1h spam\r\n');
    await boss.waitFor('Banned carol for 1h');
    await carolOnB.waitForClose();
    expect(carolOnB.text).toContain('banned by boss: spam');
    const again = await guest(b);
    again.send(`/login carol\r\n${PASSWORD}\r\n`);
    await again.waitFor('The name carol is banned for');
    boss.send('/ban mallory 1h\r\n');
    await until(chief, '/bans', /^\*\*\* {3}mallory for/);
    again.send('/nick mallory\r\n');
    await again.waitFor('The name mallory is banned.');

    // An address ban made on beta: refused at accept() on alpha, and a client already there is disconnected.
    const troll = await guest(a, '127.0.0.2');
    chief.send('/ban 127.0.0.2 1h trolling\r\n');
    await troll.waitForClose();
    await expectRefused(a, '127.0.0.2');
    await expectRefused(b, '127.0.0.2');

    // The cluster's audit trail has what both operators did, and the CLI's own changes.
    await pollUntil(() => /boss {2}ban carol[\s\S]*chief {2}ban 127\.0\.0\.2/.test(cli(['audit']).stdout), 10_000, 'the audit trail');
    const trail = cli(['audit']).stdout;
    // The two kicks were made at once on two servers: in either order.
    for (const line of ['cli  add operator boss', 'boss  kick pesta: go away', 'chief  kick pestb: go away']) expect(trail).toContain(line);

    // Restarted on its data directory, beta still knows everything; so does a new server with an empty one.
    b.kill();
    await b.exited;
    b = await cluster.server(redis.url, 'beta', ['--data-dir', dirB]);
    await expectRefused(b, '127.0.0.2');
    const c = await cluster.server(redis.url, 'gamma');
    await expectRefused(c, '127.0.0.2');
    const chiefOnC = await guest(c);
    await login(chiefOnC, 'chief');
    chiefOnC.send('/bans\r\n');
    await chiefOnC.waitFor(/127\.0\.0\.2 for \S+, by chief: trolling/);
    const late = await guest(c);
    late.send(`/login carol\r\n${PASSWORD}\r\n`);
    await late.waitFor('The name carol is banned for');
  }, 120_000);

  it('a role, a mute, a topic and an ignore changed on one server (or by the CLI) apply on the others at once', async () => {
    addUser('boss');
    addUser('dave', 'user');
    const a = await cluster.server(redis.url, 'alpha');
    const b = await cluster.server(redis.url, 'beta');
    const dave = await guest(b);
    await login(dave, 'dave');
    dave.send('/kick x\r\n');
    await dave.waitFor('/kick is for operators only.');
    expect(cli(['user', 'set-role', 'dave', 'operator']).status).toBe(0);
    await dave.waitFor('You are an operator now.');
    const boss = await guest(a);
    await login(boss, 'boss');
    boss.send('/topic shared rules\r\n');
    await until(dave, '/topic', /Topic of #lobby: shared rules/);
    boss.send('/deop dave\r\n');
    await dave.waitFor('You are no longer an operator.');
    // An account muted on alpha is still muted when it logs in on beta; what it ignores follows it too.
    const loud = await guest(a);
    loud.send('/nick loud\r\n');
    await loud.waitFor('You are now known as loud.');
    loud.send('/register\r\n');
    await loud.waitFor('Choose a password');
    loud.send(`${PASSWORD}\r\n${PASSWORD}\r\n`);
    await loud.waitFor('The name loud is yours now.');
    loud.send('/ignore boss\r\n');
    await loud.waitFor('You no longer see what boss says');
    boss.send('/mute loud 1h\r\n');
    await loud.waitFor('boss muted you for 1h');
    loud.send('/quit\r\n');
    await loud.waitForClose();
    const loudOnB = await guest(b);
    await login(loudOnB, 'loud');
    loudOnB.send('/ignore\r\n');
    await loudOnB.waitFor('You ignore: boss');
    loudOnB.send('am I heard\r\n/ignore boss\r\n');
    await loudOnB.waitFor(/You are muted for \d+h\d+m/);
    await loudOnB.waitFor('You ignore boss already.');
    expect(cli(['user', 'list']).stdout).toMatch(/^boss +operator[\s\S]*^dave +user[\s\S]*^loud +user/m);
  }, 90_000);

  it('a role set on one server keeps a password changed on another, and never brings back a deleted account', async () => {
    addUser('alice', 'user');
    const stored = async (): Promise<Account | null> => {
      const value = await redis.admin.hget(`${SHARED}accounts`, 'alice');
      return value === null ? null : (JSON.parse(value) as Account);
    };
    const old = await stored();
    expect(old).not.toBeNull();
    if (old === null) return;
    // Server A changes the password; server B, whose copy still has the old hash, makes alice an operator.
    const fresh = hashPassword('a new password');
    expect(await writeShared(redis.admin, { c: 'account', name: 'alice', account: { ...old, hash: fresh }, set: 'hash' }, 'cli')).toBe(true);
    expect(await writeShared(redis.admin, { c: 'account', name: 'alice', account: { ...old, role: 'operator' }, set: 'role' }, 'cli')).toBe(true);
    expect(await stored()).toEqual({ ...old, hash: fresh, role: 'operator' });
    const notices = await redis.admin.xrange(`${SHARED}changes`, '-', '+');
    expect(notices.slice(-2).map(([, fields]) => fields)).toEqual([0, 1].map(() => ['o', 'cli', 'c', 'account', 'k', 'alice']));
    // Deleted meanwhile: a role set (by a server, or the CLI) finds nothing and writes nothing.
    expect(cli(['user', 'del', 'alice']).status).toBe(0);
    expect(await writeShared(redis.admin, { c: 'account', name: 'alice', account: old, set: 'role' }, 'cli')).toBe(false);
    const setRole = cli(['user', 'set-role', 'alice', 'operator']);
    expect(setRole.status).not.toBe(0);
    expect(setRole.stderr).toContain('no account is called alice');
    expect(await stored()).toBeNull();
    // Made anew in one step with its notice, only where the name is free.
    expect(await writeShared(redis.admin, { c: 'account', name: 'alice', account: old, create: true }, 'cli')).toBe(true);
    expect(await writeShared(redis.admin, { c: 'account', name: 'alice', account: { ...old, role: 'operator' }, create: true }, 'cli')).toBe(false);
    expect(await stored()).toEqual(old);
    expect((await redis.admin.xrevrange(`${SHARED}changes`, '+', '-', 'COUNT', 1))[0]?.[1]).toEqual(['o', 'cli', 'c', 'account', 'k', 'alice']);
  }, 30_000);

  it("a lone server's accounts and bans go to Redis when it joins a cluster", async () => {
    const dir = tempDataDir();
    const made = spawnSync(process.execPath, [BIN, 'user', 'add', 'veteran', '--role', 'operator', '--data-dir', dir], { input: `${PASSWORD}\n`, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const lone = await cluster.server(null, 'lone', ['--data-dir', dir]);
    const veteran = await guest(lone);
    await login(veteran, 'veteran');
    veteran.send('/ban 127.0.0.7 1h trolling\r\n');
    await veteran.waitFor('Banned 127.0.0.7');
    lone.kill();
    await lone.exited;
    await cluster.server(redis.url, 'alpha', ['--data-dir', dir]);
    const b = await cluster.server(redis.url, 'beta');
    await expectRefused(b, '127.0.0.7');
    await login(await guest(b), 'veteran');
    expect(cli(['user', 'list']).stdout).toMatch(/^veteran +operator/m);
  }, 60_000);

  it('while Redis is down, a ban holds on its server at once and reaches the others when Redis is back', async () => {
    addUser('boss');
    const a = await cluster.server(redis.url, 'alpha');
    const b = await cluster.server(redis.url, 'beta');
    const boss = await guest(a);
    await login(boss, 'boss');
    await redis.stop();
    boss.send('/ban 127.0.0.6 1h trolling\r\n');
    await boss.waitFor('Banned 127.0.0.6 for 1h');
    await expectRefused(a, '127.0.0.6');
    const before = await guest(b, '127.0.0.6'); // beta cannot know yet
    await redis.start();
    await before.waitForClose(15_000);
    await expectRefused(b, '127.0.0.6');
    await pollUntil(() => cli(['audit']).stdout.includes('boss  ban 127.0.0.6'), 10_000, 'the ban in the audit trail');
  }, 60_000);

  it('a kind Redis cannot read leaves every server its copy, instead of a snapshot with that kind missing', async () => {
    addUser('boss');
    const dir = tempDataDir();
    let a = await cluster.server(redis.url, 'alpha', ['--data-dir', dir]);
    const boss = await guest(a);
    await login(boss, 'boss');
    boss.send('/ban 127.0.0.8 1h trolling\r\n');
    await boss.waitFor('Banned 127.0.0.8');
    await retry('the ban in Redis', async () => (await redis.admin.hexists(`${SHARED}bans`, '127.0.0.8')) === 1);
    a.kill();
    await a.exited;
    // The bans hash turned into a string: reading it fails with WRONGTYPE.
    await redis.admin.del(`${SHARED}bans`);
    await redis.admin.set(`${SHARED}bans`, 'not a hash');
    a = await cluster.server(redis.url, 'alpha', ['--data-dir', dir]);
    await a.waitForLog(/could not all be read/, 10_000);
    await expectRefused(a, '127.0.0.8');
    await login(await guest(a), 'boss');
  }, 60_000);

  it('removes bans and mutes whose time is up from Redis as it reads them, and keeps the rest', async () => {
    const over = JSON.stringify({ target: 'mallory', kind: 'name', until: 1_000, by: 'boss', reason: 'long ago', at: 1 });
    const live = JSON.stringify({ target: 'trudy', kind: 'name', until: null, by: 'boss', reason: 'still', at: 1 });
    const muted = JSON.stringify({ name: 'Oscar', until: Date.now() + 3_600_000 });
    await redis.admin.hset(`${SHARED}bans`, 'mallory', over, 'trudy', live);
    await redis.admin.hset(`${SHARED}mutes`, 'eve', JSON.stringify({ name: 'Eve', until: 1_000 }), 'oscar', muted);
    const a = await cluster.server(redis.url, 'alpha');
    await a.waitForLog(/removed 2 expired ban\(s\) and mute\(s\) from Redis/, 10_000);
    expect(await redis.admin.hexists(`${SHARED}bans`, 'mallory')).toBe(0);
    expect(await redis.admin.hexists(`${SHARED}mutes`, 'eve')).toBe(0);
    expect(await redis.admin.hget(`${SHARED}bans`, 'trudy')).toBe(live);
    expect(await redis.admin.hget(`${SHARED}mutes`, 'oscar')).toBe(muted);
    // The ban still there still holds.
    const client = await guest(a);
    client.send('/nick trudy\r\n');
    await client.waitFor('The name trudy is banned.');
  }, 60_000);

  it('refuses hostile entries in Redis with a log line, at start and when they change, and goes on', async () => {
    addUser('boss');
    const bad: [string, string, string][] = [
      [`${SHARED}accounts`, 'evil', JSON.stringify({ name: 'evil', role: 'root', hash: 'x', created: 1 })],
      [`${SHARED}accounts`, 'mole', JSON.stringify({ name: 'mole', role: 'operator', hash: 'scrypt$1048576$8$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', created: 1 })],
      [`${SHARED}bans`, '999.1.1.1/99', JSON.stringify({ target: '999.1.1.1/99', kind: 'address', until: null, by: 'x', reason: '', at: 1 })],
      [`${SHARED}bans`, '0.0.0.0/0', JSON.stringify({ target: '0.0.0.0/0', kind: 'name', until: null, by: 'x', reason: '', at: 1 })],
      [`${SHARED}topics`, '#lobby', 'x'.repeat(1_000_000)],
    ];
    for (const [key, field, value] of bad) await redis.admin.hset(key, field, value);
    const a = await cluster.server(redis.url, 'alpha');
    await a.waitForLog(/refused account "evil" from Redis: a bad role/, 10_000);
    for (const why of [/account "mole" from Redis: a bad password hash/, /ban "999\.1\.1\.1\/99" from Redis: a bad address/, /ban "0\.0\.0\.0\/0" from Redis: a bad name/, /topic "#lobby" from Redis: a bad topic/]) {
      await a.waitForLog(why, 10_000);
    }
    // Changed while the server runs: a forged role, announced on the change stream.
    await redis.admin.hset(`${SHARED}accounts`, 'sneak', JSON.stringify({ name: 'sneak', role: 'god', hash: 'x', created: 1 }));
    await redis.admin.xadd(`${SHARED}changes`, '*', 'o', 'cli', 'c', 'account', 'k', 'sneak');
    await redis.admin.xadd(`${SHARED}changes`, '*', 'o', 'nobody', 'c', 'account', 'k', 'sneak');
    await a.waitForLog(/account "sneak" from Redis: a bad role/, 10_000);
    await a.waitForLog(/change notice \S+ from Redis: o is neither/, 10_000);
    // Nobody got in through them, and the server goes on.
    const client = await guest(a, '127.0.0.5');
    for (const name of ['evil', 'mole', 'sneak']) {
      client.send(`/login ${name}\r\nits password\r\n`);
      await client.waitFor(`No account is called ${name}.`);
    }
    client.send('/topic\r\n');
    await client.waitFor('#lobby has no topic.');
    await login(client, 'boss');
    client.send('/bans\r\n');
    await client.waitFor('Nobody is banned.');
  }, 60_000);
});

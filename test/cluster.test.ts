/**
 * Several servers, one chat, through a real redis-server (--redis): delivery, presence,
 * nick claims, history, and what happens when a server, a link or Redis itself fails.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeClients, connect, person, type TestClient } from './helpers/client.js';
import { linkPid } from './helpers/cluster.js';
import { pollUntil } from './helpers/poll.js';
import { childrenOf, isAlive } from './helpers/processes.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { BIN, startServer, stopAllServers, type RunningServer } from './helpers/server.js';

if (!HAVE_REDIS && process.env.CI === 'true') throw new Error('redis-server is missing: .ci/run installs the Debian package redis-server');

let redis: RunningRedis;
beforeEach(async () => {
  if (HAVE_REDIS) redis = await startRedis();
});
afterEach(async (context) => {
  // A failed test shows what the servers logged: the cluster's story is in there.
  if (context.task.result?.state === 'fail') for (const server of started) console.error(`--- server ${server.port}:\n${server.stderr().slice(-3000)}`);
  started.length = 0;
  closeClients();
  await stopAllServers();
  if (HAVE_REDIS) await redis.destroy();
});

/** A server in the cluster; flood control off so a burst of test lines is never throttled. */
const started: RunningServer[] = [];
async function clusterServer(name: string, args: string[] = []): Promise<RunningServer> {
  const server = await startServer(['--redis', redis.url, '--server-name', name, '--rate-limit', '0', '--no-timestamps', '--log-level', 'debug', ...args]);
  started.push(server);
  return server;
}

function linkPidOrZero(server: RunningServer): number {
  try {
    return linkPid(server);
  } catch {
    return 0;
  }
}

/** Lines `<from> tag-N` a client received from `from`, as numbers, in arrival order. */
function numbersFrom(client: TestClient, from: string, tag: string): number[] {
  const pattern = new RegExp(`^<${from}> ${tag}-(\\d+)$`);
  return client.lines().flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [Number(match[1])] : [];
  });
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe.skipIf(!HAVE_REDIS)('cluster: several servers, one chat', () => {
  it('carries lines, /me, /msg, joins, renames and rooms between two servers', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const alice = await person(a, 'alice');
    const bob = await person(b, 'bob');
    await alice.waitFor('*** bob joined #lobby'); // from the other server, under the name its first command took

    alice.send('hello from alpha\r\n');
    await bob.waitFor('<alice> hello from alpha');
    bob.send('/me waves\r\n');
    await alice.waitFor('* bob waves');
    bob.send('/nick bobby\r\n');
    await alice.waitFor('*** bob is now known as bobby');
    bob.send('/nick bob\r\n');
    await alice.waitFor('*** bobby is now known as bob');

    alice.send('/who *\r\n');
    await alice.waitFor('2 people online:');
    await alice.waitFor(/\*\*\* {3}bob +#lobby on beta idle \d+s\r\n/);
    bob.send('/msg alice psst\r\n');
    await alice.waitFor('*bob* psst');
    await bob.waitFor('-> *alice* psst');

    bob.send('/join #games\r\n');
    await alice.waitFor('*** bob left for #games');
    alice.send('/join #games\r\n');
    await alice.waitFor('You are now in #games. Here with you: bob.');
    await bob.waitFor('*** alice joined #games');
    alice.send('/rooms\r\n');
    await alice.waitFor('Rooms: #games (2), #lobby (0)');
  });

  it('refuses on one server a nick taken on another, and frees it when its holder leaves', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const alice = await person(a, 'alice');
    const other = await connect(b);
    await other.waitFor('Type /help');
    other.send('/nick ALICE\r\n');
    await other.waitFor('The name ALICE is taken. Try another.');
    other.send('/nick guest-5\r\n');
    await other.waitFor('Names like guest-12 are given to newcomers.');
    alice.close();
    await other.waitFor('*** alice left (connection closed)');
    other.send('/nick ALICE\r\n');
    await other.waitFor('You are now known as ALICE.');
  });

  it('delivers every line to every other client exactly once, in each sender\'s order, across three servers', { timeout: 60_000 }, async () => {
    const servers = [await clusterServer('one'), await clusterServer('two'), await clusterServer('three')];
    const people: { nick: string; client: TestClient }[] = [];
    for (const [s, server] of servers.entries()) {
      for (const i of range(3)) people.push({ nick: `p${s}${i}`, client: await person(server, `p${s}${i}`) });
    }
    // Everyone has seen everyone's name before the burst starts.
    for (const { client } of people) for (const { nick } of people) await client.waitFor(nick);
    const LINES = 40;
    for (const i of range(LINES)) for (const { client } of people) client.send(`m-${i}\r\n`);
    for (const { nick, client } of people) {
      for (const sender of people) {
        if (sender.nick === nick) continue;
        await pollUntil(() => numbersFrom(client, sender.nick, 'm').length >= LINES, 20_000, `${nick} to get ${sender.nick}'s lines`);
      }
    }
    // A last line from each: it comes after all of its sender's lines, and so would a duplicate of them.
    for (const { client } of people) client.send('m-done\r\n');
    for (const { nick, client } of people) {
      for (const sender of people) if (sender.nick !== nick) await client.waitFor(`<${sender.nick}> m-done`, 20_000);
    }
    for (const { nick, client } of people) {
      for (const sender of people) {
        if (sender.nick !== nick) expect(numbersFrom(client, sender.nick, 'm')).toEqual(range(LINES));
      }
    }
  });

  it('shows a newcomer the same room history whichever server they join', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const alice = await person(a, 'alice');
    alice.send('first\r\nsecond\r\n');
    const b = await clusterServer('beta'); // started after the lines: reads them back from the stream
    const bob = await person(b, 'bob');
    await bob.waitFor('Last 2 lines in #lobby:');
    await bob.waitFor('<alice> first\r\n<alice> second');
    bob.send('third\r\n');
    await alice.waitFor('<bob> third');
    const carol = await person(a, 'carol');
    await carol.waitFor('<alice> first\r\n<alice> second\r\n<bob> third');
  });

  it('exits with 1 and one line when Redis cannot be reached at start', { timeout: 60_000 }, async () => {
    await redis.stop();
    // --log-level warn: as root the suite gives --user root, which logs an info line first.
    const run = spawnSync(process.execPath, ['--single-threaded', BIN, '--port', '0', '--redis', redis.url, '--log-level', 'warn'], { encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe(''); // never said it was listening
    expect(run.stderr).toBe(`posix-chat: cannot reach Redis at ${redis.url}: connect ECONNREFUSED 127.0.0.1:${redis.port}\n`);
  });
});

describe.skipIf(!HAVE_REDIS)('cluster: failures', () => {
  /** Sends `tag-0` ... `tag-(n-1)` from `client`, each once its server has read the one before. */
  async function sendNumbered(client: TestClient, tag: string, n: number): Promise<void> {
    for (const i of range(n)) {
      client.send(`${tag}-${i}\r\n`);
      await client.sync();
    }
  }

  /** Two servers: alice and ann on alpha, bob on beta; alice has seen bob arrive. */
  async function aliceAndAnnOnAlphaBobOnBeta(): Promise<{ a: RunningServer; alice: TestClient; ann: TestClient; bob: TestClient }> {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const alice = await person(a, 'alice');
    const ann = await person(a, 'ann');
    const bob = await person(b, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    return { a, alice, ann, bob };
  }

  let marks = 0;
  /**
   * Waits for `n` lines `tag-N` from `from` at `client`, then for a mark `from` sends after
   * them: it comes after all of their lines, and so would a duplicate of them.
   */
  async function expectAllOnce(client: TestClient, from: TestClient, fromNick: string, tag: string, n: number, timeoutMs = 20_000): Promise<void> {
    await pollUntil(() => numbersFrom(client, fromNick, tag).length >= n, timeoutMs, `${n} ${tag} lines from ${fromNick}`);
    const mark = `${tag}-mark${++marks}`;
    from.send(`${mark}\r\n`);
    await client.waitFor(`<${fromNick}> ${mark}`, timeoutMs);
    expect(numbersFrom(client, fromNick, tag)).toEqual(range(n));
  }

  it('a server that vanishes without a goodbye leaves presence within the TTL, frees its nicks, and the others chat on', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const c = await clusterServer('gamma');
    const alice = await person(a, 'alice');
    await person(b, 'bob');
    const carol = await person(c, 'carol');
    await alice.waitFor('*** bob joined #lobby');
    await alice.waitFor('*** carol joined #lobby');
    // Its link first, then the parent before it restarts the link: nobody is left to say goodbye.
    process.kill(linkPid(b), 'SIGKILL');
    b.kill();
    await b.exited;
    const killedAt = Date.now();
    carol.send('still here\r\n');
    await alice.waitFor('<carol> still here');
    // Each server notices on its own heartbeat: both within the TTL and one heartbeat.
    await alice.waitFor('*** bob left (lost with beta)', 15_000);
    await carol.waitFor('*** bob left (lost with beta)', 15_000);
    const goneAfterMs = Date.now() - killedAt;
    expect(goneAfterMs).toBeLessThan((6 + 2 + 1) * 1000); // PRESENCE_TTL_SECONDS + a heartbeat + slack
    alice.send('/who *\r\n');
    await alice.waitFor('2 people online:');
    await person(c, 'bob'); // the nick is free again
  });

  it('a server stopped with SIGTERM says goodbye: its users leave at once, and it exits 0', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const alice = await person(a, 'alice');
    await person(b, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    b.proc.kill('SIGTERM');
    await alice.waitFor('*** bob left (server beta stopped)', 3_000);
    expect(await b.exited).toBe(0);
    await b.waitForLog(/redis link: stopping \(SIGTERM\)/);
  });

  it('restarts a link process that dies, and loses nothing either way', { timeout: 60_000 }, async () => {
    const a = await clusterServer('alpha');
    const b = await clusterServer('beta');
    const alice = await person(a, 'alice');
    const bob = await person(b, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    const oldLink = linkPid(a);
    process.kill(oldLink, 'SIGKILL');
    await Promise.all([sendNumbered(alice, 'x', 20), sendNumbered(bob, 'y', 20)]);
    await pollUntil(() => !isAlive(oldLink) && childrenOf(a.pid).some((pid) => pid !== oldLink && pid === linkPidOrZero(a)), 10_000, 'a new link');
    await expectAllOnce(bob, alice, 'alice', 'x', 20);
    await expectAllOnce(alice, bob, 'bob', 'y', 20);
    await a.waitForLog(/redis link exited with signal SIGKILL; restarting it in \d+ ms/);
  });

  it('keeps local chat going while every link connection is cut, then catches up with each line once', { timeout: 60_000 }, async () => {
    const { a, alice, ann, bob } = await aliceAndAnnOnAlphaBobOnBeta();
    // Cut while the lines flow: after ann (on alice's server) has 5, 15 and 25 of alice's.
    const cutter = (async () => {
      for (let kill = 0; kill < 3; kill++) {
        await pollUntil(() => numbersFrom(ann, 'alice', 'k').length >= 5 + 10 * kill, 20_000, `alice's line ${5 + 10 * kill} at ann`);
        await redis.admin.call('CLIENT', 'KILL', 'TYPE', 'normal'); // every client but this one (SKIPME yes)
      }
    })();
    await Promise.all([sendNumbered(alice, 'k', 40), sendNumbered(bob, 'j', 40), cutter]);
    await expectAllOnce(ann, alice, 'alice', 'k', 40, 5_000); // same server: never waited for Redis
    await expectAllOnce(bob, alice, 'alice', 'k', 40);
    await expectAllOnce(alice, bob, 'bob', 'j', 40);
    await expectAllOnce(ann, bob, 'bob', 'j', 40);
    await a.waitForLog(/redis link: connection to Redis lost; reconnecting/);
  });

  it('serves locally while Redis restarts, then reconnects and delivers what was said meanwhile', { timeout: 60_000 }, async () => {
    const { a, alice, ann, bob } = await aliceAndAnnOnAlphaBobOnBeta();
    await redis.stop();
    await sendNumbered(alice, 'r', 5);
    await sendNumbered(bob, 's', 5);
    await expectAllOnce(ann, alice, 'alice', 'r', 5, 5_000); // local chat without Redis
    await redis.start(); // same port, same append-only file
    await expectAllOnce(bob, alice, 'alice', 'r', 5);
    await expectAllOnce(alice, bob, 'bob', 's', 5);
    bob.send('after\r\n');
    await alice.waitFor('<bob> after');
    await a.waitForLog(/reconnected to Redis/);
  });
});

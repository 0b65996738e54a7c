/**
 * Cluster mode with someone else writing to the Redis: forged stream entries and
 * presence keys never reach a terminal, are counted and logged, and the chat goes on;
 * a bad key or a full Redis never stops the link. A real redis-server per test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterFixture, everyone, linkPid, terminalControls } from './helpers/cluster.js';
import { pollUntil } from './helpers/poll.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { stopAllServers, type RunningServer } from './helpers/server.js';

if (!HAVE_REDIS && process.env.CI === 'true') throw new Error('redis-server is missing: .ci/run installs the Debian package redis-server');

const STREAM = 'posix-chat:events';
const ESC = '\u001b';
/** The escape sequences of the issue: set the window title, clear the screen. */
const OWNED = `${ESC}]0;owned\u0007${ESC}[2J`;

let redis: RunningRedis;
const cluster = new ClusterFixture();
beforeEach(async () => {
  if (HAVE_REDIS) redis = await startRedis();
});
afterEach(async (context) => {
  cluster.end(context.task.result?.state === 'fail');
  await stopAllServers();
  if (HAVE_REDIS) await redis.destroy();
});

/** Lines the link logged about what it refused from Redis. */
const refusals = (server: RunningServer): string[] => server.stderr().split('\n').filter((line) => line.includes(' from Redis: '));

describe.skipIf(!HAVE_REDIS)('cluster: what others write to Redis', () => {
  it('keeps forged entries and presence off every terminal, counts and logs them, and shows a well-formed one', { timeout: 60_000 }, async () => {
    // Presence keys from before the servers start: read by each link's first snapshot.
    const a = redis.admin;
    await a.set('posix-chat:server:aaaaaaaaaaaa', OWNED, 'EX', 60); // a name with escapes: the server is left out
    await a.hset('posix-chat:users:aaaaaaaaaaaa', 'mallory', '#lobby');
    await a.set('posix-chat:server:bbbbbbbbbbbb', 'evilsrv', 'EX', 60); // two bad users, one good
    await a.hset('posix-chat:users:bbbbbbbbbbbb', `${ESC}[2Jbad`, '#lobby', 'eve', `#lobby${ESC}[2J`, 'trudy', '#lobby');
    await a.set('posix-chat:server:cccccccccccc', 'gamma', 'EX', 60); // users under a string: WRONGTYPE
    await a.set('posix-chat:users:cccccccccccc', 'not a hash');
    await a.set(`posix-chat:server:${ESC}[2J`, 'x', 'EX', 60); // not an instance id
    await a.set('posix-chat:server:dddddddddddd', 'delta', 'EX', 60); // the well-formed writer below stays present
    const PRESENCE_REFUSED = 4;

    const alpha = await cluster.server(redis.url, 'alpha');
    const beta = await cluster.server(redis.url, 'beta');
    const alice = await cluster.person(alpha, 'alice');
    const bob = await cluster.person(beta, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    expect((await everyone(alice)).sort()).toEqual(['alice', 'bob', 'trudy']);
    const links = [linkPid(alpha), linkPid(beta)];

    const join = JSON.stringify({ k: 'join', nick: 'mallory', room: '#lobby' });
    const o = 'eeeeeeeeeeee';
    const forged: string[][] = [
      // The two of the issue.
      ['o', 'evil', 'srv', OWNED, 's', '1', 'e', join],
      ['o', 'evil', 'srv', OWNED, 's', '2', 'e', JSON.stringify({ k: 'down' })],
      // Each field wrong in turn, the rest right.
      ['o', o, 'srv', OWNED, 's', '1', 'e', join],
      ['o', o, 'srv', 'evil', 's', '99999999999999999999', 'e', join],
      ['o', o, 'srv', 'evil', 's', '3', 'e', JSON.stringify({ k: 'here', users: [[`mal${ESC}[2Jlory`, '#lobby']] })],
      ['o', o, 'srv', 'evil', 's', '4', 'e', JSON.stringify({ k: 'line', room: '#lobby', body: `${ESC}[2J<alice> I am alice` })],
      ['o', o, 'srv', 'evil', 's', '5', 'e', JSON.stringify({ k: 'line', room: '#lobby', nick: 'alice', text: `hi${OWNED}`, me: false })],
      ['o', o, 'srv', 'evil', 's', '6', 'e', JSON.stringify({ k: 'line', room: '#lobby', nick: '<alice>', text: 'I am alice', me: false })],
      ['o', o, 'srv', 'evil', 's', '7', 'e', JSON.stringify({ k: 'msg', from: 'mallory', to: 'alice', text: 'in the shared stream' })],
      ['o', o, 'srv', 'evil', 's', '8', 'e', 'not json'],
      ['o', o, 'srv', 'evil', 's', '9', 'e', JSON.stringify({ k: 'line', room: '#lobby', nick: 'mallory', text: 'x'.repeat(5000), me: false })],
    ];
    for (const entry of forged) await a.xadd(STREAM, '*', ...entry);
    // A writer that keeps to the format: shown, so the path the forgeries took is live.
    const delta = ['o', 'dddddddddddd', 'srv', 'delta'];
    await a.xadd(STREAM, '*', ...delta, 's', '1', 'e', JSON.stringify({ k: 'join', nick: 'dave', room: '#lobby' }));
    await a.xadd(STREAM, '*', ...delta, 's', '2', 'e', JSON.stringify({ k: 'line', room: '#lobby', nick: 'dave', text: 'hello from delta', me: false }));
    for (const client of [alice, bob]) {
      await client.waitFor('*** dave joined #lobby');
      await client.waitFor('<dave> hello from delta');
    }
    // The chat goes on, both ways.
    alice.send('still here\r\n');
    await bob.waitFor('<alice> still here');
    bob.send('me too\r\n');
    await alice.waitFor('<bob> me too');

    for (const client of [alice, bob]) {
      expect(terminalControls(client.received)).toEqual([]);
      expect(client.text).not.toMatch(/owned|mallory|mal.*lory|I am alice|shared stream|xxxxxxxxxx/);
    }
    expect([linkPid(alpha), linkPid(beta)]).toEqual(links); // neither link restarted
    for (const server of [alpha, beta]) {
      const logged = refusals(server);
      expect(logged.length).toBeGreaterThan(0);
      // Logged once: no entry named twice; nothing of what was refused in the log itself.
      const ids = logged.map((line) => /entry (\d+-\d+)/.exec(line)?.[1]).filter((id) => id !== undefined);
      expect(new Set(ids).size).toBe(ids.length);
      expect(server.stderr()).not.toMatch(/owned|\u001b/);
    }
    // Counted: every one of them, said when the link stops.
    const total = PRESENCE_REFUSED + forged.length;
    for (const server of [alpha, beta]) {
      server.proc.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      await server.waitForLog(new RegExp(`redis link: stopping \\(SIGTERM\\); ${total} entries or keys from Redis refused`));
    }
  });

  it('goes on through a bad key and a full Redis: refuses the name, holds the lines, delivers them after', { timeout: 60_000 }, async () => {
    const alpha = await cluster.server(redis.url, 'alpha');
    const beta = await cluster.server(redis.url, 'beta');
    const alice = await cluster.person(alpha, 'alice');
    const ann = await cluster.person(alpha, 'ann');
    const bob = await cluster.person(beta, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    const link = linkPid(alpha);

    await redis.admin.hset('posix-chat:nick:carol', 'x', 'y'); // not the string a claim reads
    ann.send('/nick carol\r\n');
    await ann.waitFor('The name carol is taken. Try another.');
    await pollUntil(() => /carol: Redis said WRONGTYPE/.test(alpha.stderr()), 5_000, 'the refused claim in the log');

    await redis.admin.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.admin.config('SET', 'maxmemory', '1'); // every write is refused: OOM
    alice.send('while redis is full\r\n');
    await ann.waitFor('<alice> while redis is full'); // same server: never waited for Redis
    await pollUntil(() => /publishing failed \(OOM/.test(alpha.stderr()), 5_000, 'the refused publish in the log');
    await redis.admin.config('SET', 'maxmemory', '0');
    await bob.waitFor('<alice> while redis is full', 10_000);
    bob.send('back\r\n');
    await alice.waitFor('<bob> back');
    expect(linkPid(alpha)).toBe(link);
    expect(alpha.stderr()).not.toMatch(/redis link exited/);
  });
});

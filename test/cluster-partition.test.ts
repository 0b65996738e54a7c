/**
 * Cluster mode across a partition and in private: one name per person after a link
 * was cut off past the presence TTL, and a private message that leaves nothing in
 * Redis once delivered. A real redis-server per test.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClusterFixture, everyone, linkPid, pollUntilAsync } from './helpers/cluster.js';
import { HAVE_REDIS, startRedis, type RunningRedis } from './helpers/redis.js';
import { stopAllServers } from './helpers/server.js';

if (!HAVE_REDIS && process.env.CI === 'true') throw new Error('redis-server is missing: .ci/run installs the Debian package redis-server');

let redis: RunningRedis;
const cluster = new ClusterFixture();
let stopped = 0;
beforeEach(async () => {
  if (HAVE_REDIS) redis = await startRedis();
});
afterEach(async (context) => {
  if (stopped !== 0) process.kill(stopped, 'SIGCONT'); // so it can die with its server
  stopped = 0;
  cluster.end(context.task.result?.state === 'fail');
  await stopAllServers();
  if (HAVE_REDIS) await redis.destroy();
});

/** Every key in Redis and everything it holds, as text: strings, hashes, streams (every entry), lists, sets. */
async function everythingIn(admin: Redis): Promise<string> {
  const dump: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await admin.type(key);
      let value: unknown;
      if (type === 'string') value = await admin.get(key);
      else if (type === 'hash') value = await admin.hgetall(key);
      else if (type === 'stream') value = await admin.xrange(key, '-', '+');
      else if (type === 'list') value = await admin.lrange(key, 0, -1);
      else if (type === 'set') value = await admin.smembers(key);
      else if (type === 'zset') value = await admin.zrange(key, '0', '-1');
      else value = `(a ${type})`;
      dump.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return dump.join('\n');
}

describe.skipIf(!HAVE_REDIS)('cluster: partitions and privacy', () => {
  it('leaves one user with a name another server gave away while this one was cut off', { timeout: 90_000 }, async () => {
    const alpha = await cluster.server(redis.url, 'alpha');
    const beta = await cluster.server(redis.url, 'beta');
    const alice = await cluster.person(alpha, 'alice');
    const bob = await cluster.person(beta, 'bob');
    await alice.waitFor('*** bob joined #lobby');

    // Alpha's link stops past the presence TTL: beta sees alice go, and the name is free there.
    stopped = linkPid(alpha);
    process.kill(stopped, 'SIGSTOP');
    await bob.waitFor('*** alice left (lost with alpha)', 20_000);
    bob.send('/nick alice\r\n');
    await bob.waitFor('You are now known as alice.');

    process.kill(stopped, 'SIGCONT');
    stopped = 0;
    await alice.waitFor(/someone on another server took the name alice; you get another\.\r\n\*\*\* You are now known as (guest-\d+)\./, 20_000);
    const guest = /You are now known as (guest-\d+)\./.exec(alice.text.slice(alice.text.indexOf('took the name alice')))?.[1] ?? '';
    await bob.waitFor(`*** alice on alpha is now known as ${guest}`, 10_000); // the other side is told too
    for (const client of [alice, bob]) {
      await pollUntilAsync(async () => (await everyone(client)).includes(guest), 10_000, `${guest} in /who *`);
      const names = await everyone(client);
      expect(names.filter((nick) => nick.toLowerCase() === 'alice')).toEqual(['alice']);
      expect(names.sort()).toEqual(['alice', guest].sort());
    }
    bob.send('/msg alice to myself\r\n');
    await bob.waitFor('That is you.');
    alice.send(`/msg alice hello, new alice\r\n`);
    await bob.waitFor('*' + guest + '* hello, new alice');
  });

  it('leaves no copy of a private message in Redis once it is delivered, nor in the shared stream ever', { timeout: 60_000 }, async () => {
    const alpha = await cluster.server(redis.url, 'alpha');
    const beta = await cluster.server(redis.url, 'beta');
    const alice = await cluster.person(alpha, 'alice');
    const bob = await cluster.person(beta, 'bob');
    await alice.waitFor('*** bob joined #lobby');
    alice.send('a public line\r\n');
    await bob.waitFor('<alice> a public line');

    const secret = 'the-password-is-swordfish';
    alice.send(`/msg bob ${secret}\r\n`);
    await bob.waitFor(`*alice* ${secret}`);
    bob.send(`/msg alice got ${secret} too\r\n`);
    await alice.waitFor(`*bob* got ${secret} too`);
    // Deleted right after the link hands it over; polled, as that is a round trip after delivery.
    await pollUntilAsync(async () => !(await everythingIn(redis.admin)).includes(secret), 5_000, 'no copy of the private message in Redis');
    const everything = await everythingIn(redis.admin);
    expect(everything).toContain('a public line'); // the scan sees stream contents
    expect(everything).not.toContain('posix-chat:inbox:'); // emptied inboxes are deleted
  });
});

/**
 * The limits on connections: --max-clients, --max-per-ip (an IPv6 client's /64 counted
 * as one address), the idle timeout, and running out of descriptors. Each refused client
 * is told why in one line, the others chat on, and a slot freed is taken again.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { SPARE_NAME } from '../src/child/spare.js';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed, clientChildrenOf } from './helpers/processes.js';
import { startServer, stopAllServers, type RunningServer } from './helpers/server.js';

/** Each test starts a server and several clients: on two busy cores that takes a while. */
const TEST_TIMEOUT_MS = 60_000;

const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllServers();
});

/** Connects `count` clients one after another and waits for each one's welcome or refusal. */
async function connect(server: RunningServer, count: number, localAddress?: string, host = '127.0.0.1'): Promise<TestClient[]> {
  const made: TestClient[] = [];
  for (let i = 0; i < count; i++) {
    const client = await TestClient.connect(server.port, host, localAddress);
    clients.push(client);
    made.push(client);
    await client.waitFor(/Type \/help|try again later/);
    if (!welcomed(client)) continue;
    client.send('/rooms\r\n'); // a first command: the room hears of it, and /who * counts it
    await client.waitFor('Rooms: ');
  }
  return made;
}

/** The server's one spare child, once the zygote has forked it and it has named itself. */
async function theSpare(server: RunningServer): Promise<number> {
  await pollUntil(() => childrenNamed(server.pid, SPARE_NAME).length === 1, 10_000, 'a spare child');
  return childrenNamed(server.pid, SPARE_NAME)[0] as number;
}

const welcomed = (client: TestClient): boolean => client.text.includes('Type /help');

describe('--max-clients', () => {
  it('tells the one over the limit the server is full and forks nothing for it; a slot freed is taken again', async () => {
    const server = await startServer(['--max-clients', '5']);
    const five = await connect(server, 5);
    // A child names itself as it starts, a moment after its client is greeted.
    await pollUntil(() => clientChildrenOf(server.pid).length === 5, 10_000, '5 children');
    const spare = await theSpare(server);
    const [sixth] = (await connect(server, 1)) as [TestClient];
    await sixth.waitFor('The server is full (5 people); try again later.');
    await sixth.waitForClose();
    // A barrier through the loop: it answered this after it had refused the sixth.
    const [first, second] = five as [TestClient, TestClient];
    first.send('/who *\r\n');
    await first.waitFor('5 people online:');
    expect(childrenNamed(server.pid, SPARE_NAME)).toEqual([spare]); // nobody took the spare
    expect(clientChildrenOf(server.pid)).toHaveLength(5);

    const secondPort = second.socket.localPort;
    second.close();
    await server.waitForLog(new RegExp(`INFO {2}disconnect 127\\.0\\.0\\.1:${secondPort} .*: closed \\(by the client\\)`)); // its slot is free
    const [seventh] = (await connect(server, 1)) as [TestClient];
    expect(welcomed(seventh)).toBe(true);
    seventh.send('in the freed slot\r\n');
    await first.waitFor('in the freed slot');
  }, TEST_TIMEOUT_MS);
});

describe('--memory-reserve', () => {
  it('turns newcomers away, forking nothing, while the machine has less memory free than the reserve', async () => {
    const availableMiB = Number(/^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024;
    expect(availableMiB).toBeGreaterThan(0);
    const server = await startServer(['--memory-reserve', String(Math.ceil(availableMiB * 2))]);
    const spare = await theSpare(server);
    const [first, second] = (await connect(server, 2)) as [TestClient, TestClient];
    for (const client of [first, second]) {
      await client.waitFor('The server is short of memory; try again later.');
      await client.waitForClose();
    }
    await server.waitForLog(/WARN {2}refused 127\.0\.0\.1:\d+: The server is short of memory/);
    expect(clientChildrenOf(server.pid)).toHaveLength(0);
    expect(childrenNamed(server.pid, SPARE_NAME)).toEqual([spare]); // nobody took the spare
  }, TEST_TIMEOUT_MS);

  it('lets newcomers in with the reserve the machine has', async () => {
    const server = await startServer(['--memory-reserve', '1']);
    const [client] = (await connect(server, 1)) as [TestClient];
    expect(welcomed(client)).toBe(true);
  }, TEST_TIMEOUT_MS);
});

describe('--max-per-ip', () => {
  it('tells the one over the limit from 127.0.0.1 why, still lets 127.0.0.2 in, and frees the slot when one leaves', async () => {
    const server = await startServer(['--max-per-ip', '3', '--host', '0.0.0.0']);
    const three = await connect(server, 3);
    await pollUntil(() => clientChildrenOf(server.pid).length === 3, 10_000, '3 children');
    const spare = await theSpare(server);
    const [fourth] = (await connect(server, 1)) as [TestClient];
    await fourth.waitFor('Too many connections from 127.0.0.1 (at most 3); try again later.');
    await fourth.waitForClose();
    const [other] = (await connect(server, 1, '127.0.0.2')) as [TestClient];
    expect(welcomed(other)).toBe(true);
    // The fourth was refused before the spare was handed to anyone: 127.0.0.2's took it.
    await pollUntil(() => clientChildrenOf(server.pid).length === 4, 10_000, '4 children');
    expect(clientChildrenOf(server.pid)).toContain(spare);

    const [first, second] = three as [TestClient, TestClient];
    const secondPort = second.socket.localPort;
    second.close();
    await server.waitForLog(new RegExp(`INFO {2}disconnect 127\\.0\\.0\\.1:${secondPort} .*: closed \\(by the client\\)`)); // its slot is free
    const [again] = (await connect(server, 1)) as [TestClient];
    expect(welcomed(again)).toBe(true);
    again.send('from 127.0.0.1 again\r\n');
    await first.waitFor('from 127.0.0.1 again');
  }, TEST_TIMEOUT_MS);

  /** The IPv6 loopback address is configured (a container may run with IPv6 off). */
  const haveIpv6 = ((): boolean => {
    try {
      return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
    } catch {
      return false;
    }
  })();
  if (!haveIpv6 && process.env.CI === 'true') {
    it('has the IPv6 loopback address ::1 (required under CI)', () => {
      throw new Error('::1 is not configured: this machine runs with IPv6 off');
    });
    return;
  }

  it.skipIf(!haveIpv6)(`counts IPv6 clients over ::1 by their /64, and they chat like any other${haveIpv6 ? '' : ' (skipped: no ::1 here)'}`, async () => {
    const server = await startServer(['--host', '::1', '--max-per-ip', '2']);
    expect(server.stdout()).toContain(`Listening on [::1]:${server.port}...`);
    const [alice, bob] = (await connect(server, 2, undefined, '::1')) as [TestClient, TestClient];
    expect(welcomed(alice) && welcomed(bob)).toBe(true);
    bob.send('hello over IPv6\r\n');
    await alice.waitFor(/<guest-\d+> hello over IPv6/);
    await pollUntil(() => /connect \[::1\]:\d+ \(pid \d+\)/.test(server.stderr()), 5_000, 'the connect log line, the address in brackets');
    const [third] = (await connect(server, 1, undefined, '::1')) as [TestClient];
    await third.waitFor('Too many connections from ::/64 (at most 2); try again later.');
    await third.waitForClose();
  }, TEST_TIMEOUT_MS);
});

describe('--idle-timeout', () => {
  it('disconnects a silent client and tells the room it timed out', async () => {
    const server = await startServer(['--idle-timeout', '1']);
    const [idle, talker] = (await connect(server, 2)) as [TestClient, TestClient];
    idle.send('/help\r\n'); // one command, then nothing: the room has heard of it, and hears why it goes
    const keepTalking = setInterval(() => talker.send('/who\r\n'), 200);
    try {
      await idle.waitFor('Disconnected: idle for more than 1 s.', 5_000);
      await idle.waitForClose();
      await talker.waitFor(/left \(timed out\)/);
      expect(talker.closed).toBe(false);
    } finally {
      clearInterval(keepTalking);
    }
  }, TEST_TIMEOUT_MS);
});

describe('out of descriptors (RLIMIT_NOFILE)', () => {
  const hasPrlimit = spawnSync('sh', ['-c', 'command -v prlimit']).status === 0;
  if (!hasPrlimit && process.env.CI === 'true') {
    it('has prlimit (util-linux) to lower the server\'s descriptor limit (required under CI)', () => {
      throw new Error('prlimit is missing: install util-linux');
    });
    return;
  }

  const REFUSED = /The server has no room for another connection; try again later\.|The server is busy; try again later\./;

  it.skipIf(!hasPrlimit).each(['--no-zygote', '--zygote'])(
    `refuses the clients it has no descriptor for with a line, serves the others, and lets one in again once a client leaves (%s)${hasPrlimit ? '' : ' (skipped: prlimit missing)'}`,
    async (forking) => {
      // --max-clients: by default the server derives it from this very limit, and would refuse first.
      const server = await startServer(['--max-clients', '100', '--max-per-ip', '0', forking]);
      const [first] = (await connect(server, 1)) as [TestClient];
      expect(welcomed(first)).toBe(true);
      // Lowered once it runs (node itself needs more while it loads its modules), to a
      // little above what it holds: the exact count moves as the zygote's spares come and go.
      const limit = readdirSync(`/proc/${server.pid}/fd`).length + 2;
      const lowered = spawnSync('prlimit', ['--pid', String(server.pid), `--nofile=${limit}:${limit}`], { encoding: 'utf8' });
      expect(lowered.status, lowered.stderr).toBe(0);

      const admitted = [first];
      let refused: TestClient | undefined;
      for (let i = 0; i < 10 && refused === undefined; i++) {
        const [client] = (await connect(server, 1)) as [TestClient];
        if (welcomed(client)) admitted.push(client);
        else refused = client;
      }
      if (refused === undefined) throw new Error(`nobody was refused under RLIMIT_NOFILE ${limit}:\n${server.stderr()}`);
      expect(refused.text).toMatch(REFUSED);
      await refused.waitForClose();
      // And the next one too, while nobody has left.
      const [next] = (await connect(server, 1)) as [TestClient];
      expect(next.text).toMatch(REFUSED);
      await next.waitForClose();
      // The loop still serves those it has.
      first.send('/who *\r\n');
      await first.waitFor(`${admitted.length} ${admitted.length === 1 ? 'person' : 'people'} online:`);

      const left = new RegExp(`disconnect 127\\.0\\.0\\.1:${first.socket.localPort} `);
      first.close();
      await pollUntil(() => left.test(server.stderr()), 5_000, 'the first client to be gone');
      // Its descriptor is free again: the next client is let in (the zygote may first need a new spare).
      let again: TestClient | undefined;
      for (let i = 0; i < 3 && again === undefined; i++) {
        const [client] = (await connect(server, 1)) as [TestClient];
        if (welcomed(client)) again = client;
      }
      if (again === undefined) throw new Error(`no client was let in after one left:\n${server.stderr()}`);
      again.send('/who *\r\n');
      await again.waitFor(`${admitted.length} ${admitted.length === 1 ? 'person' : 'people'} online:`);
    },
    TEST_TIMEOUT_MS,
  );
});

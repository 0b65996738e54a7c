/**
 * A storm of connections: 3,000 clients connect at once. Every one gets its own
 * process and its welcome, and two people already chatting lose nothing meanwhile; and
 * the zygote that forks them all collects no garbage while it does.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed, clientChildrenOf } from './helpers/processes.js';
import { startServer, stopAllServers } from './helpers/server.js';

const sockets: net.Socket[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  // The server first: stopping, it ends every connection at once, where 3,000 clients
  // hanging up one by one would each be announced to all the others.
  await stopAllServers();
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const client of clients.splice(0)) client.close();
}, 180_000); // 3,000 children to stop

describe('a storm of connections', () => {
  it('serves 3,000 clients connecting at once, each with its own process, while two others chat on', async () => {
    const storm = 3_000;
    // --trace-gc: each collection prints a line `[PID:...`, from whichever process made it. A
    // young generation of 1 MiB (the default grows to 16) fills after a few hundred bytes a
    // fork: the zygote's loop then has to allocate next to nothing to get through 3,000 forks.
    const gcFlags = ['--trace-gc', '--min-semi-space-size=1', '--max-semi-space-size=1'];
    const server = await startServer(['--max-per-ip', '0', '--rate-limit', '0', '--history', '0', '--log-level', 'warn'], {}, [], gcFlags);
    const [zygote] = childrenNamed(server.pid, 'posix-zygote');
    const alice = await TestClient.connect(server.port);
    const bob = await TestClient.connect(server.port);
    clients.push(alice, bob);
    await alice.waitFor('Type /help');
    await bob.waitFor('Type /help');
    // What the zygote collected before the storm (its own start may take a collection) is not counted.
    const zygoteCollections = (): string[] => server.stdout().split('\n').filter((line) => line.startsWith(`[${zygote}:`));
    const before = zygoteCollections().length;

    let welcomed = 0;
    let failed = 0;
    for (let i = 0; i < storm; i++) {
      const socket = net.connect(server.port, '127.0.0.1');
      sockets.push(socket);
      let seen = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        if (seen === 'done') return;
        seen += chunk;
        if (seen.includes('Type /help')) {
          seen = 'done';
          welcomed++;
        }
      });
      socket.on('error', () => failed++);
    }
    // Alice talks all through the storm, a line each time another 100 are in; Bob must get every line.
    let said = 0;
    while (welcomed < storm && failed === 0) {
      const before = welcomed;
      alice.send(`during the storm ${said++}\r\n`);
      await pollUntil(() => bob.text.includes(`> during the storm ${said - 1}\r\n`) || failed > 0, 120_000, `line ${said - 1} to bob`);
      await pollUntil(() => welcomed >= Math.min(storm, before + 100) || failed > 0, 540_000, 'another 100 in');
    }
    expect(failed).toBe(0);
    expect(welcomed).toBe(storm);
    for (let n = 0; n < said; n++) expect(bob.text).toContain(`> during the storm ${n}\r\n`);
    await pollUntil(() => clientChildrenOf(server.pid).length >= storm + 2, 30_000, 'a process per client');
    // A collection in the zygote can finish an incremental marking it inherited from the
    // parent, and every child forked after it then holds about three times the memory
    // (docs/bench.md, "A second way a child grows").
    expect(zygote).toBeGreaterThan(0);
    expect(zygoteCollections().slice(before)).toEqual([]);
  }, 600_000);
});

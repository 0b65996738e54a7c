/**
 * Stopping the server: what chatting clients are told, the exit status, and that no
 * process of the server's outlives it (its zygote, its spare child, its clients'
 * children), whether it stops on SIGTERM or is killed outright.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CHILD_NAME, SPARE_NAME } from '../src/child/spare.js';
import { ZYGOTE_NAME } from '../src/zygote/zygote-process.js';
import { closeClients, person } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { childrenNamed, isAlive, processName } from './helpers/processes.js';
import { startServer, stopAllServers, type RunningServer } from './helpers/server.js';

afterEach(async () => {
  closeClients();
  await stopAllServers();
});

/** The server's zygote, its spare and its clients' children, once each has named itself. */
async function serversProcesses(server: RunningServer, clientCount: number): Promise<Map<number, string>> {
  const named = (name: string): number[] => childrenNamed(server.pid, name);
  await pollUntil(
    () => named(ZYGOTE_NAME).length === 1 && named(SPARE_NAME).length === 1 && named(CHILD_NAME).length === clientCount,
    10_000,
    `a zygote, a spare and ${clientCount} client children`,
  );
  const found = new Map<number, string>();
  for (const name of [ZYGOTE_NAME, SPARE_NAME, CHILD_NAME]) for (const pid of named(name)) found.set(pid, name);
  return found;
}

/** Each of `processes` that still runs under its name (a zombie does not: it has ended). */
function survivors(processes: Map<number, string>): string[] {
  return [...processes].filter(([pid, name]) => isAlive(pid) && processName(pid) === name).map(([pid, name]) => `${name} ${pid}`);
}

describe('shutdown', () => {
  it('on SIGTERM tells everyone chatting goodbye, closes their connections and exits 0', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    alice.send('before the end\r\n');
    await bob.waitFor('<alice> before the end');
    server.proc.kill('SIGTERM');
    for (const client of [alice, bob]) {
      await client.waitFor('The server is shutting down. Goodbye!');
      await client.waitForClose();
      expect(client.lines().at(-1)).toMatch(/The server is shutting down\. Goodbye!$/); // the last thing said
    }
    expect(await server.exited).toBe(0);
    await server.waitForLog(/SIGTERM from pid \d+: shutting down/);
    await server.waitForLog(/stopped\n$/);
  });

  it('leaves no zygote, spare or client child behind after SIGTERM', async () => {
    const server = await startServer();
    await person(server, 'alice');
    await person(server, 'bob');
    const processes = await serversProcesses(server, 2);
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    await pollUntil(() => survivors(processes).length === 0, 10_000, "every process of the server's to end");
  });

  it('leaves no zygote, spare or client child behind when the server is killed with SIGKILL', async () => {
    const server = await startServer();
    const alice = await person(server, 'alice');
    const bob = await person(server, 'bob');
    const processes = await serversProcesses(server, 2);
    server.proc.kill('SIGKILL');
    expect(await server.exited).toBe('SIGKILL');
    // Nobody was left to stop them: each dies by its parent-death signal.
    await pollUntil(() => survivors(processes).length === 0, 10_000, "every process of the server's to end");
    await alice.waitForClose();
    await bob.waitForClose();
  });
});

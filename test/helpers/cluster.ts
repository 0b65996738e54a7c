/** Servers of one cluster (--redis) and their people, for the cluster tests. */
import { readFileSync } from 'node:fs';
import { person, type TestClient } from './client.js';
import { pollUntil } from './poll.js';
import { childrenOf, describeProcesses } from './processes.js';
import { startServer, type RunningServer } from './server.js';

export class ClusterFixture {
  readonly servers: RunningServer[] = [];
  readonly clients: TestClient[] = [];

  /**
   * A server in the cluster named `name`, with flood control off so a burst of test
   * lines is never throttled. `redis` goes on the command line unless null (then the
   * environment or an option in `args` gives it).
   */
  async server(redis: string | null, name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
    const where = redis === null ? [] : ['--redis', redis];
    const server = await startServer([...where, '--server-name', name, '--rate-limit', '0', '--no-timestamps', '--log-level', 'debug', ...args], env);
    this.servers.push(server);
    return server;
  }

  /** A client on `server` that took the name `nick`. */
  async person(server: RunningServer, nick: string): Promise<TestClient> {
    const client = await person(server, nick);
    this.clients.push(client);
    return client;
  }

  /** Closes the clients; a failed test shows what the servers logged (the cluster's story is in there). */
  end(failed: boolean): void {
    if (failed) for (const server of this.servers) console.error(`--- server ${server.port}:\n${server.stderr().slice(-4000)}\n--- its processes:\n${describeProcesses(server.pid)}`);
    for (const client of this.clients.splice(0)) client.close();
    this.servers.length = 0;
  }
}

/** The link process of a server: its child running redis-link.js. */
export function linkPid(server: RunningServer): number {
  const pid = childrenOf(server.pid).find((child) => {
    try {
      return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('redis-link.js');
    } catch {
      return false;
    }
  });
  if (pid === undefined) throw new Error('no redis link process');
  return pid;
}

/** The nicks in the answer to a `/who *` sent now, once it has come. */
export async function everyone(client: TestClient): Promise<string[]> {
  const before = client.lines().length;
  client.send('/who *\r\n');
  let rows: string[] = [];
  await pollUntil(
    () => {
      const answer = client.lines().slice(before);
      const start = answer.findIndex((line) => /^\*\*\* \d+ (people|person) online:$/.test(line));
      if (start === -1) return false;
      const count = Number(/\d+/.exec(answer[start] ?? '')?.[0]);
      rows = answer.slice(start + 1, start + 1 + count).map((line) => /^\*\*\* {3}(\S+)/.exec(line)?.[1] ?? '');
      return rows.length === count;
    },
    5_000,
    'the answer to /who *',
  );
  return rows;
}

/** The bytes a terminal must never get from the server: controls but CR and LF (ESC among them), DEL, C1 controls in UTF-8. */
export function terminalControls(received: Buffer): number[] {
  const found: number[] = [];
  for (let i = 0; i < received.length; i++) {
    const b = received[i] ?? 0;
    if ((b < 0x20 && b !== 0x0a && b !== 0x0d) || b === 0x7f) found.push(b);
    if (b === 0xc2 && (received[i + 1] ?? 0) >= 0x80 && (received[i + 1] ?? 0) <= 0x9f) found.push(0x80);
  }
  return found;
}

/** pollUntil() for a condition that needs a round trip (to Redis): checked one at a time, every few milliseconds. */
export async function pollUntilAsync(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

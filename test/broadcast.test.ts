import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TestClient } from './helpers/client.js';
import { pollUntil } from './helpers/poll.js';
import { CHILD_NAME, SPARE_NAME } from '../src/child/spare.js';
import { SPARE_WAIT_MS } from '../src/parent/zygote.js';
import { ZYGOTE_NAME } from '../src/zygote/zygote-process.js';
import { childrenNamed, clientChildrenOf, descriptors, processName, ignoredSignals, isAlive, maskBit, processState, threadMasks } from './helpers/processes.js';
import { startServer as start, stopAllServers, type RunningServer } from './helpers/server.js';

/** These tests check the original's architecture and format: --classic. */
const startServer = (args: string[] = []): Promise<RunningServer> => start(['--classic', ...args]);

const clients: TestClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllServers();
});

async function connect(server: RunningServer, count = 1): Promise<TestClient[]> {
  const before = clientChildrenOf(server.pid).filter(isAlive).length;
  const made: TestClient[] = [];
  for (let i = 0; i < count; i++) made.push(await TestClient.connect(server.port));
  clients.push(...made);
  // Every new client is being served once the server has forked a child for it.
  await pollUntil(() => clientChildrenOf(server.pid).filter(isAlive).length >= before + count, 20_000, `${count} more children`);
  return made;
}

/** The sockets a process holds, past stdio (the test harness gives node socketpairs there). */
function socketsOf(pid: number): string[] {
  return descriptors(pid).filter(({ fd, target }) => fd > 2 && target.startsWith('socket:')).map(({ target }) => target);
}

/** The pid the server shows for a client: it prints `[ADDRESS] (PID):Connected` to the others. */
async function pidOf(watcher: TestClient, before: number[]): Promise<number> {
  let pid = 0;
  await pollUntil(() => {
    const match = /\((\d+)\):Connected/.exec(watcher.lines().slice(before.length).join('\n'));
    pid = match ? Number(match[1]) : 0;
    return pid > 0;
  }, 5_000);
  return pid;
}

describe('broadcast server: the original behaviour', () => {
  it('prints "Listening on HOST:PORT..." with the real port', async () => {
    const server = await startServer();
    expect(server.stdout()).toBe(`Listening on 127.0.0.1:${server.port}...\n`);
    expect(server.port).toBeGreaterThan(0);
  });

  it('shows each client the other\'s lines as [ADDRESS] (PID):LINE, never its own', async () => {
    const server = await startServer();
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    await a.waitFor(/\(\d+\):Connected\n/);
    a.send('hello from a\r\n');
    b.send('hello from b\n');
    await a.waitFor('hello from b');
    await b.waitFor('hello from a');
    const children = clientChildrenOf(server.pid);
    expect(a.lines()).toContainEqual(expect.stringMatching(/^\[127\.0\.0\.1\] \(\d+\):hello from b$/));
    expect(b.lines()).toContainEqual(expect.stringMatching(/^\[127\.0\.0\.1\] \(\d+\):hello from a$/));
    const pidInA = Number(/\((\d+)\):hello from b/.exec(a.text)?.[1]);
    expect(children).toContain(pidInA);
    // A barrier each way: a line sent after those reaches the other. The server sends each
    // client its lines in the order it read them, so an echo would have come first.
    b.send('b is done\r\n');
    a.send('a is done\r\n');
    await a.waitFor('b is done');
    await b.waitFor('a is done');
    expect(a.text).not.toContain('hello from a');
    expect(b.text).not.toContain('hello from b');
  });

  it.each(['--zygote', '--no-zygote'])('delivers a burst of 50 clients x 100 lines: every line to every other client exactly once, in order (%s)', async (forking) => {
    const server = await startServer(['--log-level', 'warn', '--max-per-ip', '0', '--rate-limit', '0', forking]);
    const all = await connect(server, 50);
    const lines = 100;
    // Wait until everyone has seen everyone connect, so no line races a newcomer's arrival.
    const joins = (client: TestClient): number => client.lines().filter((line) => line.endsWith(':Connected')).length;
    await pollUntil(() => all.every((client, i) => joins(client) >= all.length - 1 - i), 15_000, 'every join notice');
    all.forEach((client, c) => {
      let burst = '';
      for (let i = 0; i < lines; i++) burst += `c${c} n${i} ${'x'.repeat(40)}\n`;
      client.send(burst);
    });
    const expected = (all.length - 1) * lines;
    // Each client's due: the join notices of those after it, then every other client's lines.
    await pollUntil(() => all.every((client, i) => client.lineEnds >= all.length - 1 - i + expected), 25_000, 'every delivery');
    // Then a last line from each: once a client has every other's, a duplicate of their
    // earlier lines would have come before it.
    all.forEach((client, c) => client.send(`done ${c}\n`));
    const dones = (client: TestClient): number => client.lines().filter((line) => /:done \d+$/.test(line)).length;
    await pollUntil(() => all.every((client) => dones(client) === all.length - 1), 25_000, 'every last line');
    all.forEach((client, c) => {
      const got = client.lines().filter((line) => / n\d+ x/.test(line));
      expect(got).toHaveLength(expected);
      const bySender = new Map<string, number[]>();
      for (const line of got) {
        const match = /:c(\d+) n(\d+) /.exec(line);
        if (!match) throw new Error(`bad line ${line}`);
        const list = bySender.get(match[1] as string) ?? [];
        list.push(Number(match[2]));
        bySender.set(match[1] as string, list);
      }
      expect(bySender.has(String(c))).toBe(false);
      expect(bySender.size).toBe(all.length - 1);
      for (const sequence of bySender.values()) expect(sequence).toEqual(Array.from({ length: lines }, (_, i) => i));
    });
  }, 60_000);

  it('passes every byte value but the line end through unchanged', async () => {
    const server = await startServer(['--max-line', '1024']);
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    await a.waitFor('Connected');
    const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((byte) => byte !== 0x0a && byte !== 0x0d));
    // A CR before the LF is taken as part of the line end, so the line ends with a plain byte.
    b.send(Buffer.concat([payload, Buffer.from('\n')]));
    await pollUntil(() => a.received.includes(payload), 5_000, 'the payload');
    const start = a.received.indexOf(payload);
    expect(a.received.subarray(start + payload.length, start + payload.length + 1).toString()).toBe('\n');
  });

  it('sends a line over the limit cut once, never as two messages', async () => {
    const server = await startServer(['--max-line', '100']);
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    await a.waitFor('Connected');
    b.send(`${'y'.repeat(250)}\nnext\n`);
    await a.waitFor('next');
    const bodies = a.lines().map((line) => line.replace(/^\[[^\]]*\] \(\d+\):/, ''));
    expect(bodies.filter((body) => body.startsWith('y'))).toEqual(['y'.repeat(100)]);
  });
});

describe('broadcast server: the zygote', () => {
  const zygotesOf = (pid: number): number[] => childrenNamed(pid, ZYGOTE_NAME);

  it('forks every child from one zygote, and each child is still the server\'s own (it reaps them)', async () => {
    const server = await startServer(['--log-level', 'debug']);
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    // A spare is named as the zygote for a moment after it is forked.
    await pollUntil(() => zygotesOf(server.pid).length === 1, 2_000, 'one zygote');
    const [zygote] = zygotesOf(server.pid);
    await server.waitForLog(`zygote started (pid ${zygote})`);
    const children = clientChildrenOf(server.pid); // PPid is the server: clone(CLONE_PARENT)
    expect(children).toHaveLength(2);
    a.send('via the zygote\n');
    await b.waitFor('via the zygote');
    a.close();
    await pollUntil(() => /reaped child \d+ \(code 0\)/.test(server.stderr()), 2_000, 'the child to be reaped by the server');
  });

  it('keeps a spare child waiting, so a newcomer is served by a process forked before it connected', async () => {
    const server = await startServer();
    const sparesOf = (pid: number): number[] => childrenNamed(pid, SPARE_NAME);
    await pollUntil(() => sparesOf(server.pid).length === 1, 2_000, 'a spare');
    const [spare] = sparesOf(server.pid) as [number];
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    await pollUntil(() => processName(spare) === CHILD_NAME, 2_000, 'the spare to take a client');
    await pollUntil(() => sparesOf(server.pid).length === 1, 2_000, 'the next spare');
    expect(sparesOf(server.pid)).not.toContain(spare);
    a.send('served by a spare\n');
    await b.waitFor(`(${spare}):served by a spare`);
  });

  it('replaces a zygote that dies, and goes on serving', async () => {
    const server = await startServer();
    await connect(server, 1);
    await pollUntil(() => zygotesOf(server.pid).length === 1, 2_000, 'one zygote');
    const [zygote] = zygotesOf(server.pid) as [number];
    process.kill(zygote, 'SIGKILL');
    await pollUntil(() => server.stderr().includes(`zygote ${zygote} exited (SIGKILL)`), 2_000, 'the zygote to be reaped');
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    await pollUntil(() => zygotesOf(server.pid).length === 1, 2_000, 'one zygote');
    expect(zygotesOf(server.pid)).not.toContain(zygote);
    a.send('after the zygote died\n');
    await b.waitFor('after the zygote died');
  });

  it('does not let a stopped zygote stall anyone: the chat goes on while a newcomer waits, who then gets a child forked here, and a new zygote starts', async () => {
    const server = await startServer();
    const [a] = (await connect(server, 1)) as [TestClient];
    await pollUntil(() => zygotesOf(server.pid).length === 1 && childrenNamed(server.pid, SPARE_NAME).length === 1, 2_000, 'a zygote and a spare');
    const [zygote] = zygotesOf(server.pid) as [number];
    process.kill(zygote, 'SIGSTOP');
    try {
      const [b] = (await connect(server, 1)) as [TestClient]; // takes the spare that was waiting
      const c = await TestClient.connect(server.port); // needs a new spare: the zygote cannot answer
      const c2 = await TestClient.connect(server.port); // and waits behind c
      clients.push(c, c2);
      // The loop does not wait for the zygote: a line goes round before the server gives up on it.
      a.send('while c waits\n');
      await b.waitFor('while c waits');
      expect(server.stderr()).not.toContain('no spare child after');
      await pollUntil(() => server.stderr().includes(`no spare child after ${SPARE_WAIT_MS} ms`), 3_000, 'the server to give up on the zygote');
      // c2 is served too (by a new zygote's spare, or forked here): a hears b, c and c2 connect.
      await pollUntil(() => (a.text.match(/:Connected/g) ?? []).length === 3, 5_000, 'c2 to be served');
      a.send('the chat goes on\n');
      await b.waitFor('the chat goes on');
      await c.waitFor('the chat goes on');
      await c2.waitFor('the chat goes on');
      await pollUntil(() => !isAlive(zygote), 2_000, 'the stuck zygote to be killed');
      const [d] = (await connect(server, 1)) as [TestClient];
      await pollUntil(() => zygotesOf(server.pid).length === 1, 2_000, 'a new zygote');
      d.send('and a new zygote serves\n');
      await a.waitFor('and a new zygote serves');
      // A zygote started while clients waited keeps none of their sockets, nor do its spares;
      // a child forked here for one waiting client keeps none of the other's: one socket each.
      const forked = [ZYGOTE_NAME, SPARE_NAME, CHILD_NAME].flatMap((name) => childrenNamed(server.pid, name));
      await pollUntil(() => forked.every((pid) => !isAlive(pid) || socketsOf(pid).length === 1), 2_000, 'each process to hold one socket');
    } finally {
      try {
        process.kill(zygote, 'SIGCONT');
      } catch {
        // killed, as it should be
      }
    }
  });

  it('--no-zygote forks every child from the server itself, as the original did', async () => {
    const server = await startServer(['--no-zygote']);
    const [a, b] = (await connect(server, 2)) as [TestClient, TestClient];
    expect(zygotesOf(server.pid)).toEqual([]);
    expect(clientChildrenOf(server.pid)).toHaveLength(2);
    a.send('no zygote\n');
    await b.waitFor('no zygote');
  });
});

describe('broadcast server: children and signals', () => {
  it('forgets a client that disconnects and leaves no zombie', async () => {
    const server = await startServer();
    const [a] = await connect(server, 1);
    const before = clientChildrenOf(server.pid);
    expect(before).toHaveLength(1);
    a?.close();
    await pollUntil(() => clientChildrenOf(server.pid).length === 0, 5_000, 'the child to be reaped');
    await pollUntil(() => /disconnect .*: closed/.test(server.stderr()), 5_000, 'the disconnect log');
  });

  it('notices a child killed with SIGKILL: no zombie, and its client is closed', async () => {
    const server = await startServer();
    const [watcher] = await connect(server, 1);
    const [victim] = await connect(server, 1);
    const pid = await pidOf(watcher as TestClient, []);
    process.kill(pid, 'SIGKILL');
    await pollUntil(() => processState(pid) === null, 5_000, 'the killed child to be reaped');
    await victim?.waitForClose();
    await pollUntil(() => new RegExp(`pid ${pid}\\): lost`).test(server.stderr()), 5_000, 'the "lost" log line');
    // The others keep chatting.
    const [late] = await connect(server, 1);
    late?.send('still here\n');
    await watcher?.waitFor('still here');
  });

  it('closes in each child every descriptor it does not own (the zygote\'s socket too)', async () => {
    const server = await startServer();
    await connect(server, 3);
    const children = clientChildrenOf(server.pid);
    expect(children).toHaveLength(3);
    // Its own client only: not the listening socket, not the other clients' (closed as the child starts).
    await pollUntil(() => children.every((pid) => socketsOf(pid).length === 1), 2_000, 'children to close what they do not own');
    const own = new Set(children.flatMap(socketsOf));
    expect(own.size).toBe(3);
  });

  it('blocks SIGUSR1 in every thread, and a SIGUSR1 from anyone opens no inspector', async () => {
    const server = await startServer(['--trace']);
    const usr1 = maskBit(10);
    for (const thread of threadMasks(server.pid)) {
      // While in rt_sigtimedwait (syscall 128) the kernel unblocks the awaited signals for the wait itself.
      const waiting = thread.tid === server.pid && thread.syscall === 128;
      expect(waiting || (thread.blocked & usr1) !== 0n, `thread ${thread.tid}`).toBe(true);
    }
    // The loop's own wait took it (--trace names the sender): Node's handler never saw it.
    // Sent again until seen: one sent while another SIGUSR1 is pending (a spare's arrival,
    // a child's record) merges with it, and the wait names the other sender.
    const taken = (): boolean => server.stderr().includes(`sigtimedwait() -> SIGUSR1 from pid ${process.pid}`);
    await pollUntil(() => {
      if (!taken()) process.kill(server.pid, 'SIGUSR1');
      return taken();
    }, 5_000, 'the loop to take the SIGUSR1');
    expect(server.stderr()).not.toMatch(/Debugger listening/);
    const inspector = await new Promise<boolean>((resolve) => {
      const socket = net.connect(9229, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    expect(inspector).toBe(false);
    expect(isAlive(server.pid)).toBe(true);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`stops on ${signal} with clients connected: exit 0, no child left`, async () => {
      const server = await startServer();
      const connected = await connect(server, 5);
      const children = clientChildrenOf(server.pid);
      process.kill(server.pid, signal);
      expect(await server.exited).toBe(0);
      for (const pid of children) expect(processState(pid)).toBeNull();
      for (const client of connected) await client.waitForClose();
    });
  }

  it('takes children with it when the parent dies by SIGKILL', async () => {
    const server = await startServer();
    const connected = await connect(server, 5);
    const children = clientChildrenOf(server.pid);
    expect(children).toHaveLength(5);
    process.kill(server.pid, 'SIGKILL');
    await server.exited;
    await pollUntil(() => children.every((pid) => !isAlive(pid)), 5_000, 'the orphans to exit');
    for (const client of connected) await client.waitForClose();
  });

  it('survives Ctrl-C sent to the whole process group, shutting its children down in order', async () => {
    const server = await startServer();
    const connected = await connect(server, 3);
    const children = clientChildrenOf(server.pid);
    // Each child has set SIGINT to be ignored once it has started up.
    await pollUntil(() => children.every((pid) => (ignoredSignals(pid) & maskBit(2)) !== 0n), 2_000, 'children to ignore SIGINT');
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    for (const pid of children) process.kill(pid, 'SIGINT');
    // Each child still reads its client after the signal: its line reaches another client.
    const [first, second] = connected as [TestClient, TestClient];
    connected.forEach((client, i) => client.send(`after ctrl-c ${i}\n`));
    await first.waitFor('after ctrl-c 1');
    await first.waitFor('after ctrl-c 2');
    await second.waitFor('after ctrl-c 0');
    for (const pid of children) expect(isAlive(pid)).toBe(true);
    process.kill(server.pid, 'SIGINT');
    expect(await server.exited).toBe(0);
  });
});
